"""Batch jobs of a plan: ``cluster``, ``blast-radius``, ``export-dagman``, and running them.

``submit`` (Parsl), ``status``, ``restart``, and ``run-job`` (one job: what a DAGMan node runs).
"""

from __future__ import annotations

import dataclasses
import enum
import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from provenance_graph.activators import JobActivator, ParslActivator, load_site, run_job_file, write_job_files
from provenance_graph.cli._options import (
    ConfigOpt,
    RepositoryOpt,
    is_from_quantum_graph,
    processes_option,
    repository_arguments,
)
from provenance_graph.cli._output import console, err_console, print_json
from provenance_graph.cli.query import DataIdOpt, parse_data_id, print_queries
from provenance_graph.cli.running import (
    ChangeConfigOpt,
    parse_config,
    print_failures,
    print_report,
    run_activator,
    settle_config,
    show_config,
    stopping_cleanly,
)
from provenance_graph.clustering import JobGraph, load_clustering, write_dagman
from provenance_graph.errors import ExecutionError, QuestionError
from provenance_graph.journal import read_journals
from provenance_graph.store import GraphStore, check_plan, open_store
from provenance_graph.store.clustering import (
    blast_radius,
    blast_radius_parameters,
    cluster_plan,
    find_quantum,
    list_clusterings,
    read_job_graph,
)
from provenance_graph.store.execution import last_options
from provenance_graph.store.journals import record_journals
from provenance_graph.store.plan_read import read_plan_header

__all__ = [
    "blast_radius_command",
    "cluster_command",
    "export_dagman_command",
    "restart_command",
    "run_job_command",
    "submit_command",
]

PlanArg = Annotated[str, typer.Argument(help="The stored plan's id.")]
NameOpt = Annotated[str, typer.Option("--clustering", help="The stored clustering's name.")]


class Engine(enum.StrEnum):
    """Workflow engines ``provgraph submit`` can run batch jobs on."""

    parsl = "parsl"


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
    with open_store(start_managed=False) as store:
        check_plan(store, plan_id)
        if task is not None and data_id is not None:
            quantum = find_quantum(store, plan_id, task, parse_data_id(data_id))
        if quantum is None:  # pragma: no cover - refused above
            return
        if cypher:
            print_queries(store, ("blast_radius",), blast_radius_parameters(plan_id, clustering, quantum))
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
    """Write an HTCondor DAGMan DAG of a stored clustering: one submit file and one job file per batch job.

    The jobs of a plan of our own need no database: each runs from its job file
    (``jobs/<job>.json``) and writes a journal, which the DAG's POST script records on this
    host (``provgraph record``). Jobs of a plan imported from a QuantumGraph read Neo4j.
    """
    with open_store(start_managed=False) as store:
        header = read_plan_header(store, plan_id)
        jobs = read_job_graph(store, plan_id, clustering)
        journals: dict[str, Path] | None = None
        if not is_from_quantum_graph(header):
            overrides = settle_config(store, header, None, False)
            written = write_job_files(store, plan_id, clustering, out, config=overrides)
            journals = {name: Path(job_file.journal) for name, job_file in written.items()}
    files = write_dagman(jobs, out, command=[_provgraph_executable()], retry=retry, journals=journals)
    console.print(
        f"Wrote {files.dag} ({len(files.submit_files)} jobs, {files.edges} PARENT/CHILD pairs"
        + (f", RETRY {retry}" if retry else "")
        + f"); submit with: cd {out} && condor_submit_dag {files.dag.name}"
    )
    if journals:
        folder = next(iter(journals.values())).parent
        console.print(f"The jobs write their attempts to journals in {folder}; each is recorded as it ends.")


SiteOpt = Annotated[
    Path | None,
    typer.Option("--site", help="Site config (YAML): Parsl provider and executor; default local."),
]
#: Worker processes per node (Parsl's max_workers_per_node), on this machine without --site.
ProcessesOpt = Annotated[int, processes_option("batch jobs on each node")]


