"""``provgraph cluster``, ``blast-radius``, ``export-dagman`` and ``run-job``: batch jobs of a plan."""

from __future__ import annotations

import dataclasses
import shutil
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from provenance_graph.cli._output import console, err_console, print_json
from provenance_graph.cli.query import DataIdOpt, cypher_literal, parse_data_id
from provenance_graph.clustering import load_clustering, write_dagman
from provenance_graph.errors import ExecutionError, QuestionError
from provenance_graph.store import GraphStore, open_store
from provenance_graph.store.clustering import (
    blast_radius,
    blast_radius_parameters,
    cluster_plan,
    find_quantum,
    read_job_graph,
    read_job_quanta,
)

__all__ = ["blast_radius_command", "cluster_command", "export_dagman_command", "run_job_command"]

PlanArg = Annotated[str, typer.Argument(help="The stored plan's id.")]
NameOpt = Annotated[str, typer.Option("--clustering", help="The stored clustering's name.")]


def cluster_command(
    plan_id: PlanArg,
    clustering: Annotated[Path, typer.Option("--clustering", help="The clustering rules (YAML).")],
    name: Annotated[
        str | None, typer.Option(help="Store it under this name (default: the file's name:, else its stem).")
    ] = None,
    replace: Annotated[bool, typer.Option(help="Replace a stored clustering of that name.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Cluster a stored plan's quanta into batch jobs, store them and the job DAG, print a summary."""
    spec = load_clustering(clustering)
    with open_store() as store:
        jobs, write = cluster_plan(store, plan_id, spec, name=name, replace=replace)
    summary = jobs.summary()
    if as_json:
        print_json({"outcome": write.outcome, "name": jobs.name, **dataclasses.asdict(summary)})
        return
    console.print(
        f"Clustering {jobs.name!r} of plan {plan_id!r} {write.outcome} in {write.seconds:.1f} s: "
        f"{summary.jobs} batch jobs for {summary.quanta} quanta."
    )
    table = Table("rule (or task)", "jobs", "quanta")
    for label, n in summary.jobs_per_label.items():
        table.add_row(label, str(n), str(summary.quanta_per_label[label]))
    console.print(table)
    console.print(f"job DAG:       {summary.edges} dependencies")
    console.print(f"largest job:   {summary.largest_job} ({summary.largest_job_quanta} quanta)")
    console.print(f"critical path: {summary.critical_path} jobs")


def _print_cypher(store: GraphStore, params: dict[str, Any]) -> None:
    query = store.queries["blast_radius"]
    used = ", ".join(f"{k}: {cypher_literal(v)}" for k, v in params.items() if k in query.parameters)
    console.print(
        f"// blast_radius: {query.doc}\n:params {{{used}}}\n{query.text.rstrip().rstrip(';')};", markup=False
    )


def blast_radius_command(
    plan_id: PlanArg,
    clustering: NameOpt,
    quantum: Annotated[str | None, typer.Option("--quantum", help="The failing quantum's id.")] = None,
    task: Annotated[str | None, typer.Option(help="Or its task label, with --data-id.")] = None,
    data_id: DataIdOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full answer as JSON.")] = False,
    cypher: Annotated[
        bool, typer.Option("--cypher", help="Print the Cypher and its parameters; run nothing.")
    ] = False,
) -> None:
    """What one failing quantum loses under a clustering: its job, the jobs downstream, their quanta."""
    if (quantum is None) == (task is None or data_id is None):
        raise QuestionError(
            "name the failing quantum: --quantum ID, or --task LABEL with --data-id",
            hint="e.g. --task calibrate --data-id instrument=DemoCam,visit=1,detector=2",
        )
    with open_store() as store:
        if task is not None and data_id is not None:
            quantum = find_quantum(store, plan_id, task, parse_data_id(data_id))
        if quantum is None:  # pragma: no cover - refused above
            return
        if cypher:
            _print_cypher(store, blast_radius_parameters(plan_id, clustering, quantum))
            return
        found = blast_radius(store, plan_id, clustering, quantum)
    if as_json:
        print_json(found.as_dict())
        return
    console.print(
        f"If quantum {quantum} fails, clustering {clustering!r} loses {len(found.jobs)} batch job(s) and "
        f"{len(found.quanta)} other quanta: {len(found.downstream)} downstream of it, "
        f"{len(found.innocent)} innocent (they only share a job)."
    )
    table = Table("job", "lost quanta", "downstream", "innocent", title="batch jobs lost")
    for job in found.jobs:
        mine = [q for q in found.quanta if q.job == job]
        down = sum(q.downstream for q in mine)
        table.add_row(
            job + (" (its own)" if job == found.job else ""), str(len(mine)), str(down), str(len(mine) - down)
        )
    console.print(table)


def _provgraph_executable() -> str:
    """The provgraph command of this environment, as an absolute path."""
    beside = Path(sys.executable).with_name("provgraph")
    if beside.exists():
        return str(beside)
    found = shutil.which("provgraph")
    return str(Path(found).resolve()) if found else str(Path(sys.argv[0]).resolve())


def export_dagman_command(
    plan_id: PlanArg,
    clustering: NameOpt,
    out: Annotated[Path, typer.Option("--out", help="The directory to write the DAG and submit files into.")],
    retry: Annotated[
        int, typer.Option(min=0, help="RETRY each job this many times (0: no RETRY lines).")
    ] = 0,
) -> None:
    """Write an HTCondor DAGMan DAG of a stored clustering: one submit file per batch job."""
    with open_store() as store:
        jobs = read_job_graph(store, plan_id, clustering)
    files = write_dagman(jobs, out, command=[_provgraph_executable()], retry=retry)
    console.print(
        f"Wrote {files.dag} ({len(files.submit_files)} jobs, {files.edges} PARENT/CHILD pairs"
        + (f", RETRY {retry}" if retry else "")
        + f"); submit with: cd {out} && condor_submit_dag {files.dag.name}"
    )


def run_job_command(
    plan: Annotated[str, typer.Option("--plan", help="The plan's id.")],
    clustering: NameOpt,
    job: Annotated[str, typer.Option("--job", help="The batch job's name.")],
) -> None:
    """Run one batch job's quanta in order (what each DAGMan job runs). Not implemented yet.

    The interface is fixed: it finds the job in the graph and lists its quanta; running them
    comes with the Parsl half of the production Activator, and until then it exits 1.
    """
    with open_store() as store:
        quanta = read_job_quanta(store, plan, clustering, job)
    err_console.print(f"batch job {job} of plan {plan!r} (clustering {clustering!r}): {len(quanta)} quanta")
    for q in quanta:
        err_console.print(f"  {q['task']} {q['data_id']}", markup=False)
    raise ExecutionError(
        "provgraph run-job is not implemented yet: running a batch job's quanta comes with the "
        "production Activator's execution engine",
        hint="run the plan with 'provgraph run --plan PLAN' meanwhile",
    )
