"""The one exception hierarchy of provenance-graph.

Every error a user can cause, or a broken environment can cause, is raised as a
subclass of :class:`ProvenanceGraphError`. Each carries a message that names the
culprit and, where there is one, a ``hint`` that says how to fix it. The command
line prints both and exits non-zero without a traceback.

This module imports nothing from the rest of the package.

Hierarchy::

    ProvenanceGraphError
     +-- ConfigurationError ............ bad settings or config file
     +-- ModelError .................... invalid domain value
     |    +-- InvalidNameError
     |    +-- InvalidDataIdError
     |    +-- DatasetTypeConflictError
     +-- PipelineError ................. a pipeline definition is not acceptable
     +-- ExpressionError ............... a data-query expression does not parse or check
     +-- RepositoryError ............... a data repository is missing, malformed or refuses a change
     +-- PreflightError ................ pre-flight cannot build a plan from what it was given
     +-- ExecutionError ................ a plan cannot be run as asked
 |    +-- SiteConfigError ........... a site config (where batch jobs run) is not acceptable
     +-- PlanError ..................... an execution plan is not acceptable
     |    +-- DuplicateProducerError
     |    +-- PlanCycleError
     |    +-- PlanNotFoundError
     |    +-- PlanConflictError
     |    |    +-- PlanExistsError
     |    +-- PlanBusyError
     |    +-- PlanFileError
     +-- ClusteringError ............... clustering rules are invalid, or cannot be applied to a plan
     |    +-- ClusteringCycleError
     |    +-- ClusteringNotFoundError
     +-- DatabaseError ................. talking to Neo4j failed
     |    +-- DatabaseUnavailableError
     |    |    +-- NoServerError ....... nothing configured and the managed server is not running
     |    +-- DatabaseAuthError
     |    +-- DatabaseTLSError
     |    +-- SchemaVersionError
     +-- QueryError .................... a named Cypher query is missing or malformed
     +-- QuestionError ................. a provenance question is asked wrongly
     |    +-- NotInGraphError

     +-- ServerError ................... the managed local Neo4j server
          +-- JavaNotFoundError
          +-- MavenError
          +-- PortInUseError
          +-- ServerStartError
"""

from __future__ import annotations

__all__ = [
    "ClusteringCycleError",
    "ClusteringError",
    "ClusteringNotFoundError",
    "ConfigurationError",
    "DatabaseAuthError",
    "DatabaseError",
    "DatabaseTLSError",
    "DatabaseUnavailableError",
    "DatasetTypeConflictError",
    "DuplicateProducerError",
    "ExecutionError",
    "ExportError",
    "ExpressionError",
    "InvalidDataIdError",
    "InvalidNameError",
    "JavaNotFoundError",
    "MavenError",
    "ModelError",
    "NoServerError",
    "NotInGraphError",
    "PipelineError",
    "PlanBusyError",
    "PlanConflictError",
    "PlanCycleError",
    "PlanError",
    "PlanExistsError",
    "PlanFileError",
    "PlanNotFoundError",
    "PortInUseError",
    "PreflightError",
    "ProvenanceGraphError",
    "QueryError",
    "QuestionError",
    "RepositoryError",
    "SchemaVersionError",
    "ServerError",
    "ServerStartError",
    "SiteConfigError",
]


