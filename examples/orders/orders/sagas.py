"""The orders service's two orchestrated sagas and the order changes their steps make.

**CreateOrderSaga** (``orders.CreateOrder``, id ``create-<order id>``):

1. ``create_order``: the order exists, ``PENDING``; compensation: reject it
   with the reason the saga failed for;
2. ``reserve_credit``: send ``ReserveCredit`` to the customers service and wait
   for its reply (``CreditReserved``, or ``CreditReservationFailed`` whose
   reason becomes the order's ``rejection_reason``); compensation (only when
   the reply never came, so the outcome is unknown): send ``ReleaseCredit``;
3. ``approve_order``: ``PENDING`` -> ``APPROVED``.

**CancelOrderSaga** (``orders.CancelOrder``, id ``cancel-<order id>-<version>``,
kept on the order as ``cancel_saga_id``):

1. ``request_cancel``: the order is ``CANCEL_PENDING`` (the HTTP request
   moved it there from ``APPROVED``); compensation: back to ``APPROVED``;
2. ``release_credit``: send ``ReleaseCredit`` and wait for ``CreditReleased``;
3. ``cancel_order``: ``CANCEL_PENDING`` -> ``CANCELLED``.

Every step is idempotent, since a coordinator that crashes runs the step
again: state changes check the current state first, and commands go out
with a message id derived from the step's idempotency key, so the outbox
keeps one copy and the customers' inbox handles it once.
"""

from collections.abc import Awaitable, Callable, Iterable
from decimal import Decimal
from typing import Any, TypeVar

import attrs
import tenacity

from examples.orders._money import money
from examples.orders.contracts import (
    COMMANDS,
    INSUFFICIENT_CREDIT,
    UNKNOWN_CUSTOMER,
    ReleaseCredit,
    ReserveCredit,
)
from examples.orders.orders.domain import (
    Order,
    OrderApproved,
    OrderCancelAborted,
    OrderCancelled,
    OrderCancelRequested,
    OrderPlaced,
    OrderRejected,
    OrderState,
)
from hexkernel.application import Outbox
from hexkernel.core.errors import (
    ConcurrencyConflict,
    DomainError,
    DuplicateKey,
    InfrastructureError,
)
from hexkernel.core.messages import Command, Event
from hexkernel.core.ports.event_store import EventStore
from hexkernel.core.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from hexkernel.core.sagas import RetryPolicy, SagaDefinition, SagaStep, StepContext

R = TypeVar("R")

CREATE_ORDER = "orders.CreateOrder"
CANCEL_ORDER = "orders.CancelOrder"
KNOWN_REASONS = frozenset({INSUFFICIENT_CREDIT, UNKNOWN_CUSTOMER})
"""Reasons a reply can give; any other failure rejects with ``credit_check_failed``."""


RETRY = RetryPolicy(
    attempts=8,
    backoff=0.05,
    max_backoff=1.0,
    transient=(InfrastructureError, TimeoutError, ConcurrencyConflict),
)
"""Steps retry lost races too: every order change also appends to the one global log."""
UNDO_RETRY = RetryPolicy(
    attempts=20,
    backoff=0.05,
    max_backoff=5.0,
    transient=(InfrastructureError, TimeoutError, ConcurrencyConflict),
)


def create_saga_id(order_id: str) -> str:
    """The id of an order's CreateOrderSaga."""
    return f"create-{order_id}"


def cancel_saga_id(order_id: str, version: int) -> str:
    """The id of the CancelOrderSaga started when the order was at ``version``.

    An order cancelled, restored by a failed cancellation and cancelled again
    gets a new saga each time.
    """
    return f"cancel-{order_id}-{version}"


class OrderStateConflict(DomainError):
    """The order is not in a state the change starts from."""

    def __init__(self, order_id: str, state: str, wanted: Iterable[OrderState]) -> None:
        self.order_id = order_id
        self.state = state
        names = ", ".join(sorted(wanted))
        super().__init__(f"order {order_id} is {state}, not {names}")


