"""``provgraph status``, ``report`` and ``cancel``: operating a submission, as BPS's report and cancel.

``status`` counts a plan's quanta per task and status, and its batch jobs per rule and state;
``report`` says per task and per batch job what a plan's quanta came to, and lists the
failed ones with their error lines (``--return-exit-codes``: non-zero when anything failed).
``cancel`` stops a plan's running submission on this machine: its process gives its quanta
back and stops its batch jobs (Parsl cancels its blocks, ``scancel`` on Slurm), and the
execution and the attempts it stopped are recorded as cancelled.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from typing import Annotated, Any

import psutil
import typer
from rich.markup import escape
from rich.table import Table

from provenance_graph.cli._output import console, err_console, print_json
from provenance_graph.errors import ExecutionError
from provenance_graph.model import DataId
from provenance_graph.store import GraphStore, check_plan, open_store
from provenance_graph.store.clustering import clustering_id, job_statuses, list_clusterings
from provenance_graph.store.execution import (
    failed_quanta,
    last_options,
    live_executions,
    lost_attempts,
    mark_cancelled,
    status_counts,
)

__all__ = ["cancel_command", "job_state", "report_command", "status_command", "submitted_clustering"]

#: Statuses in the order tables show them.
ORDER = ("succeeded", "skipped", "failed", "blocked", "running", "pending")
#: Failed quanta listed before "... and N more".
SHOWN = 20
#: How long `cancel` waits for the submitting process to stop.
CANCEL_WAIT_SECONDS = 120.0

PlanArg = Annotated[str, typer.Argument(help="The stored plan's id.")]


def report_command(
    plan_id: PlanArg,
    clustering: Annotated[
        str | None,
        typer.Option("--clustering", help="The clustering whose jobs to count; default the last submit's."),
    ] = None,
    return_exit_codes: Annotated[
        bool,
        typer.Option("--return-exit-codes", help="Exit 1 when any quantum failed or is blocked (as BPS)."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Per task and per batch job, what a plan's quanta came to; the failed ones with their errors."""
    with open_store(start_managed=False) as store:
        check_plan(store, plan_id)
        per_task = status_counts(store, plan_id)
        name = submitted_clustering(store, plan_id, clustering)
        per_job = job_statuses(store, plan_id, name) if name else {}
        failed = failed_quanta(store, plan_id, clustering_id(plan_id, name) if name else None, SHOWN)
        lost = lost_attempts(store, plan_id)
    totals = {s: sum(c.get(s, 0) for c in per_task.values()) for s in ORDER}
    jobs = {job: job_state(counts) for job, (_, counts) in per_job.items()}
    failures = [
        {
            "task": r["task"],
            "data_id": DataId.from_key(r["data_id"]).to_dict(),
            "job": r["job"],
            "attempts": r["attempts"],
            "error": _last_line(r["error"]),
            "quantum_id": r["id"],
        }
        for r in failed
    ]
    if as_json:
        print_json({"plan_id": plan_id, "tasks": per_task, "totals": totals, "clustering": name,
                    "jobs": {j: {"label": per_job[j][0], "state": s} for j, s in jobs.items()},
                    "failed": failures, "lost": lost})  # fmt: skip
    else:
        _print_report(plan_id, per_task, totals, name, per_job, jobs, failed)
        for row in lost:  # not failures: the batch system's, and their quanta are retryable
            console.print(
                f"lost    {row['attempts']} attempt(s) to the batch system ({row['reason']}); latest: "
                f"{escape(str(row['error']))}",
                highlight=False,
                soft_wrap=True,
            )
    if return_exit_codes and (totals["failed"] or totals["blocked"]):
        raise typer.Exit(1)


