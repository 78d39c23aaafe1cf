"""Operations questions: what a plan's failures share, and what bad outputs share.

- `triage`: a plan's failures (or one execution's) grouped by task and by normalised
  error (`error_signature`), each group with the upstream nodes its failures share and the
  task's successes do not (likely common causes), and the quanta its failures blocked;
- `suspects`: the upstream datasets and quanta that best separate bad outputs from good.

Both rank with one statistic (docs/operations.md). For a node upstream of some of the
compared quanta or datasets::

    score = k_bad / n_bad - k_good / n_good

where ``k_bad`` of the ``n_bad`` bad lineages (failed quanta, bad outputs) contain it and
``k_good`` of the ``n_good`` good ones (the task's successes, good outputs); with nothing good
to compare with, ``score = k_bad / n_bad``. Nodes scoring 0 or less are left out. Ties go to
the node nearest to the bad outputs (fewest relationships in the graph), then by kind, name
and data ID. The ranking is done by the server in exact integers (``cypher/operations.cypher``).

`QUERIES` names the queries each question runs, for ``--cypher``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal

from provenance_graph.errors import NotInGraphError, QuestionError
from provenance_graph.model import DataId
from provenance_graph.store._missing import check_plan, dataset_not_found
from provenance_graph.store.connection import GraphStore

__all__ = [
    "QUERIES",
    "Failure",
    "FailureGroup",
    "Suspect",
    "SuspectsAnswer",
    "Triage",
    "check_execution",
    "default_good",
    "error_line",
    "error_signature",
    "group_causes",
    "outputs_at",
    "suspects",
    "suspects_parameters",
    "triage",
    "triage_failures",
]

#: The named queries behind each question.
QUERIES: dict[str, tuple[str, ...]] = {
    "triage": ("triage_failures", "triage_blocked"),
    "triage_causes": ("triage_causes",),
    "suspects": ("suspects_scores",),
    "default_good": ("suspects_default_good",),
}

#: Causes listed per failure group, and suspects listed, unless asked otherwise.
DEFAULT_LIMIT = 10
#: At most this many lineages of each side (bad, good) are compared, unless asked otherwise:
#: the first by id (ids are hashes, so this is a repeatable sample). It bounds the cost of an
#: answer on a large plan, where a few hundred lineages estimate the fractions well.
DEFAULT_SAMPLE = 500


@dataclass(frozen=True)
class Suspect:
    """An upstream dataset or quantum, with how well it separates bad lineages from good ones."""

    kind: Literal["dataset", "quantum"]
    id: str
    name: str
    """The dataset type, or the quantum's task label."""
    data_id: str
    """Canonical JSON."""
    status: str | None
    """A quantum's status; None for a dataset."""
    bad: int
    """Bad lineages (failed quanta, bad outputs) that contain it..."""
    bad_total: int
    """... of this many."""
    good: int
    """Good lineages (successes of the task, good outputs) that contain it..."""
    good_total: int
    """... of this many (0: nothing to compare with)."""
    hops: int
    """Relationships between it and the nearest bad output (or failed quantum)."""

    @property
    def score(self) -> Fraction:
        """``bad / bad_total - good / good_total`` (the second term 0 when there is nothing good)."""
        good = Fraction(self.good, self.good_total) if self.good_total else Fraction(0)
        return Fraction(self.bad, self.bad_total) - good


@dataclass(frozen=True)
class Failure:
    """A failed quantum and its last failed attempt."""

    quantum_id: str
    task: str
    data_id: str
    """Canonical JSON."""
    attempt: int
    execution_id: str | None
    error: str
    """The error's last line (``Type: message``), as recorded."""


@dataclass(frozen=True)
class FailureGroup:
    """Failures of one task with one error signature."""

    task: str
    signature: str
    """The error line with numbers, ids, paths and data-ID values replaced by placeholders."""
    failures: tuple[Failure, ...]
    causes: tuple[Suspect, ...] = ()
    """Likely common causes, best first: upstream of its failures, less of the task's successes."""
    blocked: dict[str, int] = field(default_factory=dict)
    """Quanta its failures blocked, per task."""
    blocked_by: dict[str, dict[str, int]] = field(default_factory=dict)
    """Quanta each of its failures blocked (by the failed quantum's id), per task."""

    @property
    def example(self) -> Failure:
        """The first failure of the group (by data ID)."""
        return self.failures[0]