@attrs.frozen
class Orders:
    """Order changes, each one transaction with its journal event (and any command sent).

    Args:
        uow_factory: Opens the transactions.
        events: The event store holding each order's journal.
        outbox: Where commands to the customers service are written.
    """

    uow_factory: UnitOfWorkFactory
    events: EventStore
    outbox: Outbox

    async def _run(self, work: Callable[[UnitOfWork], Awaitable[R]]) -> R:
        """Run ``work`` in a transaction, from a fresh read again after a lost race.

        Every change appends to the event store's one global log, so
        concurrent changes of different orders collide there; the store's
        own retries give up sooner than a burst of orders needs.
        """
        async for attempt in tenacity.AsyncRetrying(
            retry=tenacity.retry_if_exception_type(ConcurrencyConflict),
            stop=tenacity.stop_after_attempt(30),
            wait=tenacity.wait_random_exponential(multiplier=0.01, max=0.5),
            reraise=True,
        ):
            with attempt:
                return await self.uow_factory.run(work)
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    async def _journal(self, uow: UnitOfWork, order_id: str, event: Event) -> None:
        version = await self.events.stream_version(order_id, uow=uow)
        await self.events.append(order_id, [event], expected_version=version, uow=uow)

    async def place(self, customer_id: str, total: Decimal) -> Order:
        """Store a new ``PENDING`` order with its ``OrderPlaced`` event."""
        order = Order(customer_id=customer_id, total=total)
        order.saga_id = create_saga_id(order.id)

        async def work(uow: UnitOfWork) -> Order:
            stored = await uow.repository(Order).insert(order)
            placed = OrderPlaced(order_id=order.id, customer_id=customer_id, total=total)
            await self._journal(uow, order.id, placed)
            return stored

        return await self._run(work)

    async def get(self, order_id: str) -> Order:
        """The order (``NotFound`` when there is none)."""

        async def work(uow: UnitOfWork) -> Order:
            return await uow.repository(Order).get(order_id)

        return await self._run(work)

    async def move(
        self,
        order_id: str,
        wanted: Iterable[OrderState],
        to: OrderState,
        event: Event,
        **changes: Any,
    ) -> Order:
        """Move the order from one of the ``wanted`` states to ``to``, journalling ``event``.

        ``changes`` are other fields set with the move. Idempotent: an order
        already in ``to`` is returned unchanged.

        Raises:
            NotFound: No such order.
            OrderStateConflict: The order is in another state.
        """
        allowed = frozenset(wanted)

        async def work(uow: UnitOfWork) -> Order:
            orders = uow.repository(Order)
            order = await orders.get(order_id)
            if order.state == to:
                return order
            if order.state not in allowed:
                raise OrderStateConflict(order_id, order.state, allowed)
            order.state = to.value
            for name, value in changes.items():
                setattr(order, name, value)
            saved = await orders.save(order)
            await self._journal(uow, order_id, event)
            return saved

        return await self._run(work)

    async def request_cancel(self, order_id: str) -> Order:
        """``APPROVED`` -> ``CANCEL_PENDING``, naming the cancel saga to run.

        Raises:
            NotFound: No such order.
            OrderStateConflict: The order is not ``APPROVED`` (a cancellation
                under way included).
        """

        async def work(uow: UnitOfWork) -> Order:
            orders = uow.repository(Order)
            order = await orders.get(order_id)
            if order.state != OrderState.APPROVED:
                raise OrderStateConflict(order_id, order.state, [OrderState.APPROVED])
            order.state = OrderState.CANCEL_PENDING.value
            order.cancel_saga_id = cancel_saga_id(order_id, order.version)
            saved = await orders.save(order)
            await self._journal(uow, order_id, OrderCancelRequested(order_id=order_id))
            return saved

        return await self._run(work)

    async def send(self, command: Command, key: str) -> None:
        """Write ``command`` to the outbox once per ``key`` (a step's idempotency key)."""

        async def work(uow: UnitOfWork) -> None:
            await self.outbox.send(command, topic=COMMANDS, uow=uow, message_id=f"msg_{key}")

        try:
            await self._run(work)
        except DuplicateKey:
            return  # an earlier attempt of the step sent it already


