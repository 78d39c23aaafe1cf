"""``provgraph triage``, ``suspects``, ``diff-outputs``: what failures share, and why outputs differ.

``triage`` groups a plan's failures by task and normalised error, ranks for each group the
upstream datasets and quanta its failures share and the task's successes do not, and says
which failures blocked which quanta. ``suspects`` ranks the upstream datasets and quanta by
how well they separate bad outputs from good ones. ``diff-outputs`` walks the lineages of two
executions' differing outputs in step to the first difference upstream. The statistic is
documented in docs/operations.md and `provenance_graph.store.operations`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from provenance_graph.cli._data_ids import as_object, data_id_from_pairs, listed
from provenance_graph.cli._output import console, print_json
from provenance_graph.cli.query import print_queries, resolve_dataset
from provenance_graph.errors import QuestionError
from provenance_graph.model import DataId
from provenance_graph.store import GraphStore, check_plan, open_store
from provenance_graph.store.diff_outputs import QUERIES as DIFF_QUERIES
from provenance_graph.store.diff_outputs import (
    Cause,
    ExecutionOutputs,
    Output,
    OutputDiff,
    diff_cypher_parameters,
    diff_outputs,
)
from provenance_graph.store.operations import (
    DEFAULT_LIMIT,
    DEFAULT_SAMPLE,
    QUERIES,
    Suspect,
    SuspectsAnswer,
    Triage,
    check_execution,
    default_good,
    error_signature,
    outputs_at,
    suspects,
    suspects_parameters,
    triage,
    triage_causes_parameters,
    triage_failures,
)

__all__ = ["diff_outputs_command", "suspects_command", "triage_command"]

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the full answer as JSON.")]
SampleOpt = Annotated[
    int,
    typer.Option(
        "--sample", min=1, help="Compare at most N lineages of each side (the first by id): bounds the cost."
    ),
]
CypherOpt = Annotated[
    bool, typer.Option("--cypher", help="Print the Cypher and its parameters; run nothing.")
]


def _print_cypher(store: GraphStore, question: str, params: dict[str, Any]) -> None:
    """The question's queries as a Neo4j Browser script (`print_queries`)."""
    print_queries(store, QUERIES[question], params)


def _suspect_json(s: Suspect) -> dict[str, Any]:
    return {
        "kind": s.kind,
        "id": s.id,
        "name": s.name,
        "data_id": as_object(s.data_id),
        "status": s.status,
        "score": float(s.score),
        "bad": s.bad,
        "bad_total": s.bad_total,
        "good": s.good,
        "good_total": s.good_total,
        "hops": s.hops,
    }


def _suspects_table(title: str, found: Sequence[Suspect], bad_word: str, good_word: str) -> Table:
    forms, context = listed([s.data_id for s in found])
    table = Table(
        "#",
        "score",
        "kind",
        "name",
        "data ID",
        bad_word,
        good_word,
        "hops",
        title=title,
        caption=context or None,
    )
    for i, (s, form) in enumerate(zip(found, forms, strict=True), 1):
        name = s.name if s.kind == "dataset" else f"{s.name} ({s.status})"
        good = f"{s.good}/{s.good_total}" if s.good_total else "-"
        table.add_row(
            str(i), f"{float(s.score):.2f}", s.kind, name, form, f"{s.bad}/{s.bad_total}", good, str(s.hops)
        )
    return table


def triage_command(
    plan_id: Annotated[str, typer.Argument(help="The stored plan's id.")],
    execution: Annotated[
        str | None,
        typer.Option("--execution", help="Only this execution's failures; default the quanta failed now."),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, help="Likely causes listed per group.")
    ] = DEFAULT_LIMIT,
    sample: SampleOpt = DEFAULT_SAMPLE,
    as_json: JsonOpt = False,
    cypher: CypherOpt = False,
) -> None:
    """Group a plan's failures by task and error, and rank what each group's failures share.

    For each group: how many, one example, the upstream datasets and quanta its failures
    share and the task's successes do not (likely common causes, with support counts), and
    the quanta its failures blocked.
    """
    with open_store(start_managed=False) as store:
        if cypher:
            check_plan(store, plan_id)
            if execution is not None:
                check_execution(store, plan_id, execution)
            _print_cypher(store, "triage", {"plan_id": plan_id, "execution_id": execution, "task": None})
            groups: dict[tuple[str, str], list[str]] = {}
            for f in triage_failures(store, plan_id, execution):
                groups.setdefault((f.task, error_signature(f.error)), []).append(f.quantum_id)
            for (task, _signature), ids in sorted(groups.items()):
                _print_cypher(
                    store, "triage_causes", triage_causes_parameters(plan_id, task, ids, limit, sample)
                )
            return
        answer = triage(store, plan_id, execution_id=execution, limit=limit, sample=sample)
    if as_json:
        print_json(_triage_json(answer))
        return
    _print_triage(answer)


