"""hexkernel's pure domain: Models, their rules, errors and the ports.

Nothing here performs I/O or imports a driver; adapters implement the ports
and interfaces expose the domain.
"""

from hexkernel.core import converters, generators, marshallers, validators
from hexkernel.core.context import acting_as, current_user
from hexkernel.core.errors import (
    AuthenticationError,
    AuthenticationRequired,
    ConcurrencyConflict,
    DomainError,
    DuplicateKey,
    ErrorItem,
    HexkernelError,
    InfrastructureError,
    InvalidToken,
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
from hexkernel.core.security import ANONYMOUS, Principal, as_principal, current_principal

__all__ = (
    "ANONYMOUS",
    "AuthenticationError",
    "AuthenticationRequired",
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
    "InvalidToken",
    "Model",
    "ModelDefinitionError",
    "NotFound",
    "PartialDocument",
    "Principal",
    "Query",
    "RepositoryNotBound",
    "StoreUnavailable",
    "TransactionsUnsupported",
    "ValidationError",
    "acting_as",
    "as_principal",
    "asc",
    "bind",
    "converters",
    "current_principal",
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
