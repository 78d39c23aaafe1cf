"""``provgraph repo``: create, fill and inspect data repositories."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from provenance_graph.cli._data_ids import data_id_from_pairs
from provenance_graph.cli._output import console
from provenance_graph.model import DatasetType
from provenance_graph.repository import Repository

app = typer.Typer(help="Create, fill and inspect data repositories (where datasets live).")

PathArg = Annotated[Path, typer.Argument(help="The repository's directory.")]


@app.command()
def create(path: PathArg) -> None:
    """Create an empty repository at PATH (a new or empty directory)."""
    Repository.create(path).close()
    console.print(f"created repository {path}")


@app.command("make-demo")
def make_demo(
    path: PathArg,
    visits: Annotated[int, typer.Option(min=1, help="Visits (1..N).")] = 6,
    detectors: Annotated[int, typer.Option(min=1, help="Detectors per visit (0..M-1).")] = 4,
    tracts: Annotated[int, typer.Option(min=1, help="Tracts of the sky map.")] = 1,
) -> None:
    """Create a demo repository of N visits x M synthetic DemoCam detector images."""
    from provenance_graph.demo import make_demo_repo

    with make_demo_repo(path, visits, detectors, tracts) as repo:
        counts = repo.count()
    console.print(
        f"created demo repository {path}: " + ", ".join(f"{n} {t}" for t, n in sorted(counts.items()))
    )
    console.print(f'plan it with: provgraph plan {_demo_pipeline()} --repo {path} --where "visit IN (1..3)"')


def _demo_pipeline() -> str:
    from provenance_graph.demo import demo_pipeline_path

    return str(demo_pipeline_path())


@app.command("register-type")
def register_type(
    path: PathArg,
    name: Annotated[str, typer.Argument(help="Dataset type name, e.g. raw.")],
    dimensions: Annotated[
        str, typer.Option(help="Comma-separated dimensions, e.g. instrument,exposure,detector.")
    ],
    storage_class: Annotated[str, typer.Option(help="Image, Catalog or StructuredData.")],
) -> None:
    """Register a dataset type in the repository."""
    dims = tuple(d.strip() for d in dimensions.split(",") if d.strip())
    with Repository.open(path) as repo:
        repo.register_dataset_type(DatasetType(name=name, dimensions=dims, storage_class=storage_class))
    console.print(f"registered {name} ({', '.join(sorted(dims))}; {storage_class})")


@app.command()
def ingest(
    path: PathArg,
    dataset_type: Annotated[str, typer.Argument(help="A registered dataset type.")],
    file: Annotated[Path, typer.Argument(help="The existing file.")],
    data_id: Annotated[list[str], typer.Option("--data-id", "-d", help="key=value, repeated.")],
    run: Annotated[str, typer.Option(help="The run to register it in.")],
    graph: Annotated[bool, typer.Option(help="Also create its :Dataset node in Neo4j.")] = True,
) -> None:
    """Register an existing FILE as a dataset (and, by default, as a :Dataset node in the graph)."""
    with Repository.open(path) as repo:
        ref = repo.ref(dataset_type, data_id_from_pairs(data_id), run)
        uri = repo.ingest(ref, str(file))
    console.print(f"ingested {ref} at {uri}")
    if graph:
        from provenance_graph.store import open_store, register_datasets

        with open_store() as store:
            register_datasets(store, [(ref, uri)])
        console.print("registered its :Dataset node in the graph")


@app.command()
def sync(path: PathArg) -> None:
    """Create a :Dataset node, with its URI, for every dataset of the repository."""
    from provenance_graph.store import open_store, register_datasets

    with Repository.open(path) as repo:
        datasets = repo.datasets()
    with open_store() as store:
        done = register_datasets(store, datasets)
    console.print(f"registered {done} datasets of {path} in the graph")


@app.command()
def show(path: PathArg) -> None:
    """Show the repository's runs, dataset types and dataset counts."""
    with Repository.open(path) as repo:
        counts = repo.count()
        table = Table("dataset type", "dimensions", "storage class", "datasets")
        for name, dtype in sorted(repo.dataset_types().items()):
            table.add_row(name, ", ".join(dtype.dimensions), dtype.storage_class, str(counts.get(name, 0)))
        console.print(f"repository {path}; runs: {', '.join(repo.runs()) or '(none)'}")
        console.print(table)
