"""Site configs: where the Parsl Activator's batch jobs run (``provgraph submit --site FILE``).

A site config is a small YAML file naming a Parsl *provider* (how worker nodes are
obtained: the local machine, Slurm, PBS Pro, Kubernetes...), optionally a *launcher*,
and options passed through to the provider and to Parsl's ``HighThroughputExecutor``::

    provider: slurm
    provider_options: {partition: normal, walltime: "01:00:00", max_blocks: 4,
                       worker_init: "source /path/to/venv/bin/activate"}
    launcher: srun
    executor_options: {max_workers_per_node: 16}
    run_dir: /scratch/me/provgraph-parsl

Without a file the site is the local machine: one block of ``jobs`` workers, every
connection on the loopback interface. Everything is checked before Parsl starts:
an unknown provider, launcher or option is a `SiteConfigError` naming the file, the
key and the close match. Parsl itself is imported only when a config is built.
"""

from __future__ import annotations

import getpass
import inspect
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from provenance_graph.errors import SiteConfigError
from provenance_graph.model import suggest
from provenance_graph.textfiles import read_text_file

__all__ = ["PROVIDERS", "Resources", "SiteConfig", "load_site"]

#: Provider names and their classes in ``parsl.providers``.
PROVIDERS = {
    "local": "LocalProvider",
    "slurm": "SlurmProvider",
    "pbspro": "PBSProProvider",
    "torque": "TorqueProvider",
    "lsf": "LSFProvider",
    "gridengine": "GridEngineProvider",
    "condor": "CondorProvider",
    "kubernetes": "KubernetesProvider",
}
#: Launcher names and their classes in ``parsl.launchers``.
LAUNCHERS = {
    "single_node": "SingleNodeLauncher",
    "simple": "SimpleLauncher",
    "srun": "SrunLauncher",
    "mpiexec": "MpiExecLauncher",
    "aprun": "AprunLauncher",
    "jsrun": "JsrunLauncher",
}
#: Executor options the Activator sets itself.
_OURS = {"label", "provider"}
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class SiteConfig(BaseModel):
    """Where batch jobs run: a Parsl provider and HighThroughputExecutor options."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    provider: Literal["local", "slurm", "pbspro", "torque", "lsf", "gridengine", "condor", "kubernetes"] = (
        "local"
    )
    """The Parsl provider: ``local`` (this machine), or a batch system or Kubernetes."""
    provider_options: dict[str, Any] = Field(default_factory=dict)
    """Passed to the provider's class (e.g. ``partition``, ``walltime``, ``max_blocks``, ``worker_init``)."""
    launcher: Literal["single_node", "simple", "srun", "mpiexec", "aprun", "jsrun"] | None = None
    """How workers are started on a block's nodes; default: the provider's own."""
    launcher_options: dict[str, Any] = Field(default_factory=dict)
    """Passed to the launcher's class."""
    executor_options: dict[str, Any] = Field(default_factory=dict)
    """Passed to ``HighThroughputExecutor`` (e.g. ``max_workers_per_node``, ``address``)."""
    run_dir: Path | None = None
    """Where each plan's Parsl logs and state go (``<run_dir>/<plan>``); default
    ``<temp dir>/provgraph-parsl-<user>``, private to the user."""
    source: str = "the default site"
    """Where it was read from, for messages."""

    def check(self) -> None:
        """Check option names against the Parsl classes they go to (imports Parsl)."""
        from parsl import launchers, providers
        from parsl.executors import HighThroughputExecutor

        provider = getattr(providers, PROVIDERS[self.provider])
        _check_options(self.source, "provider_options", provider, self.provider_options)
        if self.launcher is not None:
            launcher = getattr(launchers, LAUNCHERS[self.launcher])
            _check_options(self.source, "launcher_options", launcher, self.launcher_options)
        _check_options(self.source, "executor_options", HighThroughputExecutor, self.executor_options, _OURS)

    def parsl_config(self, *, plan_id: str, workers: int, label: str) -> Any:
        """The ``parsl.config.Config`` of this site for one run of a plan with ``workers`` per node.

        Parsl's own retries stay 0: a retried batch job needs new claims and attempts in the
        graph, so the Activator retries jobs itself.
        """
        self.check()
        from parsl.config import Config

        executor = self.executor(label=label, workers=workers)
        run_dir = scratch_dir(self.run_dir, plan_id)
        return Config(
            executors=[executor], run_dir=str(run_dir), retries=0, usage_tracking=0, strategy_period=1
        )

    def workers_per_block(self, workers: int) -> int:
        """How many batch jobs one block (one batch-system job) runs at once."""
        return int(self.executor_options.get("max_workers_per_node", workers))

    def executor(self, *, label: str, workers: int, resources: Resources | None = None) -> Any:
        """A ``HighThroughputExecutor`` of this site; with ``resources``, its blocks ask for them.

        A block runs `workers_per_block` batch jobs at once, so it asks for that many times a
        job's memory and cores. On Slurm the requests are ``#SBATCH --mem=<MB>M``,
        ``--cpus-per-task`` and ``--time``; other providers get ``mem_per_node`` (GB, rounded
        up), ``cores_per_node`` and ``walltime`` where they take them; the local provider
        cannot enforce any.
        """
        from parsl import launchers, providers
        from parsl.executors import HighThroughputExecutor

        provider_options = dict(self.provider_options)
        if self.launcher is not None:
            provider_options["launcher"] = getattr(launchers, LAUNCHERS[self.launcher])(
                **self.launcher_options
            )
        executor_options: dict[str, Any] = {
            "max_workers_per_node": workers,
            "cores_per_worker": 1,
            "interchange_launch_cmd": _detached_interchange(),
        }
        if self.provider == "local":
            # One block on this machine; nothing listens beyond the loopback interface.
            provider_options = {"init_blocks": 1, "min_blocks": 1, "max_blocks": 1, **provider_options}
            # Workers left without an interchange (the Activator was killed) exit after 30 s.
            executor_options |= {
                "address": "127.0.0.1",
                "loopback_address": "127.0.0.1",
                "heartbeat_period": 5,
                "heartbeat_threshold": 30,
            }
        executor_options |= self.executor_options
        if resources is not None and self.provider != "local":
            per_block = self.workers_per_block(workers)
            accepted = set(inspect.signature(getattr(providers, PROVIDERS[self.provider])).parameters)
            provider_options |= resources.provider_options(
                self.provider, accepted, per_block, provider_options
            )
            if resources.cpus is not None:
                executor_options["cores_per_worker"] = resources.cpus
        try:
            provider = getattr(providers, PROVIDERS[self.provider])(**provider_options)
            return HighThroughputExecutor(label=label, provider=provider, **executor_options)
        except (TypeError, ValueError) as err:
            raise SiteConfigError(
                f"{self.source}: Parsl refused the {self.provider} site: {err}",
                hint="check the option values against Parsl's documentation of that provider",
            ) from err