def _order_id(ctx: StepContext) -> str:
    return str(ctx.data["order_id"])


def _reason(failure: str | None) -> str:
    return failure if failure in KNOWN_REASONS else "credit_check_failed"


def create_order_saga(orders: Orders, reply_timeout: float | None) -> SagaDefinition:
    """The CreateOrderSaga (see the module's docstring).

    Args:
        orders: The order changes.
        reply_timeout: Seconds to wait for the customers service's answer
            before the order is rejected (``None``: wait as long as it takes).
    """

    async def check_order(ctx: StepContext) -> dict[str, Any]:
        order = await orders.get(_order_id(ctx))
        return {"state": order.state}

    async def reject(ctx: StepContext) -> None:
        reason = _reason(ctx.failure)
        rejected = OrderRejected(order_id=_order_id(ctx), reason=reason)
        await orders.move(
            _order_id(ctx),
            [OrderState.PENDING],
            OrderState.REJECTED,
            rejected,
            rejection_reason=reason,
        )

    async def reserve(ctx: StepContext) -> None:
        command = ReserveCredit(
            customer_id=ctx.data["customer_id"],
            order_id=_order_id(ctx),
            amount=Decimal(ctx.data["total"]),
        )
        await orders.send(command, ctx.idempotency_key)

    async def release(ctx: StepContext) -> None:
        command = ReleaseCredit(customer_id=ctx.data["customer_id"], order_id=_order_id(ctx))
        await orders.send(command, ctx.idempotency_key)

    async def approve(ctx: StepContext) -> None:
        approved = OrderApproved(order_id=_order_id(ctx))
        await orders.move(_order_id(ctx), [OrderState.PENDING], OrderState.APPROVED, approved)

    return SagaDefinition(
        CREATE_ORDER,
        [
            SagaStep(
                "create_order",
                action=check_order,
                compensation=reject,
                retry=RETRY,
                compensation_retry=UNDO_RETRY,
            ),
            SagaStep(
                "reserve_credit",
                action=reserve,
                compensation=release,
                awaits_reply=True,
                reply_timeout=reply_timeout,
                retry=RETRY,
                compensation_retry=UNDO_RETRY,
            ),
            SagaStep("approve_order", action=approve, retry=RETRY),
        ],
    )


def cancel_order_saga(orders: Orders) -> SagaDefinition:
    """The CancelOrderSaga (see the module's docstring).

    Releasing waits for the customers service however long it takes: undoing
    a release whose outcome is unknown would need credit reserved again.
    """

    async def request_cancel(ctx: StepContext) -> None:
        requested = OrderCancelRequested(order_id=_order_id(ctx))
        await orders.move(
            _order_id(ctx), [OrderState.APPROVED], OrderState.CANCEL_PENDING, requested
        )

    async def restore(ctx: StepContext) -> None:
        aborted = OrderCancelAborted(order_id=_order_id(ctx))
        await orders.move(_order_id(ctx), [OrderState.CANCEL_PENDING], OrderState.APPROVED, aborted)

    async def release(ctx: StepContext) -> None:
        command = ReleaseCredit(customer_id=ctx.data["customer_id"], order_id=_order_id(ctx))
        await orders.send(command, ctx.idempotency_key)

    async def cancel(ctx: StepContext) -> None:
        cancelled = OrderCancelled(order_id=_order_id(ctx))
        await orders.move(
            _order_id(ctx), [OrderState.CANCEL_PENDING], OrderState.CANCELLED, cancelled
        )

    return SagaDefinition(
        CANCEL_ORDER,
        [
            SagaStep(
                "request_cancel",
                action=request_cancel,
                compensation=restore,
                retry=RETRY,
                compensation_retry=UNDO_RETRY,
            ),
            SagaStep("release_credit", action=release, awaits_reply=True, retry=RETRY),
            SagaStep("cancel_order", action=cancel, retry=RETRY),
        ],
    )


def saga_data(order: Order) -> dict[str, Any]:
    """What both sagas of an order start with."""
    return {"order_id": order.id, "customer_id": order.customer_id, "total": money(order.total)}
