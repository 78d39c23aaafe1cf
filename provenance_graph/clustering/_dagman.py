"""HTCondor DAGMan files for a job DAG: one submit description per batch job.

``write_dagman`` writes, into one directory::

    <plan>.dag            JOB <job> jobs/<job>.sub   (one line per batch job)
                          PARENT <job> CHILD <job> ...   (the job DAG's edges)
                          RETRY <job> <n>            (when retries are asked for)
    jobs/<job>.sub        a submit description running ``provgraph run-job``
    logs/                 where the jobs' stdout and stderr go

Paths in the DAG file are relative to that directory: submit it from there
(``cd DIR && condor_submit_dag <plan>.dag``). No password or other secret is
written: a job finds Neo4j as any ``provgraph`` command does (``NEO4J_*`` variables,
which ``getenv`` passes on, or the config file).

We write the files ourselves rather than with the ``htcondor`` bindings'
``htcondor.dags``: three kinds of line do not justify a large native wheel, and the
tests read the files back and compare them with the job DAG.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from provenance_graph.clustering._jobs import JobGraph
from provenance_graph.clustering._spec import ClusterRule
from provenance_graph.errors import ClusteringError

__all__ = ["DagmanFiles", "condor_arguments", "write_dagman"]

_SAFE_FILE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class DagmanFiles:
    """What `write_dagman` wrote."""

    dag: Path
    """The DAG input file."""
    submit_files: dict[str, Path]
    """The submit description of each job, by job name."""
    edges: int
    """PARENT/CHILD pairs written."""


def condor_arguments(args: Sequence[str]) -> str:
    """``arguments`` in HTCondor's new syntax: double-quoted, each argument single-quoted if needed."""
    parts = []
    for arg in args:
        text = arg.replace('"', '""')
        if not text or any(ch in text for ch in " \t'"):
            text = "'" + text.replace("'", "''") + "'"
        parts.append(text)
    return '"' + " ".join(parts) + '"'


def _submit_description(
    jobs: JobGraph, name: str, command: Sequence[str], extra: Sequence[str], job_files: bool
) -> str:
    job = jobs.jobs[name]
    if job_files:
        args = [*command[1:], "run-job", "--job-file", f"jobs/{name}.json"]
    else:
        args = [*command[1:], "run-job", "--plan", jobs.plan_id, "--clustering", jobs.name, "--job", name]
    tasks = ", ".join(job.tasks)
    lines = [
        f"# provenance-graph batch job {name}: {len(job.quanta)} quanta of {tasks}",
        f"# plan {jobs.plan_id}, clustering {jobs.name}; run it with the same provgraph as wrote it",
        "universe   = vanilla",
        f"executable = {command[0]}",
        f"arguments  = {condor_arguments(args)}",
        (
            "# the job needs no database: it writes its attempts to a journal (see its job file)"
            if job_files
            else "# the job finds Neo4j from NEO4J_* variables of the submitting environment "
            "(or the config file)"
        ),
        "getenv     = true",
        f"output     = logs/{name}.out",
        f"error      = logs/{name}.err",
        *_resources(jobs.rule(name)),
        f'+ProvgraphPlan = "{jobs.plan_id.replace(chr(34), "")}"',
        f'+ProvgraphJob = "{name}"',
        *extra,
        "queue",
        "",
    ]
    return "\n".join(lines)


def _resources(rule: ClusterRule | None) -> list[str]:
    """The submit lines of a rule's BPS job keys: cores, memory (grown on each retry), disk, wall time."""
    lines = [f"request_cpus = {rule.request_cpus if rule and rule.request_cpus else 1}"]
    if rule is None:
        return lines
    if rule.request_memory:
        memory = str(rule.request_memory)
        if rule.memory_multiplier and rule.memory_multiplier > 1:
            # DAGMan sets $(RETRY) to the node's retry number, 0 the first time: as BPS does.
            memory = f"int({rule.request_memory} * pow({float(rule.memory_multiplier)}, $(RETRY:0)))"
            if rule.request_memory_max:
                memory = f"min({{{memory}, {rule.request_memory_max}}})"
        lines.append(f"request_memory = {memory}")  # MB
    if rule.request_disk:
        lines.append(f"request_disk = {rule.request_disk * 1024}")  # KiB, HTCondor's unit
    if rule.request_walltime:
        # HTCondor has no wall-time request: a job running longer is removed (DAGMan may retry it).
        running_for = "(time() - EnteredCurrentStatus)"
        lines.append(f"periodic_remove = (JobStatus == 2) && ({running_for} > {rule.request_walltime})")
    return lines


