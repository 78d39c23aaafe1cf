"""What a worker does to run one quantum: outcomes, fingerprints, and what a failure leaves."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from provenance_graph.model import DatasetType, Quantum
from provenance_graph.pipeline import Pipeline
from provenance_graph.preflight import preflight
from provenance_graph.quantum_runner import QuantumRunner
from provenance_graph.repository import Repository

VD = ("instrument", "visit", "detector")


def _setup(tmp_path: Path, task: str) -> tuple[Repository, QuantumRunner, list[Quantum]]:
    repo = Repository.create(tmp_path / "repo")
    for name in ("a", "b"):
        repo.register_dataset_type(DatasetType(name=name, dimensions=VD, storage_class="StructuredData"))
    repo.insert_records("instrument", [{"instrument": "Cam"}])
    repo.insert_records("detector", [{"instrument": "Cam", "detector": 0}])
    repo.insert_records("visit", [{"instrument": "Cam", "visit": 1, "band": "r"}])
    repo.put({"x": 1}, repo.ref("a", {"instrument": "Cam", "visit": 1, "detector": 0}, "raw"))
    pipeline = Pipeline.from_yaml(f"tasks:\n  t: {{class: tests.support.tasks.{task}}}\n")
    graph = preflight(pipeline, repo, output_run="out")
    return repo, QuantumRunner(repo, pipeline), list(graph.quanta.values())


def test_a_success_reports_each_output_with_the_checksum_of_its_file(tmp_path: Path) -> None:
    repo, runner, [quantum] = _setup(tmp_path, "CopiesAtoB")
    outcome = runner.run(quantum)
    assert outcome.succeeded and outcome.exit_status == 0 and outcome.error is None
    [output] = outcome.outputs
    [ref] = quantum.outputs
    data = repo.path(ref).read_bytes()
    assert output.id == ref.id and output.size == len(data)
    assert output.checksum == "sha256:" + hashlib.sha256(data).hexdigest()
    assert outcome.peak_rss_mb is not None and outcome.peak_rss_mb > 0


def test_a_failure_is_an_outcome_and_leaves_no_output_behind(tmp_path: Path) -> None:
    repo, runner, [quantum] = _setup(tmp_path, "WritesThenFails")
    outcome = runner.run(quantum)
    assert not outcome.succeeded and outcome.exit_status == 1
    assert outcome.error is not None and outcome.error.startswith("RuntimeError: failed after writing b")
    assert "Traceback" in outcome.error
    [ref] = quantum.outputs
    assert not repo.exists(ref)  # so a rerun cannot skip it as if it had succeeded
    assert not repo.path(ref).exists()


def test_leftovers_of_a_killed_attempt_are_cleared_before_the_next(tmp_path: Path) -> None:
    repo, runner, [quantum] = _setup(tmp_path, "CopiesAtoB")
    [ref] = quantum.outputs
    path = repo.path(ref)
    path.parent.mkdir(parents=True, exist_ok=True)
    leftover = path.parent / f".{path.name}.abc123.tmp"  # what kill -9 during a write leaves
    leftover.write_text("half")
    assert runner.run(quantum).succeeded
    assert not leftover.exists() and path.exists()


def test_a_quantum_whose_output_is_registered_already_runs_again_cleanly(tmp_path: Path) -> None:
    repo, runner, [quantum] = _setup(tmp_path, "CopiesAtoB")
    [ref] = quantum.outputs
    repo.put({"stale": True}, ref)  # a partial earlier attempt registered it
    assert runner.run(quantum).succeeded
    assert repo.get(ref) == {"x": 1}


def test_a_killed_activator_counts_as_gone_before_it_is_reaped() -> None:
    """Workers watch their Activator; a zombie one (killed, not reaped yet) has ended too."""
    import subprocess
    import sys
    import time

    from provenance_graph.workers import _gone

    assert not _gone(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while Path(f"/proc/{child.pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert _gone(child.pid)  # ended, not reaped: kill(pid, 0) still succeeds
    child.wait()
    assert _gone(child.pid)


def test_a_worker_hears_of_its_activators_end_at_once_not_at_its_next_look() -> None:
    """The watch waits on the Activator's pidfd (Linux 5.3+), which is ready as soon as it ends."""
    import subprocess
    import sys

    from provenance_graph.workers import _end_of

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        waiter = _end_of(child.pid)
        if waiter is None:
            pytest.skip("no pidfd on this system: the watch looks every 0.1 s instead")
        assert waiter.poll(0) == [], "ready while the process runs"
        child.kill()
        assert waiter.poll(30_000), "not ready once the process ended"
    finally:
        child.kill()
        child.wait()