def _triage_json(answer: Triage) -> dict[str, Any]:
    return {
        "plan_id": answer.plan_id,
        "execution_id": answer.execution_id,
        "failed": answer.failed,
        "blocked": answer.blocked + sum(answer.blocked_elsewhere.values()),
        "groups": [
            {
                "task": g.task,
                "signature": g.signature,
                "count": len(g.failures),
                "example": {
                    "quantum_id": g.example.quantum_id,
                    "data_id": as_object(g.example.data_id),
                    "error": g.example.error,
                    "attempt": g.example.attempt,
                    "execution_id": g.example.execution_id,
                },
                "quanta": [f.quantum_id for f in g.failures],
                "failures": [
                    {
                        "quantum_id": f.quantum_id,
                        "data_id": as_object(f.data_id),
                        "error": f.error,
                        "blocked": g.blocked_by.get(f.quantum_id, {}),
                    }
                    for f in g.failures
                ],
                "causes": [_suspect_json(c) for c in g.causes],
                "blocked": g.blocked,
            }
            for g in answer.groups
        ],
        "blocked_elsewhere": answer.blocked_elsewhere,
    }


def _print_triage(answer: Triage) -> None:
    of = (
        f"execution {answer.execution_id} of plan {answer.plan_id}"
        if answer.execution_id
        else f"plan {answer.plan_id}"
    )
    if not answer.groups:
        console.print(f"{of}: no failures")
        return
    console.print(
        f"{of}: {answer.failed} failed quanta in {len(answer.groups)} group(s) by task and error; "
        f"{answer.blocked + sum(answer.blocked_elsewhere.values())} blocked"
    )
    for i, g in enumerate(answer.groups, 1):
        console.print()
        console.print(f"[bold]group {i}[/bold]: {len(g.failures)} x {g.task}: {escape(g.signature)}")
        console.print(
            f"  example: {g.task} {DataId.from_key(g.example.data_id)}: {g.example.error}", markup=False
        )
        if g.blocked:
            blocked = ", ".join(f"{n} {task}" for task, n in sorted(g.blocked.items()))
            console.print(f"  blocked: {blocked}", markup=False)
        if g.causes:
            console.print(_suspects_table("likely common causes", g.causes, "failures", "successes"))
        else:
            console.print(
                "  no upstream dataset or quantum is shared by more of its failures than of the successes"
            )
    if answer.blocked_elsewhere:
        blocked = ", ".join(f"{n} {task}" for task, n in sorted(answer.blocked_elsewhere.items()))
        console.print(f"blocked by failures of other executions: {blocked}", markup=False)