def _write(path: Path, text: str) -> None:
    """Write under a temporary name, then rename: a crash never leaves half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_dagman(
    jobs: JobGraph,
    out_dir: str | Path,
    *,
    command: Sequence[str],
    retry: int = 0,
    submit_extra: Sequence[str] = (),
    journals: Mapping[str, Path] | None = None,
) -> DagmanFiles:
    """Write the DAG input file and one submit description per job into ``out_dir``.

    Parameters
    ----------
    jobs
        The batch jobs and their DAG.
    out_dir
        Created if missing; files of an earlier export are overwritten.
    command
        The ``provgraph`` executable (an absolute path) and any leading arguments;
        ``run-job --plan P --clustering C --job J`` is appended.
    retry
        ``RETRY <job> <retry>`` for every job when above 0, but those of a rule with
        ``numberOfRetries``, which take that.
    submit_extra
        Lines added to every submit description (``request_memory = 4GB``, ...).
    journals
        Each job's journal, when ``jobs/<job>.json`` job files are written beside (a plan of
        our own): each job then runs ``run-job --job-file jobs/<job>.json``, with no database,
        and a ``SCRIPT POST`` records its journal on the submitting host (``record``).
        Without, each job runs ``run-job --plan P --clustering C --job J`` against Neo4j.
    """
    if retry < 0:
        raise ClusteringError(f"--retry must be 0 or more, not {retry}")
    if not command:
        raise ClusteringError("no command to run the jobs with")
    out = Path(out_dir)
    (out / "jobs").mkdir(parents=True, exist_ok=True)
    (out / "logs").mkdir(exist_ok=True)
    submit_files: dict[str, Path] = {}
    for name in jobs.jobs:
        path = out / "jobs" / f"{name}.sub"
        _write(path, _submit_description(jobs, name, command, submit_extra, journals is not None))
        submit_files[name] = path
    children: dict[str, list[str]] = defaultdict(list)
    for parent, child in jobs.edges:
        children[parent].append(child)
    lines = [
        f"# provenance-graph: plan {jobs.plan_id}, clustering {jobs.name}",
        f"# {len(jobs.jobs)} batch jobs, {len(jobs.edges)} dependencies; submit from this directory:",
        f"#   condor_submit_dag {_SAFE_FILE.sub('_', jobs.plan_id)}.dag",
    ]
    lines += [f"JOB {name} jobs/{name}.sub" for name in jobs.jobs]
    for parent in jobs.jobs:  # topological order, children sorted: a stable file
        if children.get(parent):
            lines.append(f"PARENT {parent} CHILD {' '.join(sorted(children[parent]))}")
    for name, journal in (journals or {}).items():
        # Runs on the submitting host when the job ends, whatever its exit: DAGMan then takes
        # the POST script's exit as the node's, so it passes the job's own on ($RETURN).
        post = [*command[1:], "record", str(journal), "--job-exit", "$RETURN"]
        lines.append(f"SCRIPT POST {name} {command[0]} {' '.join(post)}")
    for name in jobs.jobs:
        rule = jobs.rule(name)
        times = rule.number_of_retries if rule and rule.number_of_retries is not None else retry
        if times:
            lines.append(f"RETRY {name} {times}")
    dag = out / f"{_SAFE_FILE.sub('_', jobs.plan_id)}.dag"
    _write(dag, "\n".join(lines) + "\n")
    return DagmanFiles(dag=dag, submit_files=submit_files, edges=len(jobs.edges))
