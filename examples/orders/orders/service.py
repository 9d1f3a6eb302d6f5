"""The orders service: HTTP routes, the sagas, the reply consumer, the order-history projection.

``POST /orders`` stores a ``PENDING`` order and begins its CreateOrderSaga;
the coordinator's background loop sends ``ReserveCredit`` through the outbox
and waits. The customers service's answers arrive on
:data:`~examples.orders.contracts.EVENTS`; the consumer hands each one to the
saga waiting for it (``SagaCoordinator.reply``, which ignores an answer
nobody waits for, so redeliveries change nothing). ``POST
/orders/{id}/cancel`` moves an ``APPROVED`` order to ``CANCEL_PENDING`` and
begins a CancelOrderSaga. At start-up, every order left ``PENDING`` or
``CANCEL_PENDING`` gets its saga begun again (a no-op for the ones that have
it), which covers a crash between storing an order and beginning its saga.
"""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import attrs
from dependency_injector import providers
from litestar import Litestar, get, post
from litestar.params import Parameter

from examples.orders._money import money, parse_amount
from examples.orders.contracts import (
    EVENTS,
    CreditReleased,
    CreditReservationFailed,
    CreditReserved,
)
from examples.orders.orders.domain import (
    STATE_AFTER,
    Order,
    OrderHistoryRow,
    OrderPlaced,
    OrderRejected,
    OrderState,
)
from examples.orders.orders.sagas import (
    CANCEL_ORDER,
    CREATE_ORDER,
    Orders,
    OrderStateConflict,
    cancel_order_saga,
    create_order_saga,
    create_saga_id,
    saga_data,
)
from hexkernel.application import ProjectionRunner, SagaCoordinator
from hexkernel.core import Query
from hexkernel.core.errors import ErrorItem, NotFound, ValidationError
from hexkernel.core.ports.event_store import StoredEvent
from hexkernel.core.ports.unit_of_work import UnitOfWork
from hexkernel.core.sagas import SagaState, SagaStatus
from hexkernel.interfaces.bootstrap import RootContainer, Service
from hexkernel.interfaces.config import Settings, load_settings
from hexkernel.interfaces.http.app import create_app
from hexkernel.interfaces.http.problems import Problem

log = logging.getLogger("examples.orders")

STATE_NAMES = {
    SagaStatus.RUNNING: "RUNNING",
    SagaStatus.COMPENSATING: "COMPENSATING",
    SagaStatus.COMPLETED: "COMPLETED",
    SagaStatus.COMPENSATED: "ROLLED_BACK",
    SagaStatus.FAILED: "FAILED",
}
"""The saga states as the example's API names them."""
STATUS_OF = {name: status for status, name in STATE_NAMES.items()}


@attrs.frozen(kw_only=True)
class OrdersSection:
    """The service's own settings (``orders.*``, e.g. ``HEXKERNEL_ORDERS__REPLY_TIMEOUT_SECONDS``).

    Attributes:
        reply_timeout_seconds: How long a CreateOrderSaga waits for the
            customers service before it rejects the order (``credit_check_failed``).
    """

    reply_timeout_seconds: float = attrs.field(default=300.0, validator=attrs.validators.gt(0))


@attrs.frozen(kw_only=True)
class OrdersSettings(Settings):
    """The hexkernel settings plus the ``orders`` section."""

    orders: OrdersSection = attrs.field(factory=OrdersSection)


def order_view(order: Order) -> dict[str, Any]:
    """The JSON form of an order (``rejection_reason`` only when there is one)."""
    view: dict[str, Any] = {
        "id": order.id,
        "customer_id": order.customer_id,
        "total": money(order.total),
        "state": order.state,
        "saga_id": order.saga_id,
    }
    if order.rejection_reason is not None:
        view["rejection_reason"] = order.rejection_reason
    if order.cancel_saga_id is not None:
        view["cancel_saga_id"] = order.cancel_saga_id
    return view


def saga_view(state: SagaState) -> dict[str, Any]:
    """The JSON form of a saga instance, for inspection."""
    current = state.current
    return {
        "id": state.id,
        "type": state.type,
        "state": STATE_NAMES[state.status],
        "current_step": current.name if current is not None else None,
        "attempts": current.attempts if current is not None else 0,
        "last_error": state.error,
        "data": state.data,
        "steps": [
            {
                "name": s.name,
                "status": s.status.value,
                "attempts": s.attempts,
                "compensation_attempts": s.compensation_attempts,
                "error": s.error,
            }
            for s in state.steps
        ],
        "created_at": state.created_at.isoformat(timespec="milliseconds"),
        "updated_at": state.updated_at.isoformat(timespec="milliseconds"),
    }


