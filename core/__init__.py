"""hexkernel's pure domain: Models, their rules, errors and the ports.

Nothing here performs I/O or imports a driver; adapters implement the ports
and interfaces expose the domain.
"""

from hexkernel.core import converters, generators, marshallers, validators
from hexkernel.core.context import acting_as, current_user
from hexkernel.core.errors import (
    ConcurrencyConflict,
    DomainError,
    DuplicateKey,
    ErrorItem,
    HexkernelError,
    InfrastructureError,
    ModelDefinitionError,
    NotFound,
    PartialDocument,
    RepositoryNotBound,
    StoreUnavailable,
    TransactionsUnsupported,
    ValidationError,
)
from hexkernel.core.ids import new_id
from hexkernel.core.model import Embedded, Field, Invalid, Model, model_check
from hexkernel.core.persistence import Index, bind, predefined_filter, unbind
from hexkernel.core.query import Query, asc, desc

__all__ = (
    "ConcurrencyConflict",
    "DomainError",
    "DuplicateKey",
    "Embedded",
    "ErrorItem",
    "Field",
    "HexkernelError",
    "Index",
    "InfrastructureError",
    "Invalid",
    "Model",
    "ModelDefinitionError",
    "NotFound",
    "PartialDocument",
    "Query",
    "RepositoryNotBound",
    "StoreUnavailable",
    "TransactionsUnsupported",
    "ValidationError",
    "acting_as",
    "asc",
    "bind",
    "converters",
    "current_user",
    "desc",
    "generators",
    "marshallers",
    "model_check",
    "new_id",
    "predefined_filter",
    "unbind",
    "validators",
)
