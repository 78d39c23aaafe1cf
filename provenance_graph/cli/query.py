"""``provgraph query``: provenance and planning questions, as tables, JSON, or the Cypher itself.

A cold ``provgraph query lineage`` should load only what it runs (issue 22: start the CLI
in a blink): the model's pydantic types, the plan questions and the plan reader are
imported in the commands that need them, not here (``tests/integration/test_cold_query.py``).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, cast

import typer
from rich.table import Table

from provenance_graph.cli._data_ids import as_object, data_id_from_pairs, listed
from provenance_graph.cli._output import console, err_console, print_json
from provenance_graph.errors import NotInGraphError, ProvenanceGraphError, QuestionError
from provenance_graph.store import GraphStore, check_dataset, check_plan, open_store
from provenance_graph.store.provenance import (
    QUERIES,
    LineageSummary,
    dataset_by_butler_id,
    dependencies,
    downstream,
    lineage_parameters,
    lineage_summary,
    start_ids,
    upstream,
)

if TYPE_CHECKING:
    from provenance_graph.model import DataId, Plan, PlanNote
    from provenance_graph.store.plan_questions import TaskAtDataId
    from provenance_graph.store.plan_read import DataQuery

__all__ = ["app"]

app = typer.Typer(help="Provenance and planning questions, answered by Cypher traversals.")

DatasetArg = Annotated[
    str | None, typer.Argument(metavar="[DATASET_ID]", help="The dataset's id (or use --type and --data-id).")
]
TypeOpt = Annotated[str | None, typer.Option("--type", help="The dataset type, with --data-id.")]
DataIdOpt = Annotated[
    str | None,
    typer.Option(help="The data ID, e.g. 'skymap=demo tract=0 patch=5 band=g' (or with commas, or JSON)."),
]
DataIdArgs = Annotated[
    list[str],
    typer.Argument(
        metavar="DATA_ID",
        help="Dimension values, any subset of a data ID: visit=2 detector=1 (or with commas, or JSON).",
        show_default=False,
    ),
]
RunOpt = Annotated[str | None, typer.Option(help="The run, when the data ID is in several.")]
QuantumOpt = Annotated[str | None, typer.Option("--quantum", help="Start from a quantum (its id) instead.")]
DepthOpt = Annotated[int | None, typer.Option(min=0, help="At most this many quanta away; default no limit.")]
StopTaskOpt = Annotated[
    list[str] | None, typer.Option("--stop-task", help="Don't walk past quanta of this task label (repeat).")
]
StopTypeOpt = Annotated[
    list[str] | None, typer.Option("--stop-type", help="Don't walk past datasets of this type (repeat).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the full answer as JSON.")]
CypherOpt = Annotated[
    bool, typer.Option("--cypher", help="Print the Cypher and its parameters; run nothing.")
]


def parse_data_id(text: str) -> str:
    """A data ID as typed (``visit=2 detector=1``, ``visit=2,detector=1`` or JSON), as canonical JSON."""
    from provenance_graph.model import DataId

    return DataId.parse(text).key()


def resolve_dataset(
    store: GraphStore,
    dataset_id: str | None,
    dataset_type: str | None,
    data_id: str | None,
    run: str | None,
    *,
    quantum_option: str | None = None,
) -> str | None:
    """The dataset id a command names: given (ours, or a Butler UUID), or found by type, data ID and run.

    A given id the graph does not have is an error suggesting close ids (``quantum_option``:
    the command's option for a quantum's id, named if a quantum's id was given).
    """
    if dataset_id is not None:
        given = dataset_by_butler_id(store, dataset_id) or dataset_id
        check_dataset(store, given, quantum_option=quantum_option)
        return given
    if dataset_type is None and data_id is None:
        return None
    if dataset_type is None or data_id is None:
        raise QuestionError("--type and --data-id go together", hint="give both, or a dataset id")
    from provenance_graph.model import DataId
    from provenance_graph.store.plan_questions import find_datasets

    values = DataId.parse(data_id)
    found = find_datasets(store, dataset_type, values.key(), run)
    if not found:
        raise NotInGraphError(
            f"no {dataset_type} dataset with data ID {values}" + (f" in run {run!r}" if run else ""),
            hint="check the dataset type and every dimension of its data ID",
        )
    if len(found) > 1:
        runs = ", ".join(repr(f["run"]) for f in found)
        raise QuestionError(
            f"{dataset_type} ({values}) is in {len(found)} runs ({runs})", hint="choose one with --run"
        )
    return str(found[0]["id"])


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def cypher_literal(value: Any) -> str:
    """``value`` (JSON-like) as a Cypher literal, for a Neo4j Browser ``:params`` line.

    Strings use JSON's escapes, which Cypher shares; map keys that are not plain
    identifiers are backquoted.
    """
    if isinstance(value, Mapping):
        pairs = [
            (k if _IDENTIFIER.fullmatch(k) else "`" + k.replace("`", "``") + "`", cypher_literal(v))
            for k, v in value.items()
        ]
        return "{" + ", ".join(f"{k}: {v}" for k, v in pairs) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(cypher_literal(v) for v in value) + "]"
    return json.dumps(value)  # str, int, float, bool (true/false), None (null)


def print_queries(store: GraphStore, names: Iterable[str], params: Mapping[str, Any]) -> None:
    """Print named queries as a Neo4j Browser script: for each, ``:params {...}`` then the query.

    Parameter names are identifiers of our own queries and values are written
    as Cypher literals (`cypher_literal`), so the ``:params`` map is valid Cypher. Each
    query gets the parameters of ``params`` it uses. What every ``--cypher`` prints.
    """
    for name in names:
        query = store.queries[name]
        used = ", ".join(f"{k}: {cypher_literal(v)}" for k, v in params.items() if k in query.parameters)
        text = f"// {name}: {query.doc}\n:params {{{used}}}\n{query.text.rstrip().rstrip(';')};"
        console.print(text, markup=False)  # Cypher has [..] that is not markup


def _print_cypher(store: GraphStore, question: str, params: dict[str, Any]) -> None:
    """Print the queries behind a question of `provenance_graph.store.provenance` (`print_queries`)."""
    print_queries(store, QUERIES[question], params)


def _print_lineage(result: LineageSummary) -> None:
    word = "made from" if result.direction == "upstream" else "read by"
    console.print(
        f"{result.direction} of {len(result.start)} dataset(s): "
        f"{result.quanta} quanta, {result.datasets} datasets"
    )
    statuses = sorted({s for counts in result.tasks.values() for s in counts})
    table = Table("task", *statuses, title=f"quanta {word} them")
    for task, counts in result.tasks.items():
        table.add_row(task, *(str(counts.get(s, "")) for s in statuses))
    console.print(table)
    types = Table("dataset type", "datasets", "nearest level")
    for name, (n, level) in result.dataset_types.items():
        types.add_row(name, str(n), str(level))
    console.print(types)


def _lineage_command(
    direction: Literal["upstream", "downstream"],
    dataset_id: str | None,
    dataset_type: str | None,
    data_id: str | None,
    run: str | None,
    quantum: str | None,
    depth: int | None,
    stop_task: list[str] | None,
    stop_type: list[str] | None,
    as_json: bool,
    cypher: bool,
) -> None:
    with open_store(start_managed=False) as store:
        start = resolve_dataset(store, dataset_id, dataset_type, data_id, run, quantum_option="--quantum")
        if cypher:  # the query behind the output asked for: the members (--json) or the counts
            ids = start_ids(store, direction, start, quantum)
            question = direction if as_json else f"{direction}_summary"
            _print_cypher(store, question, lineage_parameters(ids, depth, stop_task or (), stop_type or ()))
            return
        options: dict[str, Any] = {
            "quantum_id": quantum,
            "depth": depth,
            "stop_tasks": stop_task or (),
            "stop_types": stop_type or (),
        }
        if not as_json:
            _print_lineage(lineage_summary(store, direction, start, **options))
            return
        walk = upstream if direction == "upstream" else downstream
        result = walk(store, start, **options)
    print_json(
        {
            "direction": result.direction,
            "start": list(result.start),
            "quanta": [{**vars(q), "data_id": as_object(q.data_id)} for q in result.quanta.values()],
            "datasets": [{**vars(d), "data_id": as_object(d.data_id)} for d in result.datasets.values()],
        }
    )


def _lineage_cli(direction: Literal["upstream", "downstream"], doc: str) -> Any:
    """The ``lineage`` (upstream) or ``impact`` (downstream) command: same options, other walk."""

    def command(
        dataset_id: DatasetArg = None,
        dataset_type: TypeOpt = None,
        data_id: DataIdOpt = None,
        run: RunOpt = None,
        quantum: QuantumOpt = None,
        depth: DepthOpt = None,
        stop_task: StopTaskOpt = None,
        stop_type: StopTypeOpt = None,
        as_json: JsonOpt = False,
        cypher: CypherOpt = False,
    ) -> None:
        start = (dataset_id, dataset_type, data_id, run, quantum)
        _lineage_command(direction, *start, depth, stop_task, stop_type, as_json, cypher)

    command.__doc__ = doc
    return command


app.command("lineage")(
    _lineage_cli(
        "upstream", "Upstream lineage: the quanta and datasets a dataset (or a quantum) was made from."
    )
)
app.command("impact")(
    _lineage_cli(
        "downstream", "Downstream impact: what to recompute if a dataset (or a quantum's outputs) changes."
    )
)


@app.command("deps")
def deps_command(
    quantum_id: Annotated[str, typer.Argument(help="The quantum's id.")],
    as_json: JsonOpt = False,
    cypher: CypherOpt = False,
) -> None:
    """A quantum's parents (producers of its inputs) and children (consumers of its outputs)."""
    with open_store(start_managed=False) as store:
        if cypher:
            _print_cypher(store, "deps", {"quantum_id": quantum_id})
            return
        up, down = dependencies(store, quantum_id)
        found = {"parents": up, "children": down}
    if as_json:
        print_json(
            {
                k: [{**dataclasses.asdict(q), "data_id": as_object(q.data_id)} for q in v]
                for k, v in found.items()
            }
        )
        return
    for kind, quanta in found.items():
        forms, context = listed([q.data_id for q in quanta])
        table = Table(
            "task",
            "data ID",
            "status",
            "quantum id",
            title=f"{kind} ({len(quanta)})",
            caption=context or None,
        )
        for q, form in zip(quanta, forms, strict=True):
            table.add_row(q.task, form, q.status, q.id)
        console.print(table)


@app.command("overview")
def overview_command(
    plan_id: Annotated[str, typer.Argument(help="The plan's id.")],
    as_json: JsonOpt = False,
    cypher: CypherOpt = False,
) -> None:
    """A plan's initial inputs, final outputs, and quanta per task and status."""
    from provenance_graph.store.plan_questions import plan_overview

    with open_store(start_managed=False) as store:
        if cypher:
            _print_cypher(store, "overview", {"plan_id": plan_id})
            return
        overview = plan_overview(store, plan_id)
    if as_json:
        print_json(dataclasses.asdict(overview))
        return
    statuses = sorted({s for counts in overview.tasks.values() for s in counts})
    table = Table("task", *statuses, title=f"plan {plan_id}: quanta")
    for task, counts in overview.tasks.items():
        table.add_row(task, *(str(counts.get(s, "")) for s in statuses))
    console.print(table)
    for title, part in (
        ("initial inputs", overview.initial_inputs),
        ("final outputs", overview.final_outputs),
    ):
        t = Table("dataset type", "datasets", "exist", title=title)
        for name, (n, existing) in part.items():
            t.add_row(name, str(n), str(existing))
        console.print(t)


TaskFilterOpt = Annotated[
    list[str] | None, typer.Option("--task", help="Only quanta of this task label (repeat).")
]
WhereOpt = Annotated[
    str,
    typer.Option(
        "--data-query",
        "-d",
        "--where",
        help="Only quanta whose data ID the data query admits, as pipetask's -d, e.g. "
        '"visit IN (1..2) AND detector != 0" (a quantum without a dimension it names is kept).',
    ),
]


def data_query_filter(text: str) -> DataQuery | None:
    """A data query (the language of ``plan -d``) to select quanta by data ID; None if empty.

    A quantum passes unless the query is false for it, as in pre-flight (`Expression.admits`);
    the values it requires go to the server first (`Expression.required_values`).
    """
    from provenance_graph.preflight import parse_expression  # the parser only: no pre-flight run

    expression = parse_expression(text)
    return expression if expression else None


@app.command("subgraph")
def subgraph_command(
    plan_id: Annotated[str, typer.Argument(help="The plan's id.")],
    task: TaskFilterOpt = None,
    where: WhereOpt = "",
    as_json: JsonOpt = False,
    cypher: CypherOpt = False,
) -> None:
    """Quanta of a plan by task and data query, with the external inputs they need."""
    from provenance_graph.store.plan_questions import subgraph

    admits = data_query_filter(where)
    with open_store(start_managed=False) as store:
        if cypher:
            from provenance_graph.store.plan_read import plan_quanta_params

            params, _ = plan_quanta_params(store, plan_id, task, admits)
            _print_cypher(store, "subgraph", params)
            if admits is not None:
                console.print(
                    f"// then keep the quanta whose data_id the data query admits: {where}", markup=False
                )
            console.print(
                "// the datasets: datasets_in_chunks (cypher/plan_read.cypher), $ids: the ids above",
                markup=False,
            )
            return
        part = subgraph(store, plan_id, tasks=task, where=admits)
    if as_json:
        print_json(
            {
                "plan_id": plan_id,
                "quanta": part.graph.task_counts(),
                "external_inputs": part.external_inputs,
                "quantum_ids": sorted(part.graph.quanta),
            }
        )
        return
    console.print(f"plan {plan_id}: {len(part.graph)} quanta selected")
    table = Table("task", "quanta", title="selected")
    for name, n in part.graph.task_counts().items():
        table.add_row(name, str(n))
    console.print(table)
    inputs = Table("dataset type", "datasets", title="external inputs")
    for name, n in part.external_inputs.items():
        inputs.add_row(name, str(n))
    console.print(inputs)


@app.command("diff")
def diff_command(
    old: Annotated[str, typer.Argument(help="The older plan's id.")],
    new: Annotated[str, typer.Argument(help="The newer plan's id.")],
    as_json: JsonOpt = False,
    cypher: CypherOpt = False,
) -> None:
    """Quanta added, removed, or with other inputs or outputs, between two plans."""
    from provenance_graph.model import DataId
    from provenance_graph.store.plan_questions import plan_diff, plan_task_statuses

    with open_store(start_managed=False) as store:
        if cypher:  # the diff is computed one task at a time, for each task of either plan
            tasks = sorted({t for p in (old, new) for t in plan_task_statuses(store, p)})
            for task in tasks:
                print_queries(store, ["plan_diff_task"], {"old": old, "new": new, "task": task})
            return
        diff = plan_diff(store, old, new)
    if as_json:
        print_json(
            {
                "old": diff.old,
                "new": diff.new,
                "added": [{"task": t, "data_id": as_object(d)} for t, d in diff.added],
                "removed": [{"task": t, "data_id": as_object(d)} for t, d in diff.removed],
                "changed": [
                    {
                        "task": t,
                        "data_id": as_object(d),
                        "only_old": [_diff_dataset(x) for x in gone],
                        "only_new": [_diff_dataset(x) for x in came],
                    }
                    for t, d, gone, came in diff.changed
                ],
            }
        )
        return
    console.print(
        f"{old} -> {new}: {len(diff.added)} added, {len(diff.removed)} removed, {len(diff.changed)} changed"
    )
    for label, rows in (("+", diff.added), ("-", diff.removed)):
        for task, data_id in rows[:20]:
            console.print(f"{label} {task} {DataId.from_key(data_id)}", markup=False)
    for task, data_id, gone, came in diff.changed[:20]:
        old_side = ", ".join(_diff_text(x) for x in gone)
        new_side = ", ".join(_diff_text(x) for x in came)
        console.print(f"~ {task} {DataId.from_key(data_id)}: -[{old_side}] +[{new_side}]", markup=False)


def _diff_dataset(signature: str) -> dict[str, Any]:
    """A plan diff's ``"in: calexp {...}"``: the connection side, the dataset type, the data ID."""
    side, _, rest = signature.partition(": ")
    dataset_type, _, key = rest.partition(" ")
    return {"side": side, "dataset_type": dataset_type, "data_id": as_object(key)}


def _diff_text(signature: str) -> str:
    from provenance_graph.model import DataId

    found = _diff_dataset(signature)
    return f"{found['side']}: {found['dataset_type']} ({DataId(found['data_id'])})"


@app.command("missing")
def missing_command(
    plan_id: Annotated[str, typer.Argument(help="The plan's id.")],
    as_json: JsonOpt = False,
    cypher: CypherOpt = False,
) -> None:
    """Planned vs actual: the datasets a plan predicted that do not exist, and why."""
    from provenance_graph.store.plan_questions import missing_outputs

    with open_store(start_managed=False) as store:
        if cypher:
            _print_cypher(store, "missing", {"plan_id": plan_id})
            return
        rows = missing_outputs(store, plan_id)
    if as_json:
        print_json(rows)
        return
    table = Table("task", "quantum status", "dataset type", "datasets", title=f"plan {plan_id}: not produced")
    for r in rows:
        table.add_row(r["task"], r["status"], r["dataset_type"], str(r["datasets"]))
    console.print(table)


@app.command("history")
def history_command(
    data_id: DataIdArgs,
    as_json: JsonOpt = False,
    cypher: CypherOpt = False,
) -> None:
    """Every quantum at a data ID across all plans and runs, with its attempts."""
    from provenance_graph.store.plan_questions import data_id_history

    values = data_id_from_pairs(data_id).to_dict()
    with open_store(start_managed=False) as store:
        if cypher:
            _print_cypher(store, "history", {"values": values})
            return
        rows = data_id_history(store, values)
    if as_json:
        print_json(
            [
                {k: str(v) if k == "created" else as_object(v) if k == "data_id" else v for k, v in r.items()}
                for r in rows
            ]
        )
        return
    forms, context = listed([r["data_id"] for r in rows])
    table = Table("plan", "run", "task", "data ID", "status", "attempts", caption=context or None)
    for r, form in zip(rows, forms, strict=True):
        tries = ", ".join(f"#{a['number']} {a['status']}" for a in r["attempts"] if a["number"] is not None)
        table.add_row(r["plan_id"], r["run"], r["task"], form, r["status"], tries)
    console.print(table)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _without_label(note: PlanNote) -> str:
    """The note's message without its leading ``task:`` (the sentence names the task already)."""
    return note.message.removeprefix(f"{note.task_label}: ")


def _dropped(task: TaskAtDataId, *, named: bool) -> str:
    """How pre-flight dropped the task's data IDs at the values: one clause per note.

    ``named``: the clause names the data IDs (else the sentence has named them already).
    """
    clauses = []
    for note, data_ids in task.notes:
        why = f"({note.kind.value}: {_without_label(note)})"
        if not data_ids:
            clauses.append(f"it got no quanta anywhere {why}")
        elif not named:
            clauses.append(f"pre-flight dropped {'it' if len(data_ids) == 1 else 'them'} {why}")
        elif len(data_ids) == 1:
            clauses.append(f"pre-flight dropped {data_ids[0]} {why}")
        else:
            clauses.append(f"pre-flight dropped {len(data_ids)} data IDs there, e.g. {data_ids[0]} {why}")
    return "; and ".join(clauses)


def why_answer(task: TaskAtDataId, plan: Plan, values: DataId, excluded: bool | None) -> tuple[str, str]:
    """Why ``task`` has (no) quantum at ``values``: a kind of answer and one sentence.

    The kinds: ``quanta`` (it has some there), ``dropped`` (pre-flight's notes say why not),
    ``other_dimensions`` (its quanta share no dimension with the values), ``excluded`` (the
    plan's data query is false for the values) and ``not_mentioned``.
    """
    label = task.task
    if task.quanta:
        total = sum(task.quanta.values())
        statuses = ", ".join(f"{n} {status}" for status, n in task.quanta.items())
        if total == 1:
            sentence = f"{label}: 1 quantum at {task.examples[0]}: {next(iter(task.quanta))}"
        else:
            sentence = f"{label}: {total} quanta there, e.g. {task.examples[0]}: {statuses}"
        if task.notes:
            sentence += f"; {_dropped(task, named=True)}"
        return "quanta", sentence + "."
    if task.notes:
        if len(task.notes) > 1:  # each clause names its own data IDs
            return "dropped", f"{label}: no quantum there: {_dropped(task, named=True)}."
        [(_, matched)] = task.notes
        where = (
            f"at {matched[0]}"
            if len(matched) == 1
            else f"at {len(matched)} data IDs there, e.g. {matched[0]}"
        )
        where = where if matched else "anywhere"
        return "dropped", f"{label}: no quantum {where}: {_dropped(task, named=False)}."
    if task.dimensions and not set(task.dimensions) & set(values.dimensions):
        return (
            "other_dimensions",
            f"{label}: its quanta have none of the dimensions given (it runs per "
            f"{', '.join(task.dimensions)}).",
        )
    if excluded:
        return (
            "excluded",
            f"{label}: no quantum at {values}: the plan's data query excludes it ({plan.constraints}).",
        )
    query = ""
    if plan.constraints:
        query = (
            f"; its data query ({plan.constraints}) does not exclude it"
            if excluded is False
            else f"; its data query ({plan.constraints}) does not decide it from these values"
        )
    return (
        "not_mentioned",
        f"{label}: nothing in plan {plan.id!r} mentions {values}: no quantum and no note of the task "
        f"there{query}.",
    )


def _excluded_by(constraints: str, values: DataId) -> bool | None:
    """Whether the data query is false for the values: True, False, or None when it cannot tell.

    A query that does not parse here (a Rubin plan's, in pipe_base's grammar) tells nothing.
    """
    if not constraints:
        return False
    from provenance_graph.preflight import parse_expression

    try:
        verdict = parse_expression(constraints)(values.to_dict())
    except ProvenanceGraphError:
        return None
    return None if verdict is None else not verdict


@app.command("why")
def why_command(
    data_id: DataIdArgs,
    task: TaskFilterOpt = None,
    plan_id: Annotated[
        str | None, typer.Option("--plan", help="The plan's id; default the newest stored plan.")
    ] = None,
    as_json: JsonOpt = False,
    cypher: CypherOpt = False,
) -> None:
    """Why a data ID has no quantum: per task, its quanta there, the note that dropped it, or the query."""
    from provenance_graph.store import list_plans
    from provenance_graph.store.plan_questions import data_id_in_plan

    values = data_id_from_pairs(data_id)
    with open_store(start_managed=False) as store:
        if plan_id is None:
            stored = list_plans(store)
            if not stored:
                raise QuestionError("no plan is stored", hint="make one with 'provgraph plan'")
            plan_id = stored[0].id
            err_console.print(f"plan {plan_id} (the newest; choose another with --plan)", markup=False)
        if cypher:
            params = {"plan_id": plan_id, "values": values.to_dict(), "tasks": task}
            _print_cypher(store, "why", params)
            return
        facts = data_id_in_plan(store, plan_id, values, tasks=task)
    excluded = _excluded_by(facts.plan.constraints, values)
    answers = [(t, *why_answer(t, facts.plan, values, excluded)) for t in facts.tasks]
    if not as_json:
        for _, _, sentence in answers:
            console.print(sentence, markup=False)
        return
    print_json(
        {
            "plan_id": plan_id,
            "data_id": values.to_dict(),
            "constraints": facts.plan.constraints,
            "excluded_by_query": excluded,
            "tasks": [
                {
                    "task": t.task,
                    "answer": kind,
                    "sentence": sentence,
                    "dimensions": list(t.dimensions),
                    "quanta": t.quanta,
                    "data_ids": [d.to_dict() for d in t.examples],
                    "notes": [
                        {
                            "kind": note.kind.value,
                            "connection": note.connection,
                            "dataset_type": note.dataset_type,
                            "message": note.message,
                            "data_id_count": len(note.data_ids),
                            "data_ids": [d.to_dict() for d in matched],
                        }
                        for note, matched in t.notes
                    ],
                }
                for t, kind, sentence in answers
            ],
        }
    )


@app.command("prov")
def prov_command(
    plan_id: Annotated[str, typer.Argument(help="The plan's id.")],
    task: TaskFilterOpt = None,
    where: WhereOpt = "",
    fmt: Annotated[
        str, typer.Option("--format", help="json (PROV-JSON), provn (PROV-N) or turtle (PROV-O, RDF).")
    ] = "json",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file.")] = None,
) -> None:
    """Export a plan (or a subgraph) and its execution as W3C PROV."""
    from provenance_graph.export import prov_document  # the prov library, for this command only
    from provenance_graph.interop.prov import PROV_FORMATS, ProvFormat, serialize_prov

    if fmt not in PROV_FORMATS:
        raise QuestionError(
            f"unknown PROV format {fmt!r}", hint="use --format json, --format provn or --format turtle"
        )
    kind = cast(ProvFormat, fmt)
    admits = data_query_filter(where)
    with open_store(start_managed=False) as store:
        text = serialize_prov(prov_document(store, plan_id, tasks=task, where=admits), kind)
    if output is None:
        console.print(text, markup=False)
    else:
        try:
            output.write_text(text)
        except OSError as err:
            raise QuestionError(
                f"cannot write {output}: {err.strerror}", hint="give -o a path in a writable directory"
            ) from None
        err_console.print(f"wrote {output} ({len(text)} characters)")


@app.command("stale")
def stale_command(
    plan_id: Annotated[str, typer.Argument(help="The plan's id.")],
    config: Annotated[
        list[str] | None,
        typer.Option(
            "--config",
            "-c",
            help="Config override LABEL:FIELD=VALUE (repeat): what would be stale if the plan ran with "
            "these; default the overrides of its last run.",
        ),
    ] = None,
    as_json: JsonOpt = False,
    cypher: CypherOpt = False,
) -> None:
    """Outputs a changed config or changed task code would make differently, and what was made from them.

    The versions each output's execution recorded (config and source digest of its task) are
    compared with the plan's pipeline as it is now (its -c overrides, the task code installed
    here). An output made after a newer version of one of its inputs is stale too.
    """
    from provenance_graph.cli.running import parse_config
    from provenance_graph.model import DataId
    from provenance_graph.pipeline import Pipeline, task_versions  # the tasks' code, to digest it
    from provenance_graph.store.execution import last_options
    from provenance_graph.store.plan_read import read_plan_header
    from provenance_graph.store.staleness import stale_outputs

    with open_store(start_managed=False) as store:
        if cypher:
            _print_cypher(store, "stale", {"plan_id": plan_id})
            return
        check_plan(store, plan_id)
        header = read_plan_header(store, plan_id)
        if not header.pipeline:
            raise QuestionError(
                f"plan {plan_id!r} has no pipeline of provgraph's own (it was imported from a QuantumGraph)",
                hint="its executions record no task versions to compare",
            )
        overrides = parse_config(config) if config else (last_options(store, plan_id) or {}).get("config")
        pipeline = Pipeline.from_yaml(header.pipeline, source=f"plan {plan_id}").with_config(overrides or {})
        found = stale_outputs(store, plan_id, task_versions(pipeline))
    if as_json:
        print_json(
            {
                "plan_id": plan_id,
                "outputs": found.outputs,
                "unknown": found.unknown,
                "stale": [
                    {**dataclasses.asdict(s), "data_id": as_object(s.data_id), "reasons": list(s.reasons)}
                    for s in found.stale
                ],
            }
        )
        return
    table = Table("dataset type", "data ID", "made by", "why", title=f"plan {plan_id}: stale outputs")
    for s in found.stale:
        table.add_row(s.dataset_type, str(DataId.from_key(s.data_id)), s.task, "; ".join(s.reasons))
    console.print(table)
    console.print(f"{len(found.stale)} of {found.outputs} outputs are stale", highlight=False)
    if found.unknown:
        console.print(
            f"{found.unknown} output(s) were made by executions that recorded no task versions "
            "(before schema v12): their config and code are unknown",
            highlight=False,
        )
