"""``provgraph repo``: create, fill and inspect data repositories."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from provenance_graph.cli._data_ids import data_id_from_pairs
from provenance_graph.cli._output import console
from provenance_graph.errors import ModelError, RepositoryError
from provenance_graph.model import DatasetType, Timespan, parse_time
from provenance_graph.repository import Repository, read_records_file

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


@app.command("add-records")
def add_records(
    path: PathArg,
    files: Annotated[
        list[Path],
        typer.Argument(
            help="YAML files (element name -> list of records) or CSV files named after their "
            "element (detector.csv); see docs/pipelines.md.",
        ),
    ],
) -> None:
    """Add dimension records and overlap rows from FILES, all or none (re-adding identical ones is fine)."""
    with Repository.open(path) as repo:
        entries = [entry for file in files for entry in read_records_file(file, repo.universe)]
        counts = repo.add_records(entries)
    added = [f"{new} {element}" for element, (new, _old) in counts.items() if new]
    present = sum(old for _new, old in counts.values())
    console.print(
        f"{'added ' + ', '.join(added) if added else 'added nothing'} to {path}"
        + (f" ({present} already present)" if present else "")
    )


@app.command()
def ingest(
    path: PathArg,
    dataset_type: Annotated[str, typer.Argument(help="A registered dataset type.")],
    file: Annotated[Path, typer.Argument(help="The existing file.")],
    data_id: Annotated[list[str], typer.Option("--data-id", "-d", help="key=value, repeated.")],
    run: Annotated[str, typer.Option(help="The run to register it in.")],
    graph: Annotated[bool, typer.Option(help="Also create its :Dataset node in Neo4j.")] = True,
) -> None:
    """Register an existing FILE as a dataset (and, by default, as a :Dataset node in the graph).

    Every value of the data ID needs its dimension record (provgraph repo add-records).
    """
    with Repository.open(path) as repo:
        ref = repo.ref(dataset_type, data_id_from_pairs(data_id), run)
        uri = repo.ingest(ref, str(file))
    console.print(f"ingested {ref} at {uri}")
    if graph:
        from provenance_graph.store import open_store, register_datasets

        with open_store() as store:
            register_datasets(store, [(ref, uri)])
        console.print("registered its :Dataset node in the graph")


def certify(
    path: PathArg,
    input_run: Annotated[str, typer.Argument(help="The run that holds the datasets to certify.")],
    output_collection: Annotated[
        str, typer.Argument(help="The calibration collection (made if it does not exist).")
    ],
    dataset_type: Annotated[str, typer.Argument(help="The dataset type to certify, e.g. bias.")],
    begin_date: Annotated[
        str | None,
        typer.Option(help="ISO-8601 TAI time the validity range begins (included); default: always."),
    ] = None,
    end_date: Annotated[
        str | None,
        typer.Option(help="ISO-8601 TAI time the validity range ends (excluded); default: never."),
    ] = None,
) -> None:
    """Certify the DATASET_TYPE datasets of INPUT_RUN into OUTPUT_COLLECTION with a validity range.

    As butler certify-calibrations; a lookup takes the dataset whose range covers an observation's time.
    """
    try:
        validity = Timespan(
            begin=None if begin_date is None else parse_time(begin_date, "--begin-date"),
            end=None if end_date is None else parse_time(end_date, "--end-date"),
        )
    except ModelError as err:
        raise RepositoryError(err.message, hint=err.hint) from None
    with Repository.open(path) as repo:
        new, old = repo.certify(input_run, output_collection, dataset_type, validity)
    console.print(
        f"certified {new + old} {dataset_type} datasets of run {input_run} into {output_collection}, "
        f"valid {validity}" + (f" ({old} were already)" if old else "")
    )


app.command("certify")(certify)
app.command("certify-calibrations", hidden=True)(certify)  # Butler's name for it


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
        records = repo.record_counts()
        certified = repo.certified_counts()
        console.print(f"repository {path}; runs: {', '.join(repo.runs()) or '(none)'}")
        console.print("dimension records: " + (", ".join(f"{n} {e}" for e, n in records.items()) or "(none)"))
        for collection, types in certified.items():
            console.print(
                f"calibration collection {collection}: "
                + (", ".join(f"{n} {t}" for t, n in sorted(types.items())) or "(empty)")
            )
        console.print(table)