def _print_report(
    plan_id: str,
    per_task: dict[str, dict[str, int]],
    totals: dict[str, int],
    name: str | None,
    per_job: dict[str, tuple[str, dict[str, int]]],
    jobs: dict[str, str],
    failed: list[dict[str, object]],
) -> None:
    columns = [s for s in ORDER if totals[s]] or ["pending"]
    table = Table("task", *columns, "total", title=f"plan {plan_id}: quanta")
    for task, counts in per_task.items():
        table.add_row(task, *(str(counts.get(s, "")) for s in columns), str(sum(counts.values())))
    table.add_row("all", *(str(totals[s]) for s in columns), str(sum(totals.values())), style="bold")
    console.print(table)
    if per_job:
        by_label: dict[str, dict[str, int]] = {}
        for job, (label, _) in per_job.items():
            counts = by_label.setdefault(label, {})
            counts[jobs[job]] = counts.get(jobs[job], 0) + 1
        job_columns = [s for s in ORDER if any(c.get(s) for c in by_label.values())]
        table = Table("rule (or task)", *job_columns, title=f"clustering {name}: batch jobs")
        for label in sorted(by_label):
            table.add_row(label, *(str(by_label[label].get(s, "")) for s in job_columns))
        console.print(table)
    for r in failed:
        job = f" (job {r['job']})" if r["job"] else ""
        data_id = DataId.from_key(str(r["data_id"]))
        console.print(
            f"failed  {r['task']} {data_id}{job}: {_last_line(r['error'])}", highlight=False, soft_wrap=True
        )
    if totals["failed"] > len(failed):
        console.print(
            f"... and {totals['failed'] - len(failed)} more failed quanta ('provgraph query failures')"
        )


def _last_line(error: object) -> str:
    lines = str(error or "").strip().splitlines()
    return lines[-1] if lines else "(no error recorded)"


def cancel_command(
    plan_id: PlanArg,
    wait: Annotated[
        float, typer.Option("--wait", min=1, help="Seconds to wait for the submission to stop.")
    ] = CANCEL_WAIT_SECONDS,
) -> None:
    """Stop a plan's running submission on this machine and record it as cancelled.

    Its process gives back the quanta it holds and stops its batch jobs (on Slurm, Parsl
    cancels its blocks with scancel). 'provgraph restart PLAN' resumes. Exit 1 if nothing runs
    the plan, or if what runs it is on another host (run cancel there).
    """
    with open_store(start_managed=False) as store:
        live = [e for e in live_executions(store, plan_id) if e.alive()]
        if not live:
            check_plan(store, plan_id)
            raise ExecutionError(
                f"nothing is running plan {plan_id!r}: there is no submission to cancel",
                hint=f"see what it came to with 'provgraph report {plan_id}'",
            )
        here = socket.gethostname()
        elsewhere = [e for e in live if e.lease.host != here]
        if elsewhere:
            e = elsewhere[0]
            raise ExecutionError(
                f"plan {plan_id!r} is run by execution {e.execution_id} on host {e.lease.host} "
                f"(pid {e.lease.pid})",
                hint=f"run 'provgraph cancel {plan_id}' on {e.lease.host}, where its batch jobs are managed",
            )
        for e in live:
            assert e.lease.pid is not None
            console.print(f"cancelling execution {e.execution_id} (pid {e.lease.pid}) ...")
            with contextlib.suppress(ProcessLookupError):  # gone meanwhile: the next run repairs
                os.kill(e.lease.pid, signal.SIGINT)  # as Ctrl-C: it gives its quanta back and stops its jobs
        deadline = time.monotonic() + wait
        pending = {e.execution_id: e for e in live}
        while pending and time.monotonic() < deadline:
            for e in list(pending.values()):
                if not _process_alive(e.lease.pid):
                    del pending[e.execution_id]
            time.sleep(0.2)
        if pending:
            raise ExecutionError(
                f"execution {next(iter(pending))} of plan {plan_id!r} did not stop within {wait:.0f} s",
                hint="wait, or stop it with kill; 'provgraph restart' repairs what it held",
            )
        reason = f"cancelled by provgraph cancel (user {os.environ.get('USER', 'unknown')})"
        for e in live:
            marked = mark_cancelled(store, e.execution_id, reason)
            console.print(f"cancelled execution {e.execution_id}: {marked} attempt(s) stopped")
    err_console.print(f"resume with: provgraph restart {plan_id}")


def _process_alive(pid: int | None) -> bool:
    """Whether the process runs still (a zombie, ended but not yet reaped, does not)."""
    if pid is None:
        return False
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


