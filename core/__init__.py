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
    StoreUnavailable,
    ValidationError,
)
from hexkernel.core.ids import new_id
from hexkernel.core.model import Embedded, Field, Invalid, Model, model_check

__all__ = (
    "ConcurrencyConflict",
    "DomainError",
    "DuplicateKey",
    "Embedded",
    "ErrorItem",
    "Field",
    "HexkernelError",
    "InfrastructureError",
    "Invalid",
    "Model",
    "ModelDefinitionError",
    "NotFound",
    "StoreUnavailable",
    "ValidationError",
    "acting_as",
    "converters",
    "current_user",
    "generators",
    "marshallers",
    "model_check",
    "new_id",
    "validators",
)