def run_job_command(
    job_file: Annotated[
        Path | None,
        typer.Option(
            "--job-file",
            help="A job file of export-dagman (jobs/<job>.json): run with no database, writing a journal.",
        ),
    ] = None,
    plan: Annotated[
        str | None, typer.Option("--plan", help="The plan's id (with --job, reading Neo4j).")
    ] = None,
    clustering: Annotated[str | None, typer.Option("--clustering", help="The clustering's name.")] = None,
    job: Annotated[str | None, typer.Option("--job", help="The batch job's name.")] = None,
    repository: RepositoryOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Run one batch job's quanta in order in this process (a DAGMan node's command).

    With --job-file, no database is opened: each attempt goes to the job's journal, which
    'provgraph record' loads. With --plan/--clustering/--job, attempts are recorded in Neo4j
    as they end, and the job is refused while a job it depends on is not done.
    Exit 1 if a quantum failed.
    """
    if job_file is not None:
        if plan or clustering or job or repository or config:
            raise ExecutionError(
                "--job-file says everything the job needs: --plan, --clustering, --job, --repo and -c "
                "go with the other form",
                hint=f"run: provgraph run-job --job-file {job_file}",
            )
        _run_job_file(job_file)
        return
    if not (plan and clustering and job):
        missing = [o for o, v in (("--plan", plan), ("--clustering", clustering), ("--job", job)) if not v]
        raise ExecutionError(
            f"run-job needs --job-file, or --plan, --clustering and --job (missing {', '.join(missing)})",
            hint="give the job file export-dagman wrote: provgraph run-job --job-file jobs/JOB.json",
        )
    _run_job_in_graph(plan, clustering, job, repository, config)


def _run_job_file(path: Path) -> None:
    result = run_job_file(path)
    job = result.job
    say = f"batch job {job.job} of plan {job.plan_id!r}: "
    if result.failed is not None:
        say += "failed"
    elif result.succeeded or result.skipped or not result.done_before:
        say += "succeeded"
    else:
        say += "nothing to do"
    parts = [f"{len(result.succeeded)} succeeded"] if result.succeeded else []
    parts += [f"{len(result.done_before)} done before"] if result.done_before else []
    parts += [f"{len(result.skipped)} skipped (outputs exist)"] if result.skipped else []
    parts += ["1 failed"] if result.failed is not None else []
    console.print(
        f"{say} in {result.seconds:.1f} s ({', '.join(parts) or 'no quanta'}); journal {job.journal}"
    )
    if result.failed is not None:
        outcome = result.failed.outcome
        quantum = next(q for q in job.quanta if q.id == outcome.quantum_id)
        last = (outcome.error or "no error text").strip().splitlines()[-1]
        err_console.print(f"failed: {quantum}: {last}", soft_wrap=True)
        raise typer.Exit(1)


def _run_job_in_graph(
    plan: str, clustering: str, job: str, repository: str | None, config: list[str] | None
) -> None:
    with open_store(start_managed=False) as store:
        activator = JobActivator(
            store,
            plan,
            clustering=clustering,
            job=job,
            **repository_arguments(read_plan_header(store, plan), repository),
            config=parse_config(config),
        )
        with stopping_cleanly(plan, f"provgraph run-job --plan {plan} --clustering {clustering} --job {job}"):
            report = activator.run()
        ran = ", ".join(f"{n} {what}" for what, n in report.ran.items() if n) or "nothing to do"
        console.print(
            f"batch job {job} of plan {plan!r}: {report.status} in {report.seconds:.1f} s ({ran}); "
            f"execution {report.execution_id}"
        )
        print_failures(report.failures)
    if not report.ok:
        raise typer.Exit(1)


def _print_blast_radii(jobs: JobGraph) -> None:
    """Per rule, the job whose failure would lose the most (itself and every job downstream)."""
    radii = jobs.blast_radii()
    worst: dict[str, str] = {}
    for job in jobs:
        best = worst.get(job.label)
        if best is None or radii[job.name][1] > radii[best][1]:
            worst[job.label] = job.name
    table = Table(
        "rule (or task)", "jobs", "largest blast radius", "jobs lost", "quanta lost", title="blast radius"
    )
    counts = jobs.summary().jobs_per_label
    for label, name in sorted(worst.items(), key=lambda kv: (-radii[kv[1]][1], kv[0])):
        table.add_row(label, str(counts[label]), name, str(radii[name][0]), str(radii[name][1]))
    console.print(table)


def _engine_run(store: GraphStore, plan_id: str, activator: ParslActivator) -> None:
    report = run_activator(activator, f"provgraph restart {plan_id}")
    print_report(report, store, resume=f"provgraph restart {plan_id}")
    if report.ran.get("retried"):
        console.print(f"retried:    {report.ran['retried']} batch job run(s) after a failure")
    for lost in report.lost:
        then = (
            "ran again"
            if lost.retried
            else f"its {lost.quanta} quanta are pending: 'provgraph restart {plan_id}'"
        )
        console.print(
            f"[yellow]lost[/] batch job {lost.unit} ({lost.failure.reason}, not a task failure; {then}): "
            f"{escape(lost.failure.message)}",
            highlight=False,
        )
    if not report.ok:
        raise typer.Exit(1)


def submit_command(
    plan_id: PlanArg,
    clustering: Annotated[
        str,
        typer.Option("--clustering", help="Clustering rules (YAML file) to store first, or a stored name."),
    ],
    engine: Annotated[Engine, typer.Option(help="The workflow engine.")] = Engine.parsl,
    site: SiteOpt = None,
    retries: Annotated[int, typer.Option(min=0, help="Run a failed batch job again this many times.")] = 0,
    processes: ProcessesOpt = 1,
    name: Annotated[str | None, typer.Option(help="Store the rules under this name.")] = None,
    replace: Annotated[bool, typer.Option(help="Replace a stored clustering of that name.")] = False,
    repository: RepositoryOpt = None,
    config: ConfigOpt = None,
    change_config: ChangeConfigOpt = False,
) -> None:
    """Run a stored plan's batch jobs on a workflow engine: clustering, blast radius, then the run.

    A job starts when the jobs it depends on are done; each runs its quanta in order in one
    worker; every attempt is recorded as 'provgraph run' records it. Exit 1 if a job failed.
    """
    the_site = load_site(site)
    with open_store(say=err_console.print) as store:
        header = read_plan_header(store, plan_id)
        overrides = settle_config(store, header, config, change_config)
        if Path(clustering).is_file():
            job_graph, write = cluster_plan(
                store, plan_id, load_clustering(clustering), name=name, replace=replace
            )
            console.print(
                f"Clustering {job_graph.name!r} of plan {plan_id!r} {write.outcome}: "
                f"{len(job_graph)} batch jobs, {write.edges} dependencies."
            )
        else:
            job_graph = read_job_graph(store, plan_id, clustering)
        _print_blast_radii(job_graph)
        show_config(header, overrides)
        activator = ParslActivator(
            store,
            plan_id,
            clustering=job_graph.name,
            site=the_site,
            jobs=processes,
            retries=retries,
            **repository_arguments(header, repository),
            config=overrides,
        )
        console.print(f"Submitting {len(job_graph)} batch jobs to {engine.value} ({the_site.source}).")
        _engine_run(store, plan_id, activator)


def restart_command(
    plan_id: PlanArg,
    clustering: Annotated[
        str | None, typer.Option("--clustering", help="The stored clustering; default the last submit's.")
    ] = None,
    site: SiteOpt = None,
    retries: Annotated[
        int | None,
        typer.Option(min=0, help="Run a failed batch job again this many times; default the last submit's."),
    ] = None,
    processes: ProcessesOpt = 1,
    repository: RepositoryOpt = None,
    config: ConfigOpt = None,
    change_config: ChangeConfigOpt = False,
) -> None:
    """Resume a submitted plan: repair dead executions, run every batch job not done.

    What succeeded stays done; failed and blocked jobs run again, with the -c overrides of the
    last run unless --change-config.
    """
    with open_store(say=err_console.print) as store:
        header = read_plan_header(store, plan_id)
        overrides = settle_config(store, header, config, change_config)
        located = repository_arguments(header, repository)
        last = last_options(store, plan_id, ParslActivator.name) or {}
        name = clustering or last.get("clustering") or _only_clustering(store, plan_id)
        site_file = site or (Path(last["site"]) if Path(str(last.get("site", ""))).is_file() else None)
        if not located and last.get("butler"):
            located = {"butler": str(last["butler"])}
        show_config(header, overrides)
        activator = ParslActivator(
            store,
            plan_id,
            clustering=str(name),
            site=load_site(site_file),
            jobs=processes,
            retries=int(last.get("retries", 0)) if retries is None else retries,
            **located,
            config=overrides,
        )
        console.print(f"Restarting plan {plan_id!r} with clustering {name!r}.")
        _engine_run(store, plan_id, activator)


def _only_clustering(store: GraphStore, plan_id: str) -> str:
    names = [c.name for c in list_clusterings(store, plan_id) if c.status == "complete"]
    if len(names) != 1:
        raise ExecutionError(
            f"plan {plan_id!r} was never submitted and has "
            + (f"{len(names)} clusterings ({', '.join(names)})" if names else "no clustering"),
            hint="name one with --clustering NAME, or submit it: 'provgraph submit PLAN --clustering FILE'",
        )
    return names[0]


def record_command(
    journals: Annotated[
        list[Path],
        typer.Argument(help="Journals (.jsonl) batch jobs wrote, or folders of them.", show_default=False),
    ],
    job_exit: Annotated[
        int | None,
        typer.Option(
            "--job-exit",
            help="The batch job's own exit status (DAGMan's $RETURN in a POST script): exit with it.",
        ),
    ] = None,
) -> None:
    """Load the attempts that batch jobs wrote to journals into the graph, once each.

    Loading a journal again, or one whose attempts were recorded already, adds nothing.
    The pending quanta downstream of a failed quantum become blocked by it (DAGMan never
    starts them).
    Torn lines (a job killed while writing) are skipped and named. Exit 1 if a journal is
    missing or names quanta its plan lacks; with --job-exit, then exit with that status.
    """
    missing = [p for p in journals if not p.exists()]
    read = read_journals([p for p in journals if p.exists()])
    for torn in read.torn:
        err_console.print(f"skipped a torn or damaged line: {torn} (a job killed while writing it)")
    for path in missing:
        err_console.print(f"no journal at {path}: the job wrote no attempt (did it start? see its log)")
    result = None
    if read.records:
        with open_store(say=err_console.print) as store:
            result = record_journals(store, read.records, block_children=True)
        console.print(
            f"recorded {result.recorded} attempt(s) from {len(journals) - len(missing)} journal(s)"
            + (f"; {result.already} recorded before" if result.already else "")
            + (f"; {result.blocked} quanta blocked by the failures" if result.blocked else "")
            + f"; execution {', '.join(result.executions)}"
        )
        if result.unknown:
            err_console.print(
                f"{result.unknown} record(s) name quanta their plan does not have: was the plan replaced "
                "since the jobs ran?"
            )
    elif not missing:
        console.print("no attempt in the journal(s) given: nothing to record")
    if job_exit:
        raise typer.Exit(job_exit)
    if missing or (result is not None and result.unknown):
        raise typer.Exit(1)