def read_new_order(data: Any) -> tuple[str, Decimal]:
    """Check the body of ``POST /orders``; every problem is reported at once."""
    if not isinstance(data, dict):
        raise ValidationError.single("", "invalid_type", "must be an object")
    problems = [
        ErrorItem(key, "unknown_field", "is not a field of an order")
        for key in data
        if key not in {"customer_id", "total"}
    ]
    customer_id = data.get("customer_id")
    if not isinstance(customer_id, str) or not customer_id.strip():
        problems.append(ErrorItem("customer_id", "missing", "is required (a customer's id)"))
    total = Decimal(0)
    if "total" not in data:
        problems.append(ErrorItem("total", "missing", "is required"))
    else:
        try:
            total = parse_amount(data["total"], "total")
        except ValidationError as exc:
            problems.extend(exc.errors)
        else:
            if total <= 0:
                problems.append(ErrorItem("total", "out_of_range", "must be more than 0.00"))
    if problems:
        raise ValidationError(problems, "Order")
    assert isinstance(customer_id, str)  # noqa: S101 - checked above
    return customer_id.strip(), total


class OrderHistoryProjection:
    """The order-history read model: one row per order, with its latest state.

    It follows the orders' journal in the service's event store; the
    projection runner commits each batch of rows with the checkpoint.
    """

    name = "order-history"

    async def handle(self, stored: StoredEvent, uow: UnitOfWork) -> None:
        """Apply one journal event to the rows."""
        event = stored.event
        state = STATE_AFTER.get(type(event))
        if state is None:
            return
        rows = uow.repository(OrderHistoryRow)
        order_id: str = event.order_id  # type: ignore[attr-defined]
        if isinstance(event, OrderPlaced):
            row = OrderHistoryRow(
                id=order_id,
                customer_id=event.customer_id,
                total=event.total,
                state=state.value,
                placed_position=stored.position,
                position=stored.position,
            )
            await rows.insert(row)
            return
        row = await rows.get(order_id)
        row.state = state.value
        if isinstance(event, OrderRejected):
            row.rejection_reason = event.reason
        row.position = stored.position
        await rows.save(row)

    async def clear(self, uow: UnitOfWork) -> None:
        """Delete every row (before a rebuild)."""
        rows = uow.repository(OrderHistoryRow)
        for row in await rows.find(Query(OrderHistoryRow)):
            await rows.delete(row.id)


@attrs.frozen
class Replies:
    """The consumer of the customers service's events: answers go to the waiting sagas."""

    orders: Orders
    sagas: SagaCoordinator

    async def _reply(self, saga_id: str, step: str, **answer: Any) -> None:
        """Hand the answer to the saga.

        The coordinator ignores an answer nobody waits for (a redelivery), and
        keeps one that overtook the step's own save (the customers service can
        answer before the coordinator has recorded that the step waits).
        """
        try:
            await self.sagas.reply(saga_id, step, **answer)
        except NotFound:
            log.info("no saga %s waits for %s: the answer is ignored", saga_id, step)

    async def reserved(self, event: CreditReserved) -> None:
        """Credit is reserved: the CreateOrderSaga approves the order."""
        result = {"amount": money(event.amount)}
        await self._reply(create_saga_id(event.order_id), "reserve_credit", result=result)

    async def refused(self, event: CreditReservationFailed) -> None:
        """No credit: the CreateOrderSaga rejects the order with the reason."""
        await self._reply(create_saga_id(event.order_id), "reserve_credit", failure=event.reason)

    async def released(self, event: CreditReleased) -> None:
        """Credit is released: the order's CancelOrderSaga cancels it."""
        try:
            order = await self.orders.get(event.order_id)
        except NotFound:
            return
        if order.cancel_saga_id is not None:
            result = {"amount": money(event.amount)}
            await self._reply(order.cancel_saga_id, "release_credit", result=result)


async def resume_orders(orders: Orders, sagas: SagaCoordinator) -> int:
    """Begin the saga of every order still in progress; return how many were looked at."""

    async def unfinished(uow: UnitOfWork) -> list[Order]:
        wanted = (OrderState.PENDING.value, OrderState.CANCEL_PENDING.value)
        query = Query(Order).where(Order.state.in_(wanted))  # type: ignore[attr-defined]
        return await uow.repository(Order).find(query)

    found = await orders.uow_factory.run(unfinished)
    for order in found:
        if order.state == OrderState.PENDING and order.saga_id is not None:
            await sagas.begin(CREATE_ORDER, saga_data(order), saga_id=order.saga_id)
        elif order.cancel_saga_id is not None:
            await sagas.begin(CANCEL_ORDER, saga_data(order), saga_id=order.cancel_saga_id)
    return len(found)


