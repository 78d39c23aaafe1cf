"""The data repository: where datasets live, and the registry of what exists.

`Repository` keeps dataset files under path templates and a SQLite registry of
dataset types, dimension records, dimension joins and existing datasets.
Storage classes (`STORAGE_CLASSES`) say how objects become files.
"""

from provenance_graph.repository._formatters import STORAGE_CLASSES, StorageClass, storage_class
from provenance_graph.repository._quantum_io import RepositoryQuantumIO
from provenance_graph.repository._repository import DEFAULT_TEMPLATE, FORMAT_VERSION, Repository

__all__ = [
    "DEFAULT_TEMPLATE",
    "FORMAT_VERSION",
    "STORAGE_CLASSES",
    "Repository",
    "RepositoryQuantumIO",
    "StorageClass",
    "storage_class",
]
