"""The data repository: where datasets live, and the registry of what exists.

`Repository` keeps dataset files under path templates and a SQLite registry of
dataset types, dimension records, dimension joins, existing datasets and calibration
collections. Storage classes (`STORAGE_CLASSES`) say how objects become files.
`read_records_file` reads dimension records from YAML or CSV files (`RecordEntry`).
"""

from provenance_graph.repository._formatters import STORAGE_CLASSES, StorageClass, storage_class
from provenance_graph.repository._quantum_io import RepositoryQuantumIO
from provenance_graph.repository._records import RecordEntry
from provenance_graph.repository._records_file import read_records_file
from provenance_graph.repository._repository import DEFAULT_TEMPLATE, FORMAT_VERSION, Repository

__all__ = [
    "DEFAULT_TEMPLATE",
    "FORMAT_VERSION",
    "STORAGE_CLASSES",
    "RecordEntry",
    "Repository",
    "RepositoryQuantumIO",
    "StorageClass",
    "read_records_file",
    "storage_class",
]
