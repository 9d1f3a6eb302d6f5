"""The customers service: HTTP routes, the command consumer and the wiring.

Customers are created over HTTP (through the command bus: one unit of work
that appends ``CustomerCreated`` and writes it to the outbox). Credit is
reserved and released only by commands arriving on the broker
(:data:`~examples.orders.contracts.COMMANDS`): the consumer records each
message id in its inbox in the same transaction as the events it appends and
the replies it writes to the outbox, so a redelivered command changes
nothing. The outbox relay publishes every event to
:data:`~examples.orders.contracts.EVENTS`, where the orders service hears them.
"""

from decimal import Decimal
from typing import Any

import attrs
from dependency_injector import providers
from litestar import Litestar, get, post

from examples.orders._money import money, parse_amount
from examples.orders.contracts import (
    COMMANDS,
    EVENTS,
    UNKNOWN_CUSTOMER,
    CreditReleased,
    CreditReservationFailed,
    CreditReserved,
    ReleaseCredit,
    ReserveCredit,
)
from examples.orders.customers.domain import Customer
from hexkernel.application import EventSourcedRepository, Outbox
from hexkernel.core.errors import ErrorItem, NotFound, ValidationError
from hexkernel.core.messages import Command, Event, message
from hexkernel.interfaces.bootstrap import RootContainer, Service
from hexkernel.interfaces.config import Settings, load_settings
from hexkernel.interfaces.http.app import create_app

SNAPSHOT_EVERY = 50
_NAME_LIMIT = 100


@message("customers.CreateCustomer")
class CreateCustomer(Command):
    """Register a customer (an HTTP request turned into a command)."""

    name: str
    credit_limit: Decimal


def customer_view(customer: Customer) -> dict[str, Any]:
    """The JSON form of a customer."""
    return {
        "id": customer.id,
        "name": customer.name,
        "credit_limit": money(customer.credit_limit),
        "available_credit": money(customer.available_credit),
        "version": customer.version,
    }


def read_new_customer(data: Any) -> CreateCustomer:
    """Check the body of ``POST /customers``; every problem is reported at once."""
    if not isinstance(data, dict):
        raise ValidationError.single("", "invalid_type", "must be an object")
    problems = [
        ErrorItem(key, "unknown_field", "is not a field of a customer")
        for key in data
        if key not in {"name", "credit_limit"}
    ]
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append(ErrorItem("name", "missing", "is required (non-empty text)"))
    elif len(name.strip()) > _NAME_LIMIT:
        problems.append(ErrorItem("name", "too_long", "has more than 100 characters"))
    limit = Decimal(0)
    if "credit_limit" not in data:
        problems.append(ErrorItem("credit_limit", "missing", "is required"))
    else:
        try:
            limit = parse_amount(data["credit_limit"], "credit_limit")
        except ValidationError as exc:
            problems.extend(exc.errors)
    if problems:
        raise ValidationError(problems, "Customer")
    assert isinstance(name, str)  # noqa: S101 - checked above
    return CreateCustomer(name=name.strip(), credit_limit=limit)


@attrs.frozen
class CustomerHandlers:
    """The handlers of the service's commands, HTTP and broker alike."""

    customers: EventSourcedRepository[Customer]
    outbox: Outbox

    async def create(self, command: CreateCustomer) -> Customer:
        """Append ``CustomerCreated`` in the command's unit of work."""
        customer = Customer.create(command.name, command.credit_limit)
        await self.customers.save(customer)
        return customer

    async def reserve(self, command: ReserveCredit) -> None:
        """Reserve credit, or record why not; the outcome leaves as an event (the reply).

        An unknown customer has no stream to record the refusal in, so the
        refusal is only sent. A repeated request for an order that holds a
        reservation is answered again without recording anything.
        """
        customer = await self.customers.find(command.customer_id)
        if customer is None:
            await self.outbox.send(
                CreditReservationFailed(
                    customer_id=command.customer_id,
                    order_id=command.order_id,
                    amount=command.amount,
                    reason=UNKNOWN_CUSTOMER,
                ),
                topic=EVENTS,
            )
        elif customer.reserve(command.order_id, command.amount):
            await self.customers.save(customer)  # the runner puts the new events in the outbox
        else:
            await self.outbox.send(
                CreditReserved(
                    customer_id=customer.id,
                    order_id=command.order_id,
                    amount=customer.reserved[command.order_id],
                ),
                topic=EVENTS,
            )

    async def release(self, command: ReleaseCredit) -> None:
        """Release an order's credit; answer ``CreditReleased`` (amount 0 when none was held)."""
        customer = await self.customers.find(command.customer_id)
        if customer is not None and customer.release(command.order_id):
            await self.customers.save(customer)
            return
        await self.outbox.send(
            CreditReleased(
                customer_id=command.customer_id, order_id=command.order_id, amount=Decimal("0.00")
            ),
            topic=EVENTS,
        )


def build_app(settings: Settings) -> Litestar:
    """The customers app for ``settings`` (``mongo.*``, ``broker.*``)."""
    if settings.service == Settings().service:
        settings = attrs.evolve(settings, service="customers")
    container = RootContainer.from_settings(settings)
    container.message_routes.override(providers.Dict({Event: EVENTS}))
    handlers = CustomerHandlers(
        EventSourcedRepository(Customer, container.event_store(), snapshot_every=SNAPSHOT_EVERY),
        container.outbox(),
    )
    container.command_handlers.override(
        providers.Dict({CreateCustomer: providers.Object(handlers.create)})
    )
    container.consumer_topics.override(providers.List(COMMANDS))
    container.consumer_handlers.override(
        providers.Dict(
            {
                ReserveCredit: providers.Object(handlers.reserve),
                ReleaseCredit: providers.Object(handlers.release),
            }
        )
    )
    command_bus = container.command_bus()
    customers = handlers.customers

    @post("/customers", status_code=201)
    async def create_customer(data: Any) -> dict[str, Any]:
        customer = await command_bus.dispatch(read_new_customer(data))
        return customer_view(customer)

    @get("/customers/{customer_id:str}")
    async def get_customer(customer_id: str) -> dict[str, Any]:
        return customer_view(await customers.get(customer_id))

    @get("/customers/{customer_id:str}/events")
    async def customer_events(customer_id: str) -> dict[str, Any]:
        stored = await customers.events(customer_id)
        if not stored:
            raise NotFound("Customer", customer_id)
        return {
            "_items": [
                {
                    "type": s.type,
                    "version": s.version,
                    "occurred_at": s.occurred_at.isoformat(timespec="milliseconds"),
                    "data": s.event.to_dict(),
                }
                for s in stored
            ]
        }

    return create_app(
        Service(container, []),
        [],
        title="Customers",
        route_handlers=[create_customer, get_customer, customer_events],
    )


app = build_app(load_settings())
