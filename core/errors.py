"""The hexkernel error tree.

Every error hexkernel raises on purpose derives from :class:`HexkernelError`,
and also from the builtin a caller would naturally catch::

    HexkernelError(Exception)
    ├── ModelDefinitionError(HexkernelError, TypeError)   a Model class is declared wrongly
    ├── ValidationError(HexkernelError, ValueError)       input breaks the Model's rules
    ├── DomainError                                       an invariant of the domain is violated
    ├── NotFound(HexkernelError, LookupError)             no such entity
    ├── DuplicateKey                                      a unique index rejects a write
    ├── ConcurrencyConflict                               optimistic lock lost
    ├── PartialDocument                                   saving an object loaded with a projection
    ├── RepositoryNotBound(HexkernelError, LookupError)   active record used before wiring
    ├── InvalidAggregation(HexkernelError, ValueError)    the store refused a pipeline
    ├── QueryTimeout                                      a query exceeded its time limit
    ├── AccessDenied(HexkernelError, PermissionError)     an access rule refuses the caller
    ├── AuthenticationError                               the caller is not (validly) authenticated
    │   ├── AuthenticationRequired                        credentials are needed, none were given
    │   └── InvalidToken                                  a token was refused; ``reason`` says why
    │       └── RefreshTokenReused                        a spent refresh token came back
    └── InfrastructureError                               something outside the process failed
        ├── StoreUnavailable                              the store cannot be reached
        ├── TransactionsUnsupported                       the store cannot run transactions
        └── IssuerUnavailable                             a token issuer's keys cannot be fetched

Interfaces map these to transport errors in one place (for HTTP, RFC 9457
problem details); adapters translate driver exceptions into them at their
boundary and chain the original with ``raise ... from``.
"""

from collections.abc import Iterable, Sequence

import attrs

__all__ = (
    "AccessDenied",
    "AuthenticationError",
    "AuthenticationRequired",
    "ConcurrencyConflict",
    "DomainError",
    "DuplicateKey",
    "ErrorItem",
    "HexkernelError",
    "InfrastructureError",
    "InvalidAggregation",
    "InvalidToken",
    "IssuerUnavailable",
    "ModelDefinitionError",
    "NotFound",
    "PartialDocument",
    "QueryTimeout",
    "RefreshTokenReused",
    "RepositoryNotBound",
    "StoreUnavailable",
    "TransactionsUnsupported",
    "ValidationError",
)


class HexkernelError(Exception):
    """Base class of every error hexkernel raises on purpose."""


class ModelDefinitionError(HexkernelError, TypeError):
    """A Model class is declared in a way hexkernel cannot support.

    Raised when the class statement runs, never for user input.
    """


@attrs.frozen
class ErrorItem:
    """One problem found in a value.

    Attributes:
        field: Path of the offending value: ``title``, ``address.city``,
            ``tags[2]``. Empty for a problem with the document as a whole.
        code: Stable, machine-readable snake_case code (``required``,
            ``too_short``, ``invalid_type``, ...).
        message: Human-readable explanation. Never contains the offending
            value itself, so secrets cannot leak through it.
    """

    field: str
    code: str
    message: str

    def at(self, prefix: str) -> "ErrorItem":
        """Return this item with its path moved below ``prefix``."""
        if not prefix:
            return self
        if not self.field:
            return attrs.evolve(self, field=prefix)
        joiner = "" if self.field.startswith("[") else "."
        return attrs.evolve(self, field=f"{prefix}{joiner}{self.field}")

    def as_dict(self) -> dict[str, str]:
        """Return the item as a plain ``{field, code, message}`` mapping."""
        return {"field": self.field, "code": self.code, "message": self.message}


class ValidationError(HexkernelError, ValueError):
    """A value breaks the rules of its Model; carries every problem found.

    Attributes:
        errors: All problems, in field order. Never empty.
        model: Name of the Model that was validated, if known.
    """

    def __init__(self, errors: Iterable[ErrorItem], model: str | None = None) -> None:
        self.errors: tuple[ErrorItem, ...] = tuple(errors)
        if not self.errors:
            raise ValueError("a ValidationError needs at least one ErrorItem")
        self.model = model
        super().__init__(self.errors)

    @classmethod
    def single(
        cls, field: str, code: str, message: str, model: str | None = None
    ) -> "ValidationError":
        """Build an error holding one item."""
        return cls([ErrorItem(field, code, message)], model)

    def at(self, prefix: str) -> "ValidationError":
        """Return the same error with every path moved below ``prefix``."""
        return ValidationError([item.at(prefix) for item in self.errors], self.model)

    def as_list(self) -> list[dict[str, str]]:
        """Return the items as plain mappings, ready for a JSON body."""
        return [item.as_dict() for item in self.errors]

    def __str__(self) -> str:
        head = f"{len(self.errors)} validation error{'s' if len(self.errors) > 1 else ''}"
        if self.model:
            head += f" for {self.model}"
        lines = (
            f"  {item.field or '<root>'}: {item.message} [{item.code}]" for item in self.errors
        )
        return "\n".join((head, *lines))

    def __reduce__(self) -> tuple[type["ValidationError"], tuple[Sequence[ErrorItem], str | None]]:
        return (type(self), (self.errors, self.model))


