"""The in-step walk of ``diff-outputs`` on small hand-made lineages: which difference is the cause.

Two quanta of one task at one data ID, on sides A and B, each reading a raw and a bias (no
producer) and the output of an upstream quantum. The integration test runs the real thing;
these pin down the kinds of cause the walk names and where it stops.
"""

from __future__ import annotations

from provenance_graph.store.diff_outputs import _Input, _Quantum, _Walk

DET = '{"detector":1}'
TASKS = {"config": "c1", "source": "s1", "git": "abc"}


def _quantum(
    qid: str, execution: str, *, read: dict[str, str], upstream: str | None, up_sum: str = "sha256:u"
) -> _Quantum:
    inputs = [_Input("raw-1", "raw", DET, None, None), _Input("bias-1", "bias", DET, None, None)]
    if upstream is not None:
        inputs.append(_Input(f"{upstream}-out", "icExp", DET, up_sum, upstream))
    return _Quantum(qid, "calibrate", DET, execution, read, {(i.dataset_type, i.data_id): i for i in inputs})


def _upstream(qid: str, execution: str, bias: str) -> _Quantum:
    inputs = [_Input("bias-1", "bias", DET, None, None)]
    return _Quantum(
        qid, "isr", DET, execution, {"bias-1": bias}, {(i.dataset_type, i.data_id): i for i in inputs}
    )


SAME = {"raw-1": "sha256:r", "bias-1": "sha256:b"}


def _walk(a: list[_Quantum], b: list[_Quantum], tasks_b: dict[str, str] | None = None) -> _Walk:
    versions = {"calibrate": TASKS, "isr": TASKS}
    return _Walk(
        {q.id: q for q in a},
        {q.id: q for q in b},
        {"ea": versions},
        {"eb": {**versions, "calibrate": tasks_b or TASKS}},
    )


def test_an_input_read_with_another_checksum_is_the_cause() -> None:
    a = _quantum("qa", "ea", read=SAME, upstream=None)
    b = _quantum("qb", "eb", read={**SAME, "bias-1": "sha256:B"}, upstream=None)
    [cause] = _walk([a], [b]).causes("qa", "qb")
    assert (cause.kind, cause.name, cause.a, cause.b, cause.dataset_ids) == (
        "input", "bias", "sha256:b", "sha256:B", ("bias-1",)
    )  # fmt: skip


def test_the_walk_goes_up_through_a_changed_produced_input_to_the_root_cause() -> None:
    a = _quantum("qa", "ea", read=SAME, upstream="ua", up_sum="sha256:1")
    b = _quantum("qb", "eb", read=SAME, upstream="ub", up_sum="sha256:2")
    ua, ub = _upstream("ua", "ea", "sha256:b"), _upstream("ub", "eb", "sha256:B")
    [cause] = _walk([a, ua], [b, ub], tasks_b={**TASKS, "config": "c2"}).causes("qa", "qb")
    assert (cause.kind, cause.name) == ("input", "bias")  # upstream first: calibrate's config is not named


def test_with_nothing_upstream_the_tasks_config_or_code_is_the_cause() -> None:
    a = _quantum("qa", "ea", read=SAME, upstream="u")  # one upstream dataset on both sides
    b = _quantum("qb", "eb", read=SAME, upstream="u")
    walk = _walk([a], [b], tasks_b={**TASKS, "config": "c2", "source": "s2", "git": "def"})
    assert [(c.kind, c.a, c.b) for c in walk.causes("qa", "qb")] == [
        ("config", "c1", "c2"),
        ("code", "s1 (git abc)", "s2 (git def)"),
    ]


def test_other_inputs_are_the_plan_and_a_difference_with_no_cause_is_unexplained() -> None:
    a = _quantum("qa", "ea", read=SAME, upstream=None)
    b = _quantum("qb", "eb", read=SAME, upstream="u")
    [plan] = _walk([a], [b]).causes("qa", "qb")
    assert (plan.kind, plan.a, plan.b) == ("plan", None, "icExp (detector=1)")
    [unexplained] = _walk([a], [_quantum("qb", "eb", read=SAME, upstream=None)]).causes("qa", "qb")
    assert unexplained.kind == "unexplained"


def test_an_unrecorded_checksum_of_one_dataset_is_taken_as_the_same() -> None:
    a = _quantum("qa", "ea", read={}, upstream=None)  # read before schema v13
    b = _quantum("qb", "eb", read=SAME, upstream=None)
    [cause] = _walk([a], [b], tasks_b={**TASKS, "config": "c2"}).causes("qa", "qb")
    assert cause.kind == "config"
