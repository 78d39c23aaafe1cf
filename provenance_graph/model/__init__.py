"""The domain model: data IDs, dataset types, datasets, quanta, plans and the plan graph.

Every type here is a frozen pydantic model (or, for `PlanGraph`, an object
checked when built). Nothing here talks to a database.
"""

from provenance_graph.model._codec import PlanDecoder
from provenance_graph.model._data_id import (
    CONTEXT_DIMENSIONS,
    DISPLAY_ORDER,
    DataId,
    DimensionValue,
    human_forms,
)
from provenance_graph.model._datasets import DatasetRef, DatasetType, check_butler_id
from provenance_graph.model._dimensions import DEFAULT_UNIVERSE, Dimension, DimensionJoin, DimensionUniverse
from provenance_graph.model._execution import (
    INFRASTRUCTURE_REASONS,
    AttemptOutcome,
    InfrastructureFailure,
    OutputRecord,
    QuantumStatus,
)
from provenance_graph.model._graph import PlanGraph
from provenance_graph.model._identity import (
    ID_NAMESPACE,
    check_repository_uri,
    dataset_id,
    quantum_id,
    repository_path,
    repository_uri,
    stable_id,
)
from provenance_graph.model._imported_run import ImportedAttempt, ImportedQuantum, ProvenanceRun, run_digest
from provenance_graph.model._names import (
    RESERVED_PROPERTIES,
    check_plan_id,
    check_run_name,
    check_task_label,
    check_text,
    suggest,
)
from provenance_graph.model._notes import NoteKind, PlanNote
from provenance_graph.model._plan import MetadataValue, Plan, new_plan_id
from provenance_graph.model._quantum import Quantum
from provenance_graph.model._timespan import Timespan, format_time, parse_time

__all__ = [
    "CONTEXT_DIMENSIONS",
    "DEFAULT_UNIVERSE",
    "DISPLAY_ORDER",
    "ID_NAMESPACE",
    "INFRASTRUCTURE_REASONS",
    "RESERVED_PROPERTIES",
    "AttemptOutcome",
    "DataId",
    "DatasetRef",
    "DatasetType",
    "Dimension",
    "DimensionJoin",
    "DimensionUniverse",
    "DimensionValue",
    "ImportedAttempt",
    "ImportedQuantum",
    "InfrastructureFailure",
    "MetadataValue",
    "NoteKind",
    "OutputRecord",
    "Plan",
    "PlanDecoder",
    "PlanGraph",
    "PlanNote",
    "ProvenanceRun",
    "Quantum",
    "QuantumStatus",
    "Timespan",
    "check_butler_id",
    "check_plan_id",
    "check_repository_uri",
    "check_run_name",
    "check_task_label",
    "check_text",
    "dataset_id",
    "format_time",
    "human_forms",
    "new_plan_id",
    "parse_time",
    "quantum_id",
    "repository_path",
    "repository_uri",
    "run_digest",
    "stable_id",
    "suggest",
]
