"""A single-node Slurm cluster on this machine, for the tests: ``python -m tests.support.slurm start|stop|status``.

Debian's ``slurm-wlm`` (22.05) and ``munge``, run as root, with nothing of the system's own:
a ``munged --force`` with its own key and socket, a ``slurmctld`` and a ``slurmd`` with
their own ``slurm.conf``, ports, state, spool, log and pid directories, all under
``.pytest-slurm/`` in the checkout (``PROVGRAPH_TEST_SLURM`` moves it). Every connection is on
the loopback interface: one node, named as ``hostname -s`` says, at 127.0.0.1, sized from
``slurmd -C`` (a little memory held back). The client commands (``sbatch``, ``squeue``,
``srun``, ``scancel``, ``sinfo``) find it through ``SLURM_CONF`` (`SlurmCluster.env`); a
batch job inherits that variable, so an ``srun`` inside it does too.

What the configuration is for:

- ``ProctrackType=proctrack/linuxproc`` and ``TaskPlugin=task/none``: no cgroups (a container
  has none to give), processes tracked by parentage.
- ``JobAcctGatherType=jobacct_gather/linux`` with ``JobAcctGatherParams=OverMemoryKill`` and
  ``SelectTypeParameters=CR_Core_Memory``: without cgroups, this is how Slurm kills a job
  that uses more memory than it asked for (sampled every second); the job-completion log
  then says ``FAILED`` with exit code ``0:9``.
- ``JobCompType=jobcomp/filetxt``: one line per finished job in ``log/jobcomp.log``
  (`SlurmCluster.completed_jobs`), since there is no accounting database (``sacct`` does not
  work; Parsl falls back to ``squeue``).
- ``KillWait=2``: ``scancel`` escalates to SIGKILL after 2 s, so a cancelled job is gone quickly.

The cluster's state is kept across ``stop`` and ``start`` (job ids keep counting up); the
configuration is written afresh at every ``start``. ``stop`` cancels the jobs still there,
then stops the daemons it can tell are its own (their command lines name this directory).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.servers import free_port, port_free

__all__ = ["SlurmCluster", "SlurmError", "slurm_home"]

ROOT = Path(__file__).resolve().parents[2]
CLUSTER_NAME = "provgraph-test"
PARTITION = "debug"
#: Memory of the machine not offered to jobs (MB): the fraction, at least the floor.
_HELD_BACK = (0.05, 512)
_DAEMONS = ("munged", "slurmctld", "slurmd")


class SlurmError(RuntimeError):
    """Raised when the test cluster cannot start (a program missing, a daemon that died)."""


def slurm_home() -> Path:
    """Where the test cluster lives: ``PROVGRAPH_TEST_SLURM``, else ``.pytest-slurm/`` in the checkout."""
    return Path(os.environ.get("PROVGRAPH_TEST_SLURM") or ROOT / ".pytest-slurm").resolve()


def _node_hardware() -> dict[str, int]:
    """``slurmd -C``'s description of this machine: CPUs, sockets, cores, threads, memory (MB)."""
    done = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, timeout=60, check=False)
    found = dict(re.findall(r"(\w+)=(\d+)", done.stdout.splitlines()[0] if done.stdout else ""))
    keys = ("CPUs", "Boards", "SocketsPerBoard", "CoresPerSocket", "ThreadsPerCore", "RealMemory")
    if done.returncode != 0 or not all(k in found for k in keys):
        raise SlurmError(f"'slurmd -C' did not describe this machine: {done.stdout}{done.stderr}".strip())
    return {k: int(found[k]) for k in keys}


@dataclass(frozen=True)
class Status:
    """What runs of the test cluster: each daemon's pid (None: not running), and the node's state."""

    pids: dict[str, int | None]
    node_state: str | None

    @property
    def running(self) -> bool:
        """All three daemons run and the node takes jobs (``idle``, ``mixed`` or ``allocated``)."""
        return all(self.pids.values()) and (self.node_state or "").rstrip("*") in {"idle", "mix", "alloc"}