def build_app(settings: Settings) -> Litestar:
    """The orders app for ``settings`` (``mongo.*``, ``broker.*``, ``sagas.*``, ``orders.*``)."""
    if settings.service == Settings().service:
        settings = attrs.evolve(settings, service="orders")
    section = settings.orders if isinstance(settings, OrdersSettings) else OrdersSection()
    container = RootContainer.from_settings(settings)
    orders = Orders(container.uow_factory(), container.event_store(), container.outbox())
    container.sagas.override(
        providers.List(
            providers.Object(create_order_saga(orders, section.reply_timeout_seconds)),
            providers.Object(cancel_order_saga(orders)),
        )
    )
    sagas: SagaCoordinator = container.saga_coordinator()
    replies = Replies(orders, sagas)
    container.consumer_topics.override(providers.List(EVENTS))
    container.consumer_handlers.override(
        providers.Dict(
            {
                CreditReserved: providers.Object(replies.reserved),
                CreditReservationFailed: providers.Object(replies.refused),
                CreditReleased: providers.Object(replies.released),
            }
        )
    )
    history = OrderHistoryProjection()
    container.projections.override(providers.List(providers.Object(history)))
    runner: ProjectionRunner = container.projection_runner()
    event_store = container.event_store()

    @asynccontextmanager
    async def resume(_: Litestar) -> AsyncIterator[None]:
        # The service's lifespan already runs the relay, the consumer, the saga
        # loop and the projection runner; this begins the unfinished orders' sagas.
        resumed = await resume_orders(orders, sagas)
        if resumed:
            log.info("%d unfinished orders: their sagas were begun again", resumed)
        yield

    @post("/orders", status_code=201)
    async def place_order(data: Any) -> dict[str, Any]:
        customer_id, total = read_new_order(data)
        order = await orders.place(customer_id, total)
        await sagas.begin(CREATE_ORDER, saga_data(order), saga_id=order.saga_id)
        return order_view(order)

    @get("/orders/{order_id:str}")
    async def get_order(order_id: str) -> dict[str, Any]:
        return order_view(await orders.get(order_id))

    @post("/orders/{order_id:str}/cancel", status_code=202)
    async def cancel_order(order_id: str) -> dict[str, Any]:
        try:
            order = await orders.request_cancel(order_id)
        except OrderStateConflict as exc:
            raise Problem(409, "order_not_approved", str(exc)) from None
        assert order.cancel_saga_id is not None  # noqa: S101 - request_cancel sets it
        await sagas.begin(CANCEL_ORDER, saga_data(order), saga_id=order.cancel_saga_id)
        return order_view(order)

    @get("/order-history/{customer_id:str}")
    async def order_history(customer_id: str) -> dict[str, Any]:
        async def read(uow: UnitOfWork) -> tuple[int, list[OrderHistoryRow]]:
            # The checkpoint first, then the rows, in one transaction: the rows
            # reflect every event up to the checkpoint. The log's last position
            # is read afterwards, so ``checkpoint == log_position`` means these
            # rows are up to date with everything committed before the request.
            checkpoint = await runner.checkpoint(history, uow=uow)
            query = Query(OrderHistoryRow).where(
                OrderHistoryRow.customer_id == customer_id  # type: ignore[arg-type]
            )
            return checkpoint, await uow.repository(OrderHistoryRow).find(query)

        checkpoint, found = await orders.uow_factory.run(read)
        rows = sorted(found, key=lambda r: r.placed_position)
        return {
            "customer_id": customer_id,
            "orders": [
                {
                    "order_id": r.id,
                    "total": money(r.total),
                    "state": r.state,
                    "rejection_reason": r.rejection_reason,
                    "position": r.position,
                }
                for r in rows
            ],
            "checkpoint": checkpoint,
            "log_position": await event_store.last_position(),
        }

    @get("/sagas/{saga_id:str}")
    async def get_saga(saga_id: str) -> dict[str, Any]:
        return saga_view(await sagas.get(saga_id))

    @get("/sagas")
    async def list_sagas(
        saga_state: str | None = Parameter(query="state", default=None),
        saga_type: str | None = Parameter(query="type", default=None),
        limit: int = 100,
    ) -> dict[str, Any]:
        status = None
        if saga_state is not None:
            status = STATUS_OF.get(saga_state.upper())
            if status is None:
                names = ", ".join(STATE_NAMES.values())
                raise ValidationError.single("state", "invalid_choice", f"must be one of {names}")
        if not 1 <= limit <= 1000:  # noqa: PLR2004 - the page limit
            raise ValidationError.single("limit", "out_of_range", "must be between 1 and 1000")
        found = await sagas.find(status=status, saga_type=saga_type, limit=limit)
        return {"_items": [saga_view(s) for s in found]}

    return create_app(
        Service(container, [Order, OrderHistoryRow]),
        [],
        title="Orders",
        route_handlers=[
            place_order,
            get_order,
            cancel_order,
            order_history,
            get_saga,
            list_sagas,
        ],
        lifespan=[resume],
    )


app = build_app(load_settings(OrdersSettings))
