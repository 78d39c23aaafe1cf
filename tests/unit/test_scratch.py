"""The peak-scratch model of `provenance_graph.clustering.scratch_peak`, on job DAGs worked by hand."""

import pytest

from provenance_graph.clustering import scratch_peak
from provenance_graph.errors import ClusteringCycleError


def test_a_chain_holds_a_job_until_its_consumer_has_finished() -> None:
    # a -> b -> c: while b runs, a's outputs (10) and b's (20) are there; c runs with b's and its own.
    found = scratch_peak({"a": 10, "b": 20, "c": 5}, {"a": ["b"], "b": ["c"]})
    assert found.order == ("a", "b", "c")
    assert (found.peak_bytes, found.peak_job, found.held_jobs) == (30, "b", 2)


def test_outputs_nothing_reads_leave_when_their_job_ends() -> None:
    # Three independent jobs: never more than one job's outputs at once.
    found = scratch_peak({"a": 10, "b": 30, "c": 20}, {})
    assert (found.peak_bytes, found.peak_job, found.held_jobs) == (30, "b", 1)


def test_a_fan_in_holds_every_parent_until_the_gathering_job() -> None:
    # a1, a2, a3 each feed z; z runs last with all three held.
    outputs = {"a1": 1, "a2": 2, "a3": 4, "z": 8}
    found = scratch_peak(outputs, {"a1": ["z"], "a2": ["z"], "a3": ["z"]})
    assert found.order == ("a1", "a2", "a3", "z")
    assert (found.peak_bytes, found.peak_job, found.held_jobs) == (15, "z", 4)


def test_ready_jobs_run_in_name_order() -> None:
    # b is ready before a's child c; among ready jobs the name sorting first runs.
    found = scratch_peak({"a": 1, "b": 1, "c": 1}, {"a": ["c"]})
    assert found.order == ("a", "b", "c")
    assert found.peak_bytes == 2  # a's outputs wait for c while b runs


def test_a_cycle_is_an_error() -> None:
    with pytest.raises(ClusteringCycleError):
        scratch_peak({"a": 1, "b": 1}, {"a": ["b"], "b": ["a"]})
