"""Site configs of the Parsl Activator: checked before Parsl starts, with errors that name the culprit."""

from __future__ import annotations

import getpass
import tempfile
from pathlib import Path

import pytest

from provenance_graph.activators import SiteConfig, load_site
from provenance_graph.activators._site import Resources
from provenance_graph.clustering import QuantumDag, cluster_quanta, load_clustering
from provenance_graph.demo import demo_pipeline_path
from provenance_graph.errors import SiteConfigError
from provenance_graph.synthetic import drp_plan


def _site(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(text)
    return path


def test_no_file_is_the_local_site_on_loopback_with_a_run_dir_under_the_temp_dir() -> None:
    site = load_site(None)
    config = site.parsl_config(plan_id="my/plan", workers=2, label="provgraph")
    [executor] = config.executors
    assert executor.address == "127.0.0.1" and executor.loopback_address == "127.0.0.1"
    assert executor.max_workers_per_node == 2
    assert type(executor.provider).__name__ == "LocalProvider" and executor.provider.max_blocks == 1
    assert config.retries == 0 and config.usage_tracking == 0
    scratch = Path(tempfile.gettempdir()) / f"provgraph-parsl-{getpass.getuser()}"
    assert Path(config.run_dir) == scratch / "my_plan"  # per user and per plan
    assert scratch.stat().st_mode & 0o777 == 0o700 and scratch.owner() == getpass.getuser()


def test_a_site_run_dir_is_per_plan_too(tmp_path: Path) -> None:
    path = _site(tmp_path, "provider: local\nrun_dir: " + str(tmp_path / "scratch") + "\n")
    config = load_site(path).parsl_config(plan_id="a/plan", workers=1, label="provgraph")
    assert Path(config.run_dir) == tmp_path / "scratch" / "a_plan"


def test_a_slurm_site_passes_its_options_through(tmp_path: Path) -> None:
    path = _site(
        tmp_path,
        "provider: slurm\nprovider_options: {partition: normal, walltime: '01:00:00', max_blocks: 4}\n"
        "launcher: srun\nexecutor_options: {max_workers_per_node: 16}\n"
        f"run_dir: {tmp_path / 'runinfo'}\n",
    )
    config = load_site(path).parsl_config(plan_id="p", workers=2, label="provgraph")
    [executor] = config.executors
    assert type(executor.provider).__name__ == "SlurmProvider"
    assert executor.provider.partition == "normal" and executor.provider.max_blocks == 4
    assert type(executor.provider.launcher).__name__ == "SrunLauncher"
    assert executor.max_workers_per_node == 16 and config.run_dir == str(tmp_path / "runinfo" / "p")


def test_a_resource_class_asks_slurm_for_each_workers_share_of_a_block(tmp_path: Path) -> None:
    path = _site(
        tmp_path,
        "provider: slurm\nprovider_options: {partition: normal, mem_per_node: 64, scheduler_options: "
        "'#SBATCH --qos=normal'}\nexecutor_options: {max_workers_per_node: 4}\n",
    )
    site = load_site(path)
    executor = site.executor(label="big", workers=2, resources=Resources(memory=1500, cpus=2, walltime=5400))
    provider = executor.provider
    # A block runs 4 jobs at once: 4 x 1500 MB and 4 x 2 cores, in MB (not whole GB).
    lines = provider.scheduler_options.splitlines()
    assert "#SBATCH --qos=normal" in lines and "#SBATCH --mem=6000M" in lines
    assert "#SBATCH --cpus-per-task=8" in lines and provider.mem_per_node is None
    assert provider.walltime == "01:30:00" and executor.cores_per_worker == 2
    # Other providers: whole GB per node, rounded up, where they take it.
    assert Resources(memory=1500).provider_options("pbspro", {"mem_per_node"}, 4, {}) == {"mem_per_node": 6}


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("provider: slurmm\n", ["site.yaml: provider:", "did you mean 'slurm'"]),
        ("provider: slurm\nprovider_options: {partiton: x}\n", ["provider_options.partiton", "'partition'"]),
        ("provider_option: {}\n", ["site.yaml: provider_option:", "did you mean 'provider_options'"]),
        ("executor_options: {label: x}\n", ["executor_options.label: set by provgraph itself"]),
        ("launcher: srunn\n", ["site.yaml: launcher:", "did you mean 'srun'"]),
        ("- a list\n", ["is not a mapping"]),
        ("provider: [\n", ["is not YAML"]),
    ],
)
def test_a_bad_site_config_names_the_culprit(tmp_path: Path, text: str, words: list[str]) -> None:
    with pytest.raises(SiteConfigError) as caught:
        load_site(_site(tmp_path, text))
    for word in words:
        assert word in str(caught.value)


def test_a_missing_site_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SiteConfigError, match="site config .* does not exist"):
        load_site(tmp_path / "nope.yaml")


def test_site_config_is_frozen() -> None:
    with pytest.raises(ValueError, match="frozen"):
        SiteConfig().provider = "slurm"  # type: ignore[misc]


def test_blast_radii_are_each_job_and_everything_downstream_of_it() -> None:
    graph = drp_plan(2, 3, plan_id="p", output_run="r")
    jobs = cluster_quanta(
        QuantumDag.from_plan(graph), load_clustering(Path(demo_pipeline_path()).with_name("clustering.yaml"))
    )
    radii = jobs.blast_radii()
    for job in jobs:
        lost, todo = {job.name}, [job.name]
        while todo:
            for child in jobs.children(todo.pop()):
                if child not in lost:
                    lost.add(child)
                    todo.append(child)
        assert radii[job.name] == (len(lost), sum(len(jobs.jobs[j].quanta) for j in lost))
