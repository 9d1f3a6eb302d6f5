"""The event-sourced aggregate: its state is whatever its events made of it.

An aggregate decides in its methods, records what happened as events, and
changes state only in the methods that *apply* an event, so that replaying
its stream rebuilds exactly the same state::

    @attrs.define(kw_only=True)
    class Customer(Aggregate):
        name: str = ""
        credit_limit: Decimal = Decimal(0)
        reserved: dict[str, Decimal] = attrs.Factory(dict)

        @classmethod
        def create(cls, name: str, credit_limit: Decimal) -> "Customer":
            customer = cls(id=new_id("cus"))
            customer.record(CustomerCreated(customer_id=customer.id, name=name, ...))
            return customer

        @applies(CustomerCreated)
        def _created(self, event: CustomerCreated) -> None:
            self.name = event.name
            self.credit_limit = event.credit_limit

Every field but ``id`` needs a default: that is the state before the first
event. ``version`` counts the events applied, the recorded ones included;
``committed_version`` is what the store held when the aggregate was loaded,
the expected version of the next append. Snapshots store the other fields in
the data form of messages (the Model's JSON hooks); a snapshot written with
another ``snapshot_version`` is ignored and the aggregate is replayed from its
events, so changing the fields only needs the number raised.
"""

from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, Self, TypeVar

import attrs

from hexkernel.core.messages import _CONVERTER, Event

__all__ = ("Aggregate", "applies")

A = TypeVar("A", bound="Aggregate")
E = TypeVar("E", bound=Event)

_APPLIES = "__hexkernel_applies__"
_RESERVED = frozenset({"id", "version"})


def applies(
    event_type: type[E],
) -> Callable[[Callable[[A, E], None]], Callable[[A, E], None]]:
    """Mark an aggregate method as the one applying events of ``event_type``."""

    def mark(method: Callable[[A, E], None]) -> Callable[[A, E], None]:
        setattr(method, _APPLIES, event_type)
        return method

    return mark


_HANDLERS: dict[type[Any], dict[type[Event], str]] = {}


def _handlers(cls: type["Aggregate"]) -> dict[type[Event], str]:
    found = _HANDLERS.get(cls)
    if found is None:
        found = {}
        for klass in reversed(cls.__mro__):
            for name, member in vars(klass).items():
                event_type = getattr(member, _APPLIES, None)
                if event_type is not None:
                    found[event_type] = name
        _HANDLERS[cls] = found
    return found


@attrs.define(kw_only=True)
class Aggregate:
    """Base class of event-sourced aggregates (subclasses are ``@attrs.define(kw_only=True)``).

    Attributes:
        id: The identity; also the id of the aggregate's event stream.
        version: How many events have been applied, recorded ones included.
        snapshot_version: Raise it when the fields change, so that older
            snapshots are ignored.
    """

    snapshot_version: ClassVar[int] = 1

    id: str
    version: int = 0
    _pending: list[Event] = attrs.field(factory=list, init=False, repr=False, eq=False)

    # ------------------------------------------------------------ deciding
    def record(self, event: Event) -> None:
        """Apply a new event and keep it to be stored (call it from the aggregate's methods)."""
        self.apply(event)
        self._pending.append(event)

    def apply(self, event: Event) -> None:
        """Change state by one event, through the method marked with :func:`applies`.

        Raises:
            LookupError: The aggregate has no method for this kind of event.
        """
        handlers = _handlers(type(self))
        for klass in type(event).__mro__:
            name = handlers.get(klass)
            if name is not None:
                getattr(self, name)(event)
                self.version += 1
                return
        raise LookupError(
            f"{type(self).__name__} has no @applies method for {type(event).__name__}"
        )

    @property
    def pending_events(self) -> tuple[Event, ...]:
        """The events recorded since the aggregate was loaded or last saved."""
        return tuple(self._pending)

    @property
    def committed_version(self) -> int:
        """The version the store holds: ``version`` minus the pending events."""
        return self.version - len(self._pending)

    def mark_committed(self) -> list[Event]:
        """Forget the pending events (the store has them now) and return them."""
        events, self._pending = self._pending, []
        return events

    # ----------------------------------------------------------- rebuilding
    @classmethod
    def aggregate_type(cls) -> str:
        """The name snapshots are stored under (the class name)."""
        return cls.__name__

    @classmethod
    def replay(
        cls,
        aggregate_id: str,
        events: Iterable[Event],
        *,
        snapshot: Mapping[str, Any] | None = None,
        snapshot_version: int = 0,
    ) -> Self:
        """Rebuild an aggregate from a snapshot's state (optional) and the events after it."""
        if snapshot is None:
            aggregate = cls(id=aggregate_id)
        else:
            data = {**snapshot, "id": aggregate_id, "version": snapshot_version}
            aggregate = _CONVERTER.structure(data, cls)
        for event in events:
            aggregate.apply(event)
        return aggregate

    def snapshot_state(self) -> dict[str, Any]:
        """The state as JSON values, ``id`` and ``version`` left out."""
        out: dict[str, Any] = {}
        for field in attrs.fields(type(self)):
            if field.init and field.name not in _RESERVED:
                out[field.name] = _CONVERTER.unstructure(getattr(self, field.name), field.type)
        return out
