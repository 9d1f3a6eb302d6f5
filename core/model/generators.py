"""Value generators: fill a field when the Model is created, and optionally on update.

A generator is given to a field with ``Field(factory=...)``. It runs when
the Model is constructed without a value for the field (``on="create"``), and
generators declared with ``on="update"`` run again each time the persistence
layer is about to write a change (see ``ModelInfo.touch``). Generated fields
are read-only on the wire unless declared otherwise.

Example::

    class Task(Model):
        ref: UUID = Field(factory=Uuid4())
        created_at: datetime = Field(factory=Timestamp())
        changed_at: datetime = Field(factory=Timestamp(on="update"))
        owner: str | None = Field(factory=CurrentUser())
"""

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any, Literal

import attrs

from hexkernel.core.context import current_user
from hexkernel.core.ids import check_prefix, new_id
from hexkernel.core.model._types import to_utc

__all__ = ("CurrentUser", "Generator", "PrefixedId", "Timestamp", "Uuid4")

When = Literal["create", "update"]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@attrs.frozen
class Generator:
    """Base class of generators.

    Attributes:
        on: ``"create"`` to generate once, when the Model is made without a
            value; ``"update"`` to generate then and again on every update.
    """

    on: When = attrs.field(
        default="create", kw_only=True, validator=attrs.validators.in_(("create", "update"))
    )

    def __call__(self, model: type[Any] | None = None) -> Any:
        """Return a new value for a field of ``model``.

        ``model`` is optional so that a generator is also a zero-argument
        factory, which is what type checkers expect of ``Field(factory=...)``.
        """
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """Return the name and parameters, as published by ``/meta``."""
        return {"name": type(self).__name__.lower(), "on": self.on}


@attrs.frozen
class Uuid4(Generator):
    """A random UUID (version 4)."""

    def __call__(self, model: type[Any] | None = None) -> Any:  # noqa: ARG002 - same for every model
        """Return a random UUID."""
        return uuid.uuid4()


@attrs.frozen
class PrefixedId(Generator):
    """A time-ordered identifier ``<prefix>_<ULID>``; the prefix defaults to the model's."""

    prefix: str | None = attrs.field(default=None)

    @prefix.validator
    def _check(self, _: "attrs.Attribute[str | None]", value: str | None) -> None:
        if value is not None:
            check_prefix(value)

    def __call__(self, model: type[Any] | None = None) -> Any:
        """Return a new identifier."""
        if self.prefix:
            return new_id(self.prefix)
        if model is None:
            raise ValueError("PrefixedId() without a prefix needs the model it generates for")
        return new_id(model.__model__.prefix)


@attrs.frozen
class Timestamp(Generator):
    """The current time, timezone-aware UTC at millisecond precision."""

    clock: Callable[[], dt.datetime] = attrs.field(default=_utcnow, eq=False, repr=False)

    def __call__(self, model: type[Any] | None = None) -> Any:  # noqa: ARG002 - same for every model
        """Return the current time."""
        return to_utc(self.clock())


@attrs.frozen
class CurrentUser(Generator):
    """The acting user bound by the interface (see :func:`hexkernel.core.context.acting_as`).

    Generates ``None`` when no user is bound, so the field should be optional.
    """

    def __call__(self, model: type[Any] | None = None) -> Any:  # noqa: ARG002 - same for every model
        """Return the acting user's identifier."""
        return current_user()