class SlurmCluster:
    """The test cluster in one directory: its files, daemons and the environment of its clients."""

    def __init__(self, home: Path | None = None) -> None:
        self.home = (home or slurm_home()).resolve()
        self.etc = self.home / "etc"
        self.conf = self.etc / "slurm.conf"
        self.state = self.home / "state"
        self.spool = self.home / "spool"
        self.log = self.home / "log"
        self.run = self.home / "run"
        self.munge = self.home / "munge"
        self.munge_socket = self.munge / "munge.socket"
        self.jobcomp_log = self.log / "jobcomp.log"
        self.node_name = socket.gethostname().split(".")[0]

    # --- what clients need ---------------------------------------------------------------

    def env(self) -> dict[str, str]:
        """The variables that point Slurm's client commands at this cluster."""
        return {"SLURM_CONF": str(self.conf)}

    def command(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Run a Slurm client command (``sinfo``, ``squeue``...) against this cluster."""
        return subprocess.run(
            list(args), env={**os.environ, **self.env()}, capture_output=True, text=True,
            timeout=timeout, check=False,
        )  # fmt: skip

    def completed_jobs(self) -> list[dict[str, str]]:
        """The job-completion log: one mapping per finished job (``JobId``, ``JobState``, ``ExitCode``...)."""
        if not self.jobcomp_log.exists():
            return []
        return [dict(re.findall(r"(\w+)=(\S*)", line)) for line in self.jobcomp_log.read_text().splitlines()]

    # --- status --------------------------------------------------------------------------

    def _pid_file(self, daemon: str) -> Path:
        return self.run / f"{daemon}.pid"

    def _pid(self, daemon: str) -> int | None:
        """The daemon's pid when it runs and its command line names this cluster's directory."""
        try:
            pid = int(self._pid_file(daemon).read_text().split()[0])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except (OSError, ValueError, IndexError):
            return None
        return pid if daemon in cmdline and str(self.home) in cmdline else None

    def node_state(self) -> str | None:
        """The node's state as ``sinfo`` gives it (``idle``, ``down*``...), None when slurmctld does not answer."""
        if not self.conf.exists():
            return None
        try:
            done = self.command(
                "sinfo", "--noheader", "--Node", "--format=%t", "--nodes", self.node_name, timeout=10
            )
        except subprocess.TimeoutExpired:
            return None
        state = done.stdout.strip()
        return state if done.returncode == 0 and state else None

    def status(self) -> Status:
        pids = {daemon: self._pid(daemon) for daemon in _DAEMONS}
        return Status(pids, self.node_state() if pids["slurmctld"] else None)

    # --- start and stop ------------------------------------------------------------------

    def _ports(self) -> dict[str, int]:
        """slurmctld's and slurmd's ports and srun's range: kept in ``ports.json`` while usable."""
        record = self.home / "ports.json"
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            kept = {k: int(v) for k, v in json.loads(record.read_text()).items()}
            if kept.keys() == {"slurmctld", "slurmd", "srun"} and all(
                port_free(kept[k]) for k in ("slurmctld", "slurmd")
            ):
                return kept
        ports: dict[str, int] = {}
        while len(set(ports.values())) < 2:
            ports = {"slurmctld": free_port(), "slurmd": free_port()}
        # srun listens on a few ports of a range; one above the ephemeral range is rarely taken.
        ports["srun"] = 20000 + (ports["slurmd"] % 200) * 50
        record.write_text(json.dumps(ports) + "\n")
        return ports

    def _write_config(self) -> None:
        hardware = _node_hardware()
        memory = hardware["RealMemory"] - max(int(hardware["RealMemory"] * _HELD_BACK[0]), _HELD_BACK[1])
        ports = self._ports()
        node = (
            f"NodeName={self.node_name} NodeAddr=127.0.0.1 NodeHostname={self.node_name}"
            f" CPUs={hardware['CPUs']} Boards={hardware['Boards']}"
            f" SocketsPerBoard={hardware['SocketsPerBoard']} CoresPerSocket={hardware['CoresPerSocket']}"
            f" ThreadsPerCore={hardware['ThreadsPerCore']} RealMemory={memory} State=UNKNOWN"
        )
        # A job that asks for no memory gets its cores' share of the node, so jobs can share it.
        per_cpu = memory // hardware["CPUs"]
        lines = [
            "# The provenance-graph tests' single-node Slurm (tests/support/slurm.py); rewritten at every start.",
            f"ClusterName={CLUSTER_NAME}",
            f"SlurmctldHost={self.node_name}(127.0.0.1)",
            f"SlurmctldPort={ports['slurmctld']}",
            f"SlurmdPort={ports['slurmd']}",
            f"SrunPortRange={ports['srun']}-{ports['srun'] + 49}",
            "CommunicationParameters=NoInAddrAny,NoCtldInAddrAny",
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={self.munge_socket}",
            f"StateSaveLocation={self.state}",
            f"SlurmdSpoolDir={self.spool}",
            f"SlurmctldPidFile={self._pid_file('slurmctld')}",
            f"SlurmdPidFile={self._pid_file('slurmd')}",
            f"SlurmctldLogFile={self.log / 'slurmctld.log'}",
            f"SlurmdLogFile={self.log / 'slurmd.log'}",
            "SlurmctldDebug=info",
            "SlurmdDebug=info",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "JobAcctGatherType=jobacct_gather/linux",
            "JobAcctGatherParams=OverMemoryKill",
            "JobAcctGatherFrequency=task=1",
            "AccountingStorageType=accounting_storage/none",
            "JobCompType=jobcomp/filetxt",
            f"JobCompLoc={self.jobcomp_log}",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core_Memory",
            f"DefMemPerCPU={per_cpu}",
            "SchedulerType=sched/backfill",
            "MpiDefault=none",
            "ReturnToService=2",
            "KillWait=2",
            "InactiveLimit=0",
            "MinJobAge=300",
            "SlurmctldTimeout=30",
            "SlurmdTimeout=60",
            node,
            f"PartitionName={PARTITION} Nodes={self.node_name} Default=YES MaxTime=INFINITE State=UP",
        ]
        self.conf.write_text("\n".join(lines) + "\n")

    def _start_munged(self) -> None:
        key = self.munge / "munge.key"
        if not key.exists():
            key.write_bytes(os.urandom(1024))
            key.chmod(0o600)
        if self._pid("munged"):
            return
        _run(
            "munged", "--force", f"--key-file={key}", f"--socket={self.munge_socket}",
            f"--pid-file={self._pid_file('munged')}", f"--log-file={self.log / 'munged.log'}",
            f"--seed-file={self.munge / 'munged.seed'}",
        )  # fmt: skip

    def start(self, timeout: float = 120) -> bool:
        """Start whatever of the cluster is not running; wait until the node takes jobs.

        Returns True when it started something, False when the cluster was running already.
        """
        if self.status().running:
            return False
        missing = [p for p in (*_DAEMONS, "sinfo", "sbatch") if shutil.which(p) is None]
        if missing:
            raise SlurmError(
                f"{', '.join(missing)} not found: install Debian's slurm-wlm, slurm-client and munge "
                "(make system-packages, as root)"
            )
        for directory in (self.etc, self.state, self.spool, self.log, self.run, self.munge):
            directory.mkdir(parents=True, exist_ok=True)
            directory.chmod(0o755)
        self._start_munged()
        if not self._pid("slurmctld") and not self._pid("slurmd"):
            self._write_config()  # else the running daemon's config (and ports) stays
        if not self._pid("slurmctld"):
            _run("slurmctld", "-f", str(self.conf), env=self.env())
        if not self._pid("slurmd"):
            _run("slurmd", "-f", str(self.conf), env=self.env())
        self.wait(timeout)
        return True

    def wait(self, timeout: float = 120) -> Status:
        """Wait until every daemon runs and the node is idle (or busy); a `SlurmError` after ``timeout`` s."""
        began = time.monotonic()
        while True:
            status = self.status()
            if status.running:
                return status
            dead = [d for d, pid in status.pids.items() if pid is None]
            waited = time.monotonic() - began
            # A daemon that is not running after 15 s has died (its log says why).
            if waited > timeout or (dead and waited > 15):
                raise SlurmError(
                    f"the test Slurm in {self.home} is not up after {waited:.0f} s: "
                    f"not running: {', '.join(dead) or 'none'}; node state: {status.node_state}; "
                    f"see the logs in {self.log}/"
                )
            if status.node_state and status.node_state.rstrip("*") in {"down", "drain", "drng", "fail"}:
                # A node left down by an earlier run (ReturnToService covers most cases).
                self.command("scontrol", "update", f"NodeName={self.node_name}", "State=RESUME")
            time.sleep(0.5)

    def stop(self, timeout: float = 60) -> None:
        """Cancel the cluster's jobs, then stop slurmd, slurmctld and munged (only our own)."""
        if self._pid("slurmctld") and self.conf.exists():
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.command("scancel", "--full", f"--partition={PARTITION}", timeout=20)
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline:
                    listed = self.command("squeue", "--noheader", "--format=%i", timeout=10)
                    if listed.returncode != 0 or not listed.stdout.strip():
                        break
                    time.sleep(0.5)
        for daemon in ("slurmd", "slurmctld", "munged"):
            pid = self._pid(daemon)
            if pid is None:
                continue
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout / 3
            while self._pid(daemon) == pid and time.monotonic() < deadline:
                time.sleep(0.2)
            if self._pid(daemon) == pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def _run(*command: str, env: dict[str, str] | None = None) -> None:
    """Start a daemon (it forks into the background) and fail loudly when it refuses."""
    done = subprocess.run(
        list(command),
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise SlurmError(f"{command[0]} exited {done.returncode}: {(done.stderr or done.stdout).strip()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.slurm", description="The tests' single-node Slurm on this machine."
    )
    parser.add_argument("action", choices=["start", "stop", "status"])
    parser.add_argument("--timeout", type=float, default=120, help="seconds to wait for the node (start)")
    args = parser.parse_args(argv)
    cluster = SlurmCluster()
    try:
        if args.action == "start":
            started = cluster.start(args.timeout)
            print(f"Slurm {'started' if started else 'already running'} in {cluster.home}")
            print(f"export SLURM_CONF={cluster.conf}")
        elif args.action == "stop":
            cluster.stop()
            print(f"Slurm in {cluster.home} stopped")
        else:
            status = cluster.status()
            for daemon, pid in status.pids.items():
                print(f"{daemon:10} {'pid ' + str(pid) if pid else 'not running'}")
            print(f"node       {cluster.node_name}: {status.node_state or 'unknown'}")
            print(f"export SLURM_CONF={cluster.conf}")
            return 0 if status.running else 3
    except SlurmError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