class DomainError(HexkernelError):
    """A rule of the domain is violated (an invalid state transition, say)."""


class NotFound(HexkernelError, LookupError):
    """The requested entity does not exist (or is hidden by a predefined filter)."""

    def __init__(self, model: str, key: object) -> None:
        self.model = model
        self.key = key
        super().__init__(f"{model} {key!r} was not found")


class DuplicateKey(HexkernelError):
    """A write was rejected by a unique index.

    Attributes:
        model: Name of the Model written.
        fields: The fields of the unique index that was violated.
        index: The index's name, when known.
        position: In a bulk insert, the index of the first offending item.
    """

    def __init__(
        self,
        model: str,
        fields: Sequence[str],
        index: str | None = None,
        position: int | None = None,
    ) -> None:
        self.model = model
        self.fields = tuple(fields)
        self.index = index
        self.position = position
        where = "" if position is None else f" (item {position})"
        names = ", ".join(self.fields) or "a unique field"
        super().__init__(f"another {model} already has this value of {names}{where}")


class ConcurrencyConflict(HexkernelError):
    """A write expected a version that is no longer the current one.

    Attributes:
        model: Name of the Model written.
        key: Id of the entity.
        expected: The version the writer based its change on.
        current: The version now stored, when known.
    """

    def __init__(self, model: str, key: object, expected: int, current: int | None) -> None:
        self.model = model
        self.key = key
        self.expected = expected
        self.current = current
        now = "unknown" if current is None else str(current)
        super().__init__(
            f"{model} {key!r} was changed concurrently: "
            f"expected version {expected}, current is {now}"
        )


class InvalidAggregation(HexkernelError, ValueError):
    """The store refused an aggregation pipeline (an unknown operator, a malformed stage).

    The pipeline is the caller's: interfaces answer this as bad input.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"the aggregation pipeline was refused: {reason}")


class QueryTimeout(HexkernelError):
    """A query ran longer than its server-side time limit and was stopped."""

    def __init__(self, model: str, limit_ms: int | None) -> None:
        self.model = model
        self.limit_ms = limit_ms
        limit = "its time limit" if limit_ms is None else f"its time limit of {limit_ms} ms"
        super().__init__(f"a query on {model} exceeded {limit}")


class AccessDenied(HexkernelError, PermissionError):
    """The caller is authenticated but may not do this (a role or ownership rule refuses).

    Attributes:
        fields: The fields the caller may not set, when a field rule refused.
    """

    def __init__(self, message: str = "not allowed", fields: Sequence[str] = ()) -> None:
        self.fields = tuple(fields)
        super().__init__(message)


class InfrastructureError(HexkernelError):
    """Something outside the process (a database, a broker) failed."""


class StoreUnavailable(InfrastructureError):
    """The store cannot be reached; the operation may be retried later."""


class TransactionsUnsupported(InfrastructureError):
    """The store cannot run multi-document transactions (a standalone MongoDB server).

    Raised instead of silently writing outside a transaction.
    """


class PartialDocument(HexkernelError):
    """An object loaded with a projection was about to be saved, which would lose fields."""

    def __init__(self, model: str, key: object) -> None:
        self.model = model
        self.key = key
        super().__init__(f"{model} {key!r} was loaded with a projection and cannot be saved")


class RepositoryNotBound(HexkernelError, LookupError):
    """An active-record method was called on a Model with no repository bound."""

    def __init__(self, model: str) -> None:
        self.model = model
        super().__init__(
            f"{model} has no repository: bind one with "
            f"hexkernel.core.persistence.bind({model}, repository) "
            "(the application container does this for every registered Model)"
        )


class IssuerUnavailable(InfrastructureError):
    """The signing keys of a trusted token issuer cannot be fetched right now."""


class AuthenticationError(HexkernelError):
    """The caller is not authenticated, or its credentials were refused.

    Messages never contain the credentials themselves.
    """


class AuthenticationRequired(AuthenticationError):
    """The operation needs an authenticated caller, and none presented credentials."""

    def __init__(self, message: str = "authentication is required") -> None:
        super().__init__(message)


class InvalidToken(AuthenticationError):
    """A token was refused.

    Attributes:
        reason: A stable snake_case code: ``malformed``, ``algorithm``,
            ``unknown_kid``, ``bad_signature``, ``expired``, ``not_yet_valid``,
            ``wrong_issuer``, ``wrong_audience``, ``missing_claim``,
            ``unknown_subject``, ``unknown``, ``revoked``, ``reused``, ...
    """

    def __init__(self, reason: str, message: str | None = None) -> None:
        self.reason = reason
        super().__init__(message or f"the token is not valid ({reason})")


class RefreshTokenReused(InvalidToken):
    """A refresh token that was already exchanged was presented again.

    Attributes:
        family: The family of the token (every refresh token descending from
            one login), which the caller should revoke.
    """

    def __init__(self, family: str) -> None:
        self.family = family
        super().__init__("reused", "the refresh token was already used")