@dataclass(frozen=True)
class Triage:
    """The answer of `triage`."""

    plan_id: str
    execution_id: str | None
    groups: tuple[FailureGroup, ...]
    blocked_elsewhere: dict[str, int]
    """Blocked quanta, per task, whose blocking failure is in no group (another execution's)."""

    @property
    def failed(self) -> int:
        """How many failures there are."""
        return sum(len(g.failures) for g in self.groups)

    @property
    def blocked(self) -> int:
        """How many blocked quanta were attributed to a group."""
        return sum(n for g in self.groups for n in g.blocked.values())


_UUID = re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")
_HEX = re.compile(r"\b0x[0-9a-fA-F]+\b|\b(?=[0-9a-fA-F]*[0-9])(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b")
_PATH = re.compile(r"(?<![\w/])(?:file://)?(?:~|\.{1,2})?/[^\s'\",:;)\]}]+")
_PAIR = re.compile(
    r"""((?:\b[A-Za-z_]\w*\s*=|(?<=[{,])\s*['"]?[A-Za-z_]\w*['"]?\s*:)\s*)('[^']*'|"[^"]*"|[^\s,;)\]}]+)"""
)
_NUMBER = re.compile(r"(?<![A-Za-z_])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
_QUOTED = re.compile(r"""('[^']*'|"[^"]*")(\s*:)?""")


def error_line(error: str | None) -> str:
    """The line of an attempt's error that says what went wrong: its last non-empty line."""
    lines = [line.strip() for line in str(error or "").strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no error recorded)"


def error_signature(line: str) -> str:
    """An error line with what differs between quanta of the same cause replaced by placeholders.

    UUIDs and long hexadecimal ids become ``<id>``, file paths ``<path>``, the values of
    ``key=value`` and ``key: value`` pairs (data IDs in any of their printed forms) ``<v>``,
    quoted strings ``<s>`` and other numbers ``<n>``; runs of blanks become one space. The
    exception type and the words of the message are kept, so that failures of one cause
    share a signature and different causes do not.
    """
    text = _UUID.sub("<id>", line)
    text = _HEX.sub("<id>", text)
    text = _PATH.sub("<path>", text)
    text = _PAIR.sub(lambda m: m.group(1) + "<v>", text)
    text = _QUOTED.sub(lambda m: m.group(0) if m.group(2) else "<s>", text)  # keys stay
    text = _NUMBER.sub("<n>", text)
    return " ".join(text.split())


def _suspect(row: dict[str, Any]) -> Suspect:
    return Suspect(
        kind=row["kind"],
        id=row["id"],
        name=row["name"],
        data_id=row["data_id"],
        status=row["status"],
        bad=row["k_bad"],
        bad_total=row["bad_total"],
        good=row["k_good"],
        good_total=row["good_total"],
        hops=row["hops"],
    )


def _check_limit(limit: int, sample: int = DEFAULT_SAMPLE) -> None:
    if limit < 1:
        raise QuestionError(f"the limit must be 1 or more, not {limit}", hint="leave it out for the default")
    if sample < 1:
        raise QuestionError(
            f"the sample must be 1 or more, not {sample}", hint="leave it out for the default"
        )


def check_execution(store: GraphStore, plan_id: str, execution_id: str) -> None:
    """Raise unless the execution is one of the plan's."""
    rows = store.read("triage_execution", execution_id=execution_id)
    if not rows:
        raise NotInGraphError(
            f"there is no execution {execution_id!r} in the graph",
            hint=f"'provgraph query history' and 'provgraph report {plan_id} --json' show execution ids",
        )
    if rows[0]["plan_id"] != plan_id:
        raise QuestionError(
            f"execution {execution_id!r} ran plan {rows[0]['plan_id']!r}, not {plan_id!r}",
            hint=f"triage that plan: 'provgraph triage {rows[0]['plan_id']} --execution {execution_id}'",
        )


def triage_failures(
    store: GraphStore, plan_id: str, execution_id: str | None = None, task: str | None = None
) -> list[Failure]:
    """A plan's failures (failed now, or last failed in ``execution_id``), of one task or all."""
    return [
        Failure(r["id"], r["task"], r["data_id"], r["attempt"], r["execution_id"], error_line(r["error"]))
        for r in store.read("triage_failures", plan_id=plan_id, execution_id=execution_id, task=task)
    ]


def _groups(failures: Sequence[Failure]) -> list[tuple[str, str, list[Failure]]]:
    """Failures by (task, signature), largest group first."""
    by_key: dict[tuple[str, str], list[Failure]] = {}
    for f in failures:
        by_key.setdefault((f.task, error_signature(f.error)), []).append(f)
    ordered = sorted(by_key.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    return [
        (task, signature, sorted(fs, key=lambda f: (f.data_id, f.quantum_id)))
        for (task, signature), fs in ordered
    ]


def triage_causes_parameters(
    plan_id: str, task: str, failed: Sequence[str], limit: int, sample: int = DEFAULT_SAMPLE
) -> dict[str, Any]:
    """The parameters of ``triage_causes`` for one group: at most ``sample`` failures, the first by id."""
    return {
        "plan_id": plan_id,
        "task": task,
        "failed": sorted(failed)[:sample],
        "limit": limit,
        "sample": sample,
    }


def _causes(
    store: GraphStore, plan_id: str, task: str, members: Sequence[Failure], limit: int, sample: int
) -> tuple[Suspect, ...]:
    params = triage_causes_parameters(plan_id, task, [f.quantum_id for f in members], limit, sample)
    return tuple(_suspect(r) for r in store.read("triage_causes", **params))


def group_causes(
    store: GraphStore,
    plan_id: str,
    task: str,
    signature: str,
    *,
    execution_id: str | None = None,
    limit: int = DEFAULT_LIMIT,
    sample: int = DEFAULT_SAMPLE,
) -> tuple[Suspect, ...]:
    """The likely causes of one failure group of `triage` (its task and error signature).

    What `triage` gives the group; a `NotInGraphError` naming the groups there are when the
    plan has none with this task and signature.
    """
    _check_limit(limit, sample)
    check_plan(store, plan_id)
    if execution_id is not None:
        check_execution(store, plan_id, execution_id)
    for _, group_signature, members in _groups(triage_failures(store, plan_id, execution_id, task)):
        if group_signature == signature:
            return _causes(store, plan_id, task, members, limit, sample)
    found = _groups(triage_failures(store, plan_id, execution_id))
    raise NotInGraphError(
        f"plan {plan_id!r} has no failures of task {task!r} with error {signature!r}",
        hint="its groups: " + ("; ".join(f"{t}: {s}" for t, s, _ in found) or "none, nothing failed"),
    )


def triage(
    store: GraphStore,
    plan_id: str,
    *,
    execution_id: str | None = None,
    limit: int = DEFAULT_LIMIT,
    sample: int = DEFAULT_SAMPLE,
    with_causes: bool = True,
) -> Triage:
    """A plan's failures grouped by task and error signature, with likely causes and what they blocked.

    Parameters
    ----------
    plan_id
        A complete stored plan.
    execution_id
        Only the failures of this execution of the plan (its quanta whose last attempt in it
        failed); default the quanta failed now.
    limit
        Causes listed per group.
    sample
        At most this many failures of a group, and successes of its task, are compared (the
        first by id); the causes' ``bad_total`` and ``good_total`` say how many were.
    with_causes
        False: no group gets causes (each walks lineages, the slow part on a large plan; a
        page asks `group_causes` for one group at a time instead).
    """
    _check_limit(limit, sample)
    check_plan(store, plan_id)
    if execution_id is not None:
        check_execution(store, plan_id, execution_id)
    with ThreadPoolExecutor(1, thread_name_prefix="triage-blocked") as pool:
        # Counting the blocked quanta reads them all, as long as the rest on a large plan: in
        # a second session meanwhile (a second core of the server).
        blocked = pool.submit(store.read, "triage_blocked", plan_id=plan_id)
        failures = triage_failures(store, plan_id, execution_id)
        group_of: dict[str, FailureGroup] = {}
        groups: list[FailureGroup] = []
        for task, signature, members in _groups(failures):
            causes = _causes(store, plan_id, task, members, limit, sample) if with_causes else ()
            group = FailureGroup(task, signature, tuple(members), causes)
            groups.append(group)
            for f in members:
                group_of[f.quantum_id] = group
        blocked_rows = blocked.result()
    elsewhere: dict[str, int] = {}
    for row in blocked_rows:
        owner = group_of.get(row["blocked_by"])
        counts = owner.blocked if owner is not None else elsewhere
        for task, quanta in row["tasks"]:
            counts[task] = counts.get(task, 0) + quanta
            if owner is not None:
                per_failure = owner.blocked_by.setdefault(row["blocked_by"], {})
                per_failure[task] = per_failure.get(task, 0) + quanta
    return Triage(plan_id, execution_id, tuple(groups), elsewhere)


def outputs_at(store: GraphStore, plan_id: str, dataset_type: str, values: DataId) -> list[str]:
    """Ids of a plan's datasets of one type at some dimension values (any subset of a data ID)."""
    check_plan(store, plan_id)
    rows = store.read(
        "suspects_outputs_at", plan_id=plan_id, dataset_type=dataset_type, values=values.to_dict()
    )
    if not rows:
        raise NotInGraphError(
            f"plan {plan_id!r} has no {dataset_type} dataset at {values}",
            hint="check the dataset type and the dimension values ('provgraph query overview PLAN' lists "
            "its dataset types)",
        )
    return [str(r["id"]) for r in rows]


def default_good(store: GraphStore, bad: Sequence[str]) -> list[str]:
    """What bad outputs are compared with by default: other existing datasets of their types.

    Those made by the same plans as the bad ones (for pre-existing datasets: in the same runs).
    """
    return [str(r["id"]) for r in store.read("suspects_default_good", bad=sorted(set(bad)))]


def suspects_parameters(
    bad: Sequence[str], good: Sequence[str], limit: int, sample: int = DEFAULT_SAMPLE
) -> dict[str, Any]:
    """The parameters of ``suspects_scores``, checked: some bad outputs, none also good.

    At most ``sample`` of each, the first by id, are compared.
    """
    _check_limit(limit, sample)
    bad_ids, good_ids = sorted(set(bad)), sorted(set(good))
    if not bad_ids:
        raise QuestionError(
            "no bad outputs given", hint="name them with --bad ID, or with --plan, --type and --bad-at"
        )
    both = sorted(set(bad_ids) & set(good_ids))
    if both:
        raise QuestionError(
            f"dataset {both[0]!r} is given as both bad and good", hint="give each output as one or the other"
        )
    return {"bad": bad_ids[:sample], "good": good_ids[:sample], "limit": limit}


@dataclass(frozen=True)
class SuspectsAnswer:
    """The answer of `suspects`: the suspects, best first, and what was compared."""

    bad: tuple[str, ...]
    good: tuple[str, ...]
    good_by_default: bool
    """Whether the good outputs are `default_good`'s, none having been given."""
    suspects: tuple[Suspect, ...]


def suspects(
    store: GraphStore,
    bad: Sequence[str],
    good: Sequence[str] | None = None,
    *,
    limit: int = DEFAULT_LIMIT,
    sample: int = DEFAULT_SAMPLE,
) -> SuspectsAnswer:
    """The upstream datasets and quanta that best separate bad outputs from good ones.

    Parameters
    ----------
    bad, good
        Dataset ids. Without ``good`` (None), the bad outputs are compared with the other
        existing datasets of their types that their plans made (`default_good`).
    limit
        Suspects listed.
    sample
        At most this many bad outputs, and good ones, are compared (the first by id); the
        suspects' ``bad_total`` and ``good_total`` say how many were.
    """
    missing = store.read("suspects_missing", ids=sorted({*bad, *(good or ())}))
    if missing:
        raise dataset_not_found(store, str(missing[0]["id"]))
    by_default = good is None
    good_ids = default_good(store, bad) if good is None else list(good)
    params = suspects_parameters(bad, good_ids, limit, sample)
    rows = store.read("suspects_scores", **params)
    return SuspectsAnswer(
        tuple(sorted(set(bad))), tuple(sorted(set(good_ids))), by_default, tuple(_suspect(r) for r in rows)
    )