def suspects_command(
    bad: Annotated[
        list[str] | None, typer.Option("--bad", metavar="ID", help="A bad output: its dataset id (repeat).")
    ] = None,
    good: Annotated[
        list[str] | None,
        typer.Option(
            "--good",
            metavar="ID",
            help="A good output (repeat); default: the other existing outputs of the bad ones' types.",
        ),
    ] = None,
    plan_id: Annotated[
        str | None, typer.Option("--plan", help="With --type and --bad-at: name outputs by their plan.")
    ] = None,
    dataset_type: Annotated[
        str | None, typer.Option("--type", help="With --plan: the outputs' dataset type.")
    ] = None,
    bad_at: Annotated[
        list[str] | None,
        typer.Option(
            "--bad-at",
            metavar="VALUES",
            help="With --plan and --type: bad outputs at these dimension values, e.g. detector=1.",
        ),
    ] = None,
    good_at: Annotated[
        list[str] | None,
        typer.Option(
            "--good-at", metavar="VALUES", help="With --plan and --type: good outputs at these values."
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Suspects listed.")] = DEFAULT_LIMIT,
    sample: SampleOpt = DEFAULT_SAMPLE,
    as_json: JsonOpt = False,
    cypher: CypherOpt = False,
) -> None:
    """Rank the upstream datasets and quanta by how well they separate bad outputs from good ones.

    Score: the fraction of bad outputs made from it minus the fraction of good ones made from
    it; ties go to the node nearest to the outputs. See docs/operations.md.
    """
    with open_store(start_managed=False) as store:
        bad_ids = _named(store, bad, plan_id, dataset_type, bad_at, "--bad-at")
        good_ids = (
            None
            if good is None and good_at is None
            else _named(store, good, plan_id, dataset_type, good_at, "--good-at")
        )
        if not bad_ids:
            raise QuestionError(
                "no bad outputs given", hint="name them with --bad ID, or with --plan, --type and --bad-at"
            )
        if cypher:
            compared = default_good(store, bad_ids) if good_ids is None else good_ids
            _print_cypher(store, "suspects", suspects_parameters(bad_ids, compared, limit, sample))
            return
        answer = suspects(store, bad_ids, good_ids, limit=limit, sample=sample)
    if as_json:
        print_json(
            {
                "bad": list(answer.bad),
                "good": list(answer.good),
                "good_by_default": answer.good_by_default,
                "suspects": [_suspect_json(s) for s in answer.suspects],
            }
        )
        return
    _print_suspects(answer, sample)


def _named(
    store: GraphStore,
    ids: list[str] | None,
    plan_id: str | None,
    dataset_type: str | None,
    at: list[str] | None,
    option: str,
) -> list[str]:
    """Dataset ids given (ours or Butler UUIDs, checked) and those a plan has of a type at some values."""
    found = [str(resolve_dataset(store, i, None, None, None)) for i in ids or ()]
    if at:
        if plan_id is None or dataset_type is None:
            raise QuestionError(
                f"{option} needs --plan and --type",
                hint=f"e.g. --plan PLAN --type calexp {option} detector=1",
            )
        found += outputs_at(store, plan_id, dataset_type, data_id_from_pairs(at))
    elif (plan_id is not None or dataset_type is not None) and option == "--bad-at" and not ids:
        raise QuestionError("--plan and --type name outputs with --bad-at", hint="e.g. --bad-at detector=1")
    return list(dict.fromkeys(found))


def _print_suspects(answer: SuspectsAnswer, sample: int) -> None:
    compared = f"{len(answer.good)} good" + (
        " (by default: the other existing outputs of their types)" if answer.good_by_default else ""
    )
    console.print(f"{len(answer.bad)} bad output(s) against {compared}", markup=False)
    if max(len(answer.bad), len(answer.good)) > sample:
        console.print(f"compared: the first {sample} of each by id (--sample)")
    if not answer.good:
        console.print(
            "nothing good to compare with: suspects are ranked by how many bad outputs they are upstream of"
        )
    if not answer.suspects:
        console.print("no suspect: nothing upstream is more common among the bad outputs than among the good")
        return
    console.print(_suspects_table("suspects", answer.suspects, "bad", "good"))


def diff_outputs_command(
    execution_a: Annotated[
        str, typer.Argument(metavar="EXEC_A", help="An execution id, or a plan id for its latest execution.")
    ],
    execution_b: Annotated[
        str, typer.Argument(metavar="EXEC_B", help="The execution compared with EXEC_A (id or plan id).")
    ],
    as_json: JsonOpt = False,
    cypher: CypherOpt = False,
) -> None:
    """List the outputs whose checksums differ between two executions, each with its cause.

    Outputs are matched by dataset type and data ID; a rerun's outputs include those of the
    plan it reran that it reused. For each changed output, both lineages are walked in step
    to the first difference upstream: an input's checksum, a task's config or code, or the
    plan. See docs/operations.md.
    """
    with open_store(start_managed=False) as store:
        if cypher:
            for params in diff_cypher_parameters(store, execution_a, execution_b):
                print_queries(store, DIFF_QUERIES, params)
            return
        answer = diff_outputs(store, execution_a, execution_b)
    if as_json:
        print_json(_diff_json(answer))
        return
    _print_diff(answer)


def _side(side: ExecutionOutputs) -> dict[str, Any]:
    return {
        "execution_id": side.execution_id,
        "plan_id": side.plan_id,
        "plans": list(side.plans),
        "executions": list(side.executions),
        "outputs": len(side.outputs),
    }


def _output_json(o: Output) -> dict[str, Any]:
    return {
        "id": o.id,
        "dataset_type": o.dataset_type,
        "data_id": as_object(o.data_id),
        "checksum": o.checksum,
        "plan_id": o.plan_id,
        "execution_id": o.execution_id,
    }


def _cause_json(c: Cause) -> dict[str, Any]:
    return {
        "kind": c.kind,
        "name": c.name,
        "data_id": as_object(c.data_id),
        "a": c.a,
        "b": c.b,
        "dataset_ids": list(c.dataset_ids),
        "description": c.describe(),
    }


def _cause_counts(answer: OutputDiff) -> dict[Cause, int]:
    """Each cause, with how many changed outputs it explains; the most first."""
    counts: dict[Cause, int] = {}
    for changed in answer.changed:
        for cause in changed.causes:
            counts[cause] = counts.get(cause, 0) + 1
    order = sorted(counts.items(), key=lambda item: (-item[1], item[0].kind, item[0].name, item[0].data_id))
    return dict(order)


def _diff_json(answer: OutputDiff) -> dict[str, Any]:
    return {
        "a": _side(answer.a),
        "b": _side(answer.b),
        "same": answer.same,
        "unknown": answer.unknown,
        "changed": [
            {
                "dataset_type": c.a.dataset_type,
                "data_id": as_object(c.a.data_id),
                "a": _output_json(c.a),
                "b": _output_json(c.b),
                "causes": [_cause_json(cause) for cause in c.causes],
            }
            for c in answer.changed
        ],
        "causes": [{**_cause_json(c), "outputs": n} for c, n in _cause_counts(answer).items()],
        "only_a": [_output_json(o) for o in answer.only_a],
        "only_b": [_output_json(o) for o in answer.only_b],
    }


def _named_side(side: ExecutionOutputs) -> str:
    return f"execution {side.execution_id} of plan {side.plan_id}"


def _print_diff(answer: OutputDiff) -> None:
    console.print(f"A: {_named_side(answer.a)}", markup=False)
    console.print(f"B: {_named_side(answer.b)}", markup=False)
    console.print(
        f"{len(answer.changed)} output(s) changed, {answer.same} the same"
        + (f", {answer.unknown} without a checksum" if answer.unknown else "")
        + f"; {len(answer.only_a)} only in A, {len(answer.only_b)} only in B",
        markup=False,
    )
    if answer.a.plan_id == answer.b.plan_id and answer.a.execution_id != answer.b.execution_id:
        console.print(
            f"note: both are executions of plan {answer.a.plan_id}: an output B made again in the plan's "
            "own run (plan --rerun-of --extend-run) keeps only B's checksum, so it is only in B; "
            "a rerun into a new output run keeps both sides",
            markup=False,
        )
    if answer.changed:
        counts = _cause_counts(answer)
        forms, context = listed([c.data_id for c in counts])
        causes = Table(
            "#", "cause", "name", "data ID", "outputs", "A", "B", title="causes", caption=context or None
        )
        for i, ((cause, n), form) in enumerate(zip(counts.items(), forms, strict=True), 1):
            causes.add_row(str(i), cause.kind, cause.name, form, str(n), _short(cause.a), _short(cause.b))
        console.print(causes)
        forms, context = listed([c.a.data_id for c in answer.changed])
        number = {cause: i for i, cause in enumerate(counts, 1)}
        changed = Table("dataset type", "data ID", "causes", title="changed outputs", caption=context or None)
        for c, form in zip(answer.changed, forms, strict=True):
            changed.add_row(c.a.dataset_type, form, ", ".join(f"#{number[cause]}" for cause in c.causes))
        console.print(changed)
    for word, only in (("A", answer.only_a), ("B", answer.only_b)):
        if only:
            forms, context = listed([o.data_id for o in only])
            table = Table("dataset type", "data ID", title=f"only in {word}", caption=context or None)
            for o, form in zip(only, forms, strict=True):
                table.add_row(o.dataset_type, form)
            console.print(table)


def _short(value: str | None) -> str:
    """A checksum or digest, shortened for a table (``--json`` gives it whole)."""
    if value is None:
        return "-"
    kind, sep, digest = value.partition(":")
    return f"{kind}:{digest[:12]}" if sep and len(digest) > 16 and " " not in digest else value