#: The activator whose options ``submit`` records (`ParslActivator.name`; not imported, so
#: that ``status`` loads no execution code).
SUBMITTED_BY = "parsl"


def submitted_clustering(store: GraphStore, plan_id: str, given: str | None) -> str | None:
    """The clustering whose jobs ``status`` and ``report`` count.

    The one given, else the last submit's, else the plan's only complete one (None if none).
    """
    if given:
        return given
    name = (last_options(store, plan_id, SUBMITTED_BY) or {}).get("clustering")
    if name is not None:
        return str(name)
    known = [c.name for c in list_clusterings(store, plan_id) if c.status == "complete"]
    return known[0] if len(known) == 1 else None


def job_state(counts: dict[str, int]) -> str:
    """A batch job's state from its quanta's statuses."""
    for state in ("failed", "running", "blocked"):
        if counts.get(state):
            return state
    if set(counts) <= {"succeeded", "skipped"}:
        return "succeeded"
    return "pending"


def status_command(
    plan_id: PlanArg,
    clustering: Annotated[
        str | None,
        typer.Option("--clustering", help="The clustering whose jobs to show; default the last submit's."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
) -> None:
    """A plan's quanta per task and status, and its batch jobs per rule and state, from the graph.

    Exit 1 when a quantum (or a batch job) failed or was blocked: the plan needs a rerun.
    """
    with open_store(start_managed=False) as store:
        check_plan(store, plan_id)
        per_task = status_counts(store, plan_id)
        name = submitted_clustering(store, plan_id, clustering)
        per_job = job_statuses(store, plan_id, name) if name else {}
        lost = lost_attempts(store, plan_id)
    states = {job: job_state(counts) for job, (_, counts) in per_job.items()}
    failed = any(c.get(s) for c in per_task.values() for s in _FAILED) or any(
        s in _FAILED for s in states.values()
    )
    if as_json:
        print_json({"plan_id": plan_id, "tasks": per_task, "clustering": name,
                    "jobs": {j: {"label": per_job[j][0], "state": states[j], "quanta": per_job[j][1]}
                             for j in per_job},
                    "lost": lost})  # fmt: skip
    else:
        _print_status(plan_id, per_task, name, per_job, states)
        _print_lost(lost)
    if failed:
        raise typer.Exit(1)


#: Quantum and batch-job states that make ``status`` exit 1.
_FAILED = ("failed", "blocked")


def _print_status(
    plan_id: str,
    per_task: dict[str, dict[str, int]],
    name: str | None,
    per_job: dict[str, tuple[str, dict[str, int]]],
    states: dict[str, str],
) -> None:
    columns = [s for s in ORDER if any(c.get(s) for c in per_task.values())]
    table = Table("task", *columns, title=f"plan {plan_id}: quanta")
    for task, counts in per_task.items():
        table.add_row(task, *(str(counts.get(s, "")) for s in columns))
    console.print(table)
    if not per_job:
        console.print("no batch jobs: submit with 'provgraph submit PLAN --clustering FILE'")
        return
    by_label: dict[str, dict[str, int]] = {}
    for job, (label, _) in per_job.items():
        by_label.setdefault(label, {})[states[job]] = by_label.setdefault(label, {}).get(states[job], 0) + 1
    columns = [s for s in ORDER if any(c.get(s) for c in by_label.values())]
    table = Table("rule (or task)", *columns, title=f"clustering {name}: batch jobs")
    for label in sorted(by_label):
        table.add_row(label, *(str(by_label[label].get(s, "")) for s in columns))
    console.print(table)
    stuck = [j for j in per_job if states[j] in {"failed", "blocked"}]
    for job in stuck[:10]:
        console.print(f"{states[job]:8} {job}", highlight=False)
    if len(stuck) > 10:
        console.print(f"... and {len(stuck) - 10} more failed or blocked jobs")


def _print_lost(lost: list[dict[str, Any]]) -> None:
    """The attempts the batch system lost, a line per reason."""
    for row in lost:
        console.print(
            f"[yellow]lost[/] {row['attempts']} attempt(s) to the batch system ({row['reason']}, not task "
            f"failures; their quanta stay retryable); latest: {escape(str(row['error']))}",
            highlight=False,
        )
