"""The one place where pymongo's exceptions become hexkernel errors.

Every driver call of the Mongo adapter runs inside :func:`translated`, so no
pymongo exception reaches a caller; the original is chained (``from``).
"""

import re
from types import TracebackType
from typing import Any, NoReturn

from pymongo.errors import (
    AutoReconnect,
    BulkWriteError,
    ConnectionFailure,
    DuplicateKeyError,
    ExecutionTimeout,
    NetworkTimeout,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
)

from hexkernel.core.errors import (
    ConcurrencyConflict,
    DuplicateKey,
    InfrastructureError,
    StoreUnavailable,
    TransactionsUnsupported,
    ValidationError,
)

__all__ = ("translated",)

_ILLEGAL_OPERATION = 20
_TYPE_MISMATCH = 14
_DUPLICATE_KEY = 11000
_DOCUMENT_VALIDATION_FAILURE = 121
_WRITE_CONFLICT = 112
_GEO_KEYS = 16755  # "Can't extract geo keys": a geometry the 2dsphere index cannot hold
_INDEX_NAME = re.compile(r"index: (\S+)")


def _duplicate(
    model: str, details: dict[str, Any] | None, message: str, position: int | None
) -> DuplicateKey:
    details = details or {}
    pattern = details.get("keyPattern") or {}
    fields = tuple("id" if k == "_id" else k for k in pattern) or tuple(
        "id" if k == "_id" else k for k in (details.get("keyValue") or {})
    )
    found = _INDEX_NAME.search(message or "")
    index = found.group(1) if found else None
    if not fields and index:
        fields = tuple(
            "id" if p == "_id" else p for p in re.findall(r"([A-Za-z0-9_.]+)_-?1", index)
        )
    return DuplicateKey(model, fields, index, position)


class translated:  # noqa: N801 - used as a function: `with translated(model):`
    """Run driver calls, translating pymongo errors into hexkernel errors.

    A class rather than a generator context manager: it wraps every driver
    call of every request, and entering and leaving it costs next to nothing.
    """

    __slots__ = ("_model",)

    def __init__(self, model: str) -> None:
        self._model = model

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        if exc is not None and isinstance(exc, PyMongoError):
            _translate(self._model, exc)
        return False


def _translate(model: str, error: PyMongoError) -> NoReturn:
    """Raise the hexkernel error for ``error``, chained to it."""
    try:
        raise error
    except DuplicateKeyError as exc:
        raise _duplicate(model, exc.details, str(exc), None) from exc
    except BulkWriteError as exc:
        errors = (exc.details or {}).get("writeErrors") or [{}]
        first = errors[0]
        if first.get("code") == _DUPLICATE_KEY:
            raise _duplicate(model, first, first.get("errmsg", ""), first.get("index")) from exc
        raise InfrastructureError(f"bulk write to {model} failed") from exc
    except (ServerSelectionTimeoutError, AutoReconnect, NetworkTimeout, ConnectionFailure) as exc:
        raise StoreUnavailable(f"MongoDB cannot be reached ({type(exc).__name__})") from exc
    except ExecutionTimeout as exc:
        raise StoreUnavailable(f"a query on {model} exceeded its time limit") from exc
    except OperationFailure as exc:
        if exc.code == _WRITE_CONFLICT or "write conflict" in str(exc).lower():
            # Another transaction wrote the same data first: the whole
            # transaction may run again (servers without error labels report
            # it only in the message, when the commit is refused).
            conflict = ConcurrencyConflict(model, None, 0, None)
            conflict.transient = True  # type: ignore[attr-defined]
            raise conflict from exc
        if exc.code == _DOCUMENT_VALIDATION_FAILURE:
            raise ValidationError.single(
                "", "schema_violation", "the database rejected the document", model
            ) from exc
        if exc.code == _GEO_KEYS:
            raise ValidationError.single(
                "", "invalid_geometry", "the database cannot index a geometry of it", model
            ) from exc
        if exc.code == _TYPE_MISMATCH:
            raise ValidationError.single(
                "", "invalid_update", "the update does not fit the stored value", model
            ) from exc
        if exc.code == _ILLEGAL_OPERATION and "transaction" in str(exc).lower():
            raise TransactionsUnsupported(
                "this MongoDB server cannot run multi-document transactions "
                "(a standalone server; use a replica set)"
            ) from exc
        raise InfrastructureError(
            f"MongoDB refused an operation on {model} (code {exc.code})"
        ) from exc
    except PyMongoError as exc:
        raise InfrastructureError(
            f"MongoDB operation on {model} failed ({type(exc).__name__})"
        ) from exc