@dataclass(frozen=True)
class Resources:
    """What one batch job asks the batch system for: a clustering rule's requests (BPS's keys)."""

    memory: int | None = None
    """MB (``request_memory``, grown by ``memory_multiplier`` after an out-of-memory kill)."""
    cpus: int | None = None
    """Cores (``request_cpus``)."""
    walltime: int | None = None
    """Seconds (``request_walltime``)."""

    def label(self) -> str:
        """A name for an executor of this class: ``mem2048-cpu1-wall600``."""
        parts = [f"mem{self.memory}" if self.memory else "", f"cpu{self.cpus}" if self.cpus else ""]
        parts.append(f"wall{self.walltime}" if self.walltime else "")
        return "-".join(p for p in parts if p) or "default"

    def provider_options(
        self, provider: str, accepted: set[str], per_block: int, options: dict[str, Any]
    ) -> dict[str, Any]:
        """Provider options asking for these resources for ``per_block`` jobs at once."""
        out: dict[str, Any] = {}
        if self.walltime is not None and "walltime" in accepted:
            hours, rest = divmod(self.walltime, 3600)
            out["walltime"] = f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
        if provider == "slurm":
            # --mem in MB (mem_per_node is whole GB); the site's own memory and core requests yield.
            lines = [str(options.get("scheduler_options", "")).rstrip("\n")]
            if self.memory is not None:
                lines.append(f"#SBATCH --mem={self.memory * per_block}M")
                out["mem_per_node"] = None
            if self.cpus is not None:
                lines.append(f"#SBATCH --cpus-per-task={self.cpus * per_block}")
                out["cores_per_node"] = None
            out["scheduler_options"] = "\n".join(line for line in lines if line)
            return out
        if self.memory is not None and "mem_per_node" in accepted:
            out["mem_per_node"] = -(-self.memory * per_block // 1024)
        if self.cpus is not None and "cores_per_node" in accepted:
            out["cores_per_node"] = self.cpus * per_block
        return out


def scratch_dir(run_dir: Path | None, plan_id: str) -> Path:
    """A plan's Parsl run directory, per user and per plan: ``<run_dir or temp>/<plan>``, made.

    The default parent, ``<temp dir>/provgraph-parsl-<user>``, is the user's alone (mode
    0700), so two users of one login node never share, or read, each other's logs.
    """
    if run_dir is None:
        run_dir = Path(tempfile.gettempdir()) / f"provgraph-parsl-{_UNSAFE.sub('_', getpass.getuser())}"
        run_dir.mkdir(mode=0o700, exist_ok=True)
        if run_dir.owner() != getpass.getuser() or run_dir.is_symlink():
            raise SiteConfigError(
                f"{run_dir} belongs to another user: it cannot hold your Parsl logs",
                hint="set run_dir in a site config (--site FILE) to a folder of your own",
            )
    path = run_dir / _UNSAFE.sub("_", plan_id)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _detached_interchange() -> list[str]:
    """Parsl's interchange command, started in a session of its own.

    Ctrl-C at a terminal signals the whole foreground process group; an interchange killed by
    it leaves Parsl's shutdown waiting for its answer forever. In its own session only the
    Activator stops it (at shutdown, or when a Ctrl-C has given the jobs back), and on Linux it
    is sent SIGTERM when the Activator dies (``kill -9``).
    """
    beside = Path(sys.executable).with_name("interchange.py")
    return [sys.executable, "-c", _SETSID_EXEC, str(beside) if beside.exists() else "interchange.py"]


#: Python that starts a new session, asks Linux for SIGTERM when its parent (the Activator)
#: dies, then becomes the command in argv[1:] (stdin kept).
_SETSID_EXEC = (
    "import contextlib, ctypes, os, signal, sys\n"
    "os.setsid()\n"
    "with contextlib.suppress(Exception):\n"
    "    ctypes.CDLL(None).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG\n"
    "os.execvp(sys.argv[1], sys.argv[1:])"
)


def _check_options(
    source: str,
    key: str,
    cls: type,
    options: dict[str, Any],
    reserved: set[str] | frozenset[str] = frozenset(),
) -> None:
    accepted = [p for p in inspect.signature(cls).parameters if p not in reserved]
    for name in options:
        if name in reserved:
            raise SiteConfigError(
                f"{source}: {key}.{name}: set by provgraph itself", hint=f"remove {name!r} from {key}"
            )
        if name not in accepted:
            raise SiteConfigError(
                f"{source}: {key}.{name}: {cls.__name__} has no option {name!r}",
                hint=suggest(name, accepted) or f"its options: {', '.join(accepted)}",
            )


def load_site(path: str | Path | None) -> SiteConfig:
    """Read and check a site config file; None gives the local site."""
    if path is None:
        return SiteConfig()
    path = Path(path)
    text = read_text_file(path, "site config", SiteConfigError)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise SiteConfigError(f"site config {path} is not YAML: {err}") from err
    if not isinstance(data, dict):
        raise SiteConfigError(
            f"site config {path} is not a mapping", hint="e.g. 'provider: slurm' with 'provider_options:'"
        )
    try:
        site = SiteConfig.model_validate({**data, "source": str(path)})
    except ValidationError as err:
        problem = err.errors()[0]
        where = ".".join(str(p) for p in problem["loc"])
        known = list(SiteConfig.model_fields) if problem["type"] == "extra_forbidden" else []
        if where == "provider":
            known = list(PROVIDERS)
        elif where == "launcher":
            known = list(LAUNCHERS)
        word = str(problem.get("input")) if where in {"provider", "launcher"} else where.split(".")[-1]
        raise SiteConfigError(
            f"{path}: {where}: {problem['msg']}",
            hint=suggest(word, known) or (f"one of: {', '.join(known)}" if known else None),
        ) from None
    site.check()
    return site
