"""Attempt journals: records survive a kill mid-write, and a torn record never spoils the next."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from provenance_graph.journal import JournalRecord, JournalWriter, read_journal, read_journals
from provenance_graph.model import AttemptOutcome, OutputRecord


def _record(i: int, *, error: str | None = None) -> JournalRecord:
    outputs = () if error else (OutputRecord(f"d{i}", f"file:///r/d{i}.npy", 100 + i, "sha256:" + "ab" * 32),)
    outcome = AttemptOutcome(
        quantum_id=f"q{i}", succeeded=error is None, duration_s=0.5, host="node1", pid=42,
        peak_rss_mb=12.5, exit_status=0 if error is None else 1, error=error, outputs=outputs,
        input_checksums=() if error else ((f"bias{i}", "sha256:" + "cd" * 32),),
    )  # fmt: skip
    return JournalRecord(plan_id="p", execution_id="e", job="job_1", outcome=outcome)


def test_records_read_back_equal_in_the_order_written(tmp_path: Path) -> None:
    path = tmp_path / "j" / "job_1.jsonl"
    written = [_record(0), _record(1, error="ValueError: bad pixel")]
    with JournalWriter(path) as journal:
        for record in written:
            journal.write(record)
    read = read_journal(path)
    assert read.records == written and read.torn == []
    assert len({r.record_id for r in read.records}) == 2


def test_a_torn_last_line_is_skipped_and_the_next_writer_seals_it(tmp_path: Path) -> None:
    path = tmp_path / "job_1.jsonl"
    with JournalWriter(path) as journal:
        journal.write(_record(0))
    whole = path.read_bytes()
    with path.open("ab") as f:  # what a kill half way through a write leaves
        f.write(whole[: len(whole) // 2])
    read = read_journal(path)
    assert [r.outcome.quantum_id for r in read.records] == ["q0"]
    assert read.torn == [f"{path}:2"]
    with JournalWriter(path) as journal:
        journal.write(_record(1))
    read = read_journal(path)
    assert [r.outcome.quantum_id for r in read.records] == ["q0", "q1"]
    assert read.torn == [f"{path}:2"]  # still skipped, and it took nothing with it


def test_a_flipped_byte_is_caught_by_the_crc(tmp_path: Path) -> None:
    path = tmp_path / "job_1.jsonl"
    with JournalWriter(path) as journal:
        journal.write(_record(0))
        journal.write(_record(1))
    data = bytearray(path.read_bytes())
    data[data.index(b"q0") + 1] = ord("9")
    path.write_bytes(bytes(data))
    read = read_journals([tmp_path])  # a folder: its journals
    assert [r.outcome.quantum_id for r in read.records] == ["q1"]
    assert read.torn == [f"{path}:1"]


def test_writers_killed_mid_write_lose_at_most_their_own_unfinished_record(tmp_path: Path) -> None:
    """Two real processes append big records to one journal; one is SIGKILLed while writing."""
    path = tmp_path / "shared.jsonl"
    script = textwrap.dedent(
        f"""
        import sys
        from tests.unit.test_journal import _record
        from provenance_graph.journal import JournalWriter
        with JournalWriter({str(path)!r}) as journal:
            for i in range(100000):
                journal.write(_record(i, error=sys.argv[1] * 20000))
        """
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, tag]) for tag in "ab"]
    deadline = time.monotonic() + 60
    while (not path.exists() or path.stat().st_size < 2_000_000) and time.monotonic() < deadline:
        time.sleep(0.05)
    for proc in procs:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    read = read_journal(path)
    assert len(read.records) > 10
    assert len(read.torn) <= 2  # at most one unfinished record per writer
    for record in read.records:
        assert record.outcome.error in ("a" * 20000, "b" * 20000)
    with JournalWriter(path) as journal:
        journal.write(_record(-1))
    again = read_journal(path)
    assert again.records[-1].outcome.quantum_id == "q-1"
    assert len(again.records) == len(read.records) + 1
