"""What lost a batch job: the workflow engine's error, and the batch system's own account of it.

A Parsl batch job whose future raises was lost by the infrastructure, never by its task (a
task's failure is an outcome, `provenance_graph.quantum_runner.run_batch_job`): its block was
never started (``sbatch`` refused it), or the batch system killed it (out of memory, wall
time, node lost, cancelled), or its worker stopped answering. `run_unit` runs in the worker
and first leaves a *marker* naming the batch-system job it runs in (``$SLURM_JOB_ID``...);
`infrastructure_failure` reads it back and asks the batch system (Slurm's ``scontrol``, else
``sacct``) for the job's state, exit code and output, and says which log tells more.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from provenance_graph.logs import suppress_and_log
from provenance_graph.model import AttemptOutcome, InfrastructureFailure, Quantum
from provenance_graph.quantum_runner import JournalTarget, WorkerSpec, run_batch_job

__all__ = ["infrastructure_failure", "run_unit"]

_log = logging.getLogger(__name__)

#: Environment variables that name the batch-system job a process runs in.
_JOB_ID_VARIABLES = ("SLURM_JOB_ID", "PBS_JOBID", "LSB_JOBID", "JOB_ID")
#: Slurm's job states that are not final yet.
_NOT_ENDED = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "RESIZING"}
#: How long to wait for the batch system to finish the job it killed (seconds).
_SETTLE_SECONDS = 30.0
#: What the job's output says when Slurm killed it for its memory or time.
_OUT_OF_MEMORY = re.compile(r"exceeded (job )?memory limit|out.of.memory|oom.kill", re.I)
_TIME_LIMIT = re.compile(r"due to time limit", re.I)
#: The batch system's own error lines in Parsl's message (``sbatch: error: invalid partition ...``).
_COMMAND_ERROR = re.compile(r"\b(?:sbatch|qsub|bsub|condor_submit|kubectl)\S*: error: [^\n]*")
#: How the batch systems of Parsl's providers are named in messages.
_NAMES = {"slurm": "Slurm", "pbspro": "PBS Pro", "torque": "Torque", "lsf": "LSF",
          "gridengine": "Grid Engine", "condor": "HTCondor", "kubernetes": "Kubernetes"}  # fmt: skip


def run_unit(
    marker: str | None,
    spec: WorkerSpec,
    quanta: Sequence[Quantum],
    activator: tuple[str, int] | None = None,
    journal: JournalTarget | None = None,
) -> list[AttemptOutcome]:
    """`run_batch_job`, after leaving at ``marker`` which batch-system job, host and process run it."""
    if marker is not None:
        job_id = next((os.environ[v] for v in _JOB_ID_VARIABLES if os.environ.get(v)), None)
        with suppress_and_log(_log, logging.WARNING, "could not write the batch job's marker %s", marker):
            Path(marker).write_text(
                json.dumps({"batch_job_id": job_id, "host": socket.gethostname(), "pid": os.getpid()})
            )
    return run_batch_job(spec, quanta, activator, journal)


def _marker(path: Path | None) -> dict[str, object]:
    if path is None or not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        _log.debug("batch job marker %s unreadable", path, exc_info=True)
        return {}
    return data if isinstance(data, dict) else {}


def slurm_job(job_id: str, settle: float = _SETTLE_SECONDS) -> dict[str, str]:
    """Slurm's record of a job (``JobState``, ``ExitCode``, ``Reason``, ``StdErr``...), once it ended.

    ``scontrol show job`` while slurmctld remembers the job (``MinJobAge``), else ``sacct``; waits
    up to ``settle`` seconds for a job still completing. Empty when Slurm does not answer.
    """
    deadline = time.monotonic() + settle
    record: dict[str, str] = {}
    while True:
        record = _scontrol(job_id) or _sacct(job_id)
        state = record.get("JobState", "")
        if state and state not in _NOT_ENDED:
            return record
        if time.monotonic() > deadline:
            return record
        time.sleep(1.0)


def _run(*command: str) -> str | None:
    if shutil.which(command[0]) is None:
        return None
    try:
        done = subprocess.run(list(command), capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        _log.debug("%s did not answer", command[0], exc_info=True)
        return None
    return done.stdout if done.returncode == 0 else None


def _scontrol(job_id: str) -> dict[str, str]:
    out = _run("scontrol", "show", "job", "--oneliner", job_id)
    return dict(re.findall(r"(\w+)=(\S*)", out)) if out else {}


def _sacct(job_id: str) -> dict[str, str]:
    out = _run("sacct", "--noheader", "--parsable2", "-X", "--format=State,ExitCode", "--jobs", job_id)
    if not out or not out.strip():
        return {}
    state, _, code = out.splitlines()[0].partition("|")
    return {"JobState": state.split()[0], "ExitCode": code}


def _tail(path: str | None, lines: int = 20) -> str:
    if not path:
        return ""
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _reason(state: str, output: str) -> str:
    if state == "OUT_OF_MEMORY" or _OUT_OF_MEMORY.search(output):
        return "out_of_memory"
    if state in {"TIMEOUT", "DEADLINE"} or _TIME_LIMIT.search(output):
        return "walltime"
    if state == "NODE_FAIL":
        return "node_lost"
    if state == "CANCELLED":
        return "cancelled"
    if state in {"FAILED", "PREEMPTED", "BOOT_FAIL"}:
        return "killed"
    return "worker_lost"


def infrastructure_failure(
    err: BaseException,
    *,
    provider: str,
    marker: Path | None,
    log: Path,
) -> InfrastructureFailure:
    """What lost a batch job whose Parsl future raised ``err``; ``log`` is Parsl's ``parsl.log``.

    With a marker (the job started): Slurm's state of the job it ran in, its exit code, and the
    memory or time-limit lines of its output. Without one (it never started): Parsl's error,
    e.g. ``sbatch`` refusing the job.
    """
    started = _marker(marker)
    job_id = str(started["batch_job_id"]) if started.get("batch_job_id") else None
    name = _NAMES.get(provider, provider)
    said = " ".join(str(err).split())[:400] or type(err).__name__
    if not started:
        refused = "BadStateException" in type(err).__name__ or "bad state" in said.lower()
        # The batch system's own words first (sbatch's error), then Parsl's.
        words = list(dict.fromkeys(m.strip() for m in _COMMAND_ERROR.findall(str(err))))
        said = "; ".join(words[:2]) if words else f"{type(err).__name__}: {said}"
        return InfrastructureFailure(
            reason="submission_refused" if refused else "worker_lost",
            message=(
                f"the {name} batch job never started: {said}; see {log} "
                f"and the job scripts and their output in {log.parent / 'submit_scripts'}/"
            ),
            log=str(log),
        )
    record = slurm_job(job_id) if job_id and provider == "slurm" else {}
    state = record.get("JobState", "")
    stderr = record.get("StdErr") or None
    output = _tail(stderr) + "\n" + said
    reason = _reason(state, output)
    if not record and reason == "worker_lost" and job_id:
        reason = "killed"
    what = f"{name} job {job_id}" if job_id else f"the {name} batch job on {started.get('host')}"
    slurm_said = next((line.strip() for line in output.splitlines() if _OUT_OF_MEMORY.search(line)), "")
    parts = [f"{what} {state or 'ended'}"]
    if record.get("ExitCode"):
        parts.append(f"ExitCode {record['ExitCode']}")
    if record.get("Reason") and record["Reason"] != "None":
        parts.append(f"Reason {record['Reason']}")
    message = ", ".join(parts) + f" ({reason.replace('_', ' ')})"
    if slurm_said:
        message += f": {slurm_said[:200]}"
    message += f"; its output: {stderr}" if stderr else ""
    message += f"; see {log}"
    return InfrastructureFailure(
        reason=reason,
        message=message,
        batch_job_id=job_id,
        batch_state=state or None,
        batch_exit_code=record.get("ExitCode") or None,
        log=stderr or str(log),
    )
