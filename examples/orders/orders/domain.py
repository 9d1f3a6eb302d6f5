"""Orders: a plain Model, the journal of its changes, and the order-history read model.

An :class:`Order` is a document like any other. Each change of its state is
also appended, in the same transaction, to the order's stream in the
service's event store (``orders.OrderPlaced``, ``orders.OrderApproved``, ...):
that journal is the global log the order-history projection follows.
"""

import enum
from decimal import Decimal

from hexkernel.core import Field, Index, Model
from hexkernel.core.messages import Event, message


class OrderState(enum.StrEnum):
    """Where an order stands; ``APPROVED``, ``REJECTED`` and ``CANCELLED`` are final."""

    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    CANCEL_PENDING = "CANCEL_PENDING"
    CANCELLED = "CANCELLED"


FINAL_STATES = frozenset({OrderState.APPROVED, OrderState.REJECTED, OrderState.CANCELLED})
HOLDING_CREDIT = frozenset({OrderState.APPROVED, OrderState.CANCEL_PENDING})


class Order(Model, prefix="ord", collection="orders"):
    """An order of one customer, moved through its states by the sagas."""

    customer_id: str = Field()
    total: Decimal = Field()
    state: str = Field(default=OrderState.PENDING.value)
    rejection_reason: str | None = Field(default=None)
    saga_id: str | None = Field(default=None)
    cancel_saga_id: str | None = Field(default=None)


class OrderHistoryRow(
    Model,
    prefix="ohr",
    collection="order_history",
    indexes=[Index.of("customer_id", "placed_position")],
):
    """One order in the order-history read model (its id is the order's id)."""

    customer_id: str = Field()
    total: Decimal = Field()
    state: str = Field()
    rejection_reason: str | None = Field(default=None)
    placed_position: int = Field(default=0)
    position: int = Field(default=0)


@message("orders.OrderPlaced")
class OrderPlaced(Event):
    """An order was placed, pending the credit check."""

    order_id: str
    customer_id: str
    total: Decimal


@message("orders.OrderApproved")
class OrderApproved(Event):
    """The customer's credit was reserved: the order stands."""

    order_id: str


@message("orders.OrderRejected")
class OrderRejected(Event):
    """The order was refused (``reason``: ``insufficient_credit``, ``unknown_customer``, ...)."""

    order_id: str
    reason: str


@message("orders.OrderCancelRequested")
class OrderCancelRequested(Event):
    """Cancelling an approved order began; its credit is being released."""

    order_id: str


@message("orders.OrderCancelAborted")
class OrderCancelAborted(Event):
    """A cancellation was undone: the order is approved again."""

    order_id: str


@message("orders.OrderCancelled")
class OrderCancelled(Event):
    """The order was cancelled and its credit released."""

    order_id: str


STATE_AFTER: dict[type[Event], OrderState] = {
    OrderPlaced: OrderState.PENDING,
    OrderApproved: OrderState.APPROVED,
    OrderRejected: OrderState.REJECTED,
    OrderCancelRequested: OrderState.CANCEL_PENDING,
    OrderCancelAborted: OrderState.APPROVED,
    OrderCancelled: OrderState.CANCELLED,
}
"""The state an order is in after each event of its journal."""