class ProvenanceGraphError(Exception):
    """Raised for every error this package reports to its users.

    Parameters
    ----------
    message
        What went wrong, naming the culprit.
    hint
        How to fix it, if there is something the user can do.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class ConfigurationError(ProvenanceGraphError):
    """Raised when settings or a configuration file are invalid."""


class ModelError(ProvenanceGraphError):
    """Raised when a domain value (name, data ID, dataset type) is invalid."""


class InvalidNameError(ModelError):
    """Raised when a task label, dataset type, dimension or run name is malformed."""


class InvalidDataIdError(ModelError):
    """Raised when a data ID is malformed or does not match its dimensions."""


class DatasetTypeConflictError(ModelError):
    """Raised when one dataset type name is defined twice with different definitions."""


class PipelineError(ProvenanceGraphError):
    """Raised when a pipeline definition (YAML, task class, config, connections) is invalid."""


class ExpressionError(ProvenanceGraphError):
    """Raised when a data-query expression does not parse or names unknown dimensions.

    Parameters
    ----------
    message
        What went wrong.
    expression
        The expression text.
    position
        Zero-based character offset of the culprit in ``expression``, if known.
    hint
        How to fix it.
    """

    def __init__(
        self, message: str, *, expression: str = "", position: int | None = None, hint: str | None = None
    ) -> None:
        if position is not None and expression:
            message = f"{message} (at column {position + 1})\n    {expression}\n    {' ' * position}^"
        super().__init__(message, hint=hint)
        self.expression = expression
        self.position = position


class RepositoryError(ProvenanceGraphError):
    """Raised when a data repository is missing or malformed, or refuses a change."""


class PreflightError(ProvenanceGraphError):
    """Raised when pre-flight cannot build a plan from the pipeline, repository and query."""


class ExecutionError(ProvenanceGraphError):
    """Raised when a plan cannot be run as asked: no repository, changed connections, a busy plan."""


class SiteConfigError(ExecutionError):
    """Raised when a site config (``--site FILE``: Parsl provider and executor) is not acceptable."""


class PlanError(ProvenanceGraphError):
    """Raised when an execution plan is not acceptable."""


class DuplicateProducerError(PlanError):
    """Raised when two quanta of a plan produce the same dataset."""


class PlanCycleError(PlanError):
    """Raised when quanta depend on each other in a cycle."""


class PlanNotFoundError(PlanError):
    """Raised when no complete plan with the given id is stored."""


class PlanConflictError(PlanError):
    """Raised when a plan would overwrite another plan's quanta or datasets."""


class PlanExistsError(PlanConflictError):
    """Raised when a plan id is stored already, complete, with other content.

    Parameters
    ----------
    message
        What went wrong, naming the plan and what differs.
    plan_id
        The plan's id.
    differences
        What differs between the stored plan and the new one, one phrase each (e.g.
        ``"the stored plan has 120 quanta, this one 118"``).
    hint
        How to fix it, in the words of a Python caller; a caller that words the fix in its
        own terms (the command line's ``--replace``) sets ``hint`` to those.
    """

    def __init__(
        self, message: str, *, plan_id: str = "", differences: tuple[str, ...] = (), hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.plan_id = plan_id
        self.differences = differences


class PlanBusyError(PlanError):
    """Raised when another live process is writing the same plan."""


class PlanFileError(PlanError):
    """Raised when a plan file cannot be read or does not hold a valid plan."""


class ClusteringError(ProvenanceGraphError):
    """Raised when clustering rules are malformed or name tasks or dimensions a plan does not have."""


class ClusteringCycleError(ClusteringError):
    """Raised when a clustering would make batch jobs depend on each other in a cycle."""


class ClusteringNotFoundError(ClusteringError):
    """Raised when no complete, current clustering of that name is stored for the plan."""


class DatabaseError(ProvenanceGraphError):
    """Raised when talking to Neo4j fails."""


class DatabaseUnavailableError(DatabaseError):
    """Raised when no Neo4j server answers at the configured address."""


class NoServerError(DatabaseUnavailableError):
    """Raised when a command that never starts the managed server finds none configured or running."""


class DatabaseAuthError(DatabaseError):
    """Raised when Neo4j rejects the configured user name or password."""


class DatabaseTLSError(DatabaseError):
    """Raised when TLS with Neo4j fails: an untrusted certificate, or TLS on one side only."""


class SchemaVersionError(DatabaseError):
    """Raised when the database holds a graph schema this version cannot use."""


class QueryError(ProvenanceGraphError):
    """Raised when a named Cypher query is missing or its file is malformed."""


class ExportError(ProvenanceGraphError):
    """Raised when an export cannot be written or sent (an unwritable file, an unreachable endpoint)."""


class QuestionError(ProvenanceGraphError):
    """Raised when a provenance question is asked with arguments that cannot be answered."""


class NotInGraphError(QuestionError):
    """Raised when a dataset or quantum a question names is not in the graph."""


class ServerError(ProvenanceGraphError):
    """Raised when the managed local Neo4j server cannot be assembled, started or stopped."""


class JavaNotFoundError(ServerError):
    """Raised when no Java 17+ runtime is found for the managed server."""


class MavenError(ServerError):
    """Raised when Maven is missing or cannot assemble Neo4j from Maven Central."""


class PortInUseError(ServerError):
    """Raised when a port the managed server needs is taken by another process."""


class ServerStartError(ServerError):
    """Raised when the managed server process exits or does not answer in time."""
