"""The composition root provides the buses, the dispatcher, the event store and the projections."""

from decimal import Decimal

import pytest
from dependency_injector import providers
from hk_testing.es_models import Account, AccountOpened, Deposit, GetBalance, Open
from hk_testing.projection_contracts import Balances

from hexkernel.application import (
    CommandBus,
    EventDispatcher,
    EventSourcedRepository,
    MessageMetric,
    ProjectionRunner,
    QueryBus,
)
from hexkernel.core.ports.event_store import EventStore
from hexkernel.interfaces.bootstrap import RootContainer
from hexkernel.interfaces.config import MongoSettings, Secret, Settings

pytestmark = pytest.mark.anyio


async def open_account(repository, command: Open) -> None:
    await repository.save(Account.open(command.account_id, command.owner))


async def deposit(repository, command: Deposit) -> None:
    account = await repository.get(command.account_id)
    account.deposit(command.amount)
    await repository.save(account)


async def balance(repository, query: GetBalance) -> Decimal:
    return (await repository.get(query.account_id)).balance


OPENED: list = []
METRICS: list = []


def wire_accounts(container: RootContainer) -> None:
    """How a service registers its handlers: it overrides the container's slots."""
    repository = providers.Singleton(
        EventSourcedRepository, Account, container.event_store, snapshot_every=10
    )

    def handler(function):
        return providers.Callable(lambda repo: lambda message: function(repo, message), repository)

    container.command_handlers.override(
        providers.Dict({Open: handler(open_account), Deposit: handler(deposit)})
    )
    container.query_handlers.override(providers.Dict({GetBalance: handler(balance)}))
    container.event_handlers.override(
        providers.Dict({AccountOpened: providers.List(providers.Object(_record_opened))})
    )
    container.message_metrics.override(providers.Object(METRICS.append))
    container.projections.override(providers.List(providers.Singleton(Balances)))


async def _record_opened(event) -> None:
    OPENED.append(event)


async def test_the_default_container_provides_every_cqrs_part():
    container = RootContainer.from_settings(Settings())
    container.check_dependencies()

    assert isinstance(container.command_bus(), CommandBus)
    assert isinstance(container.query_bus(), QueryBus)
    assert isinstance(container.event_dispatcher(), EventDispatcher)
    assert isinstance(container.event_store(), EventStore)
    assert isinstance(container.projection_runner(), ProjectionRunner)
    assert container.command_bus() is container.command_bus()
    assert type(container.event_store()).__name__ == "InMemoryEventStore"


async def test_with_a_mongo_uri_the_event_store_is_mongodb_without_connecting():
    settings = Settings(mongo=MongoSettings(uri=Secret("mongodb://nobody:secret@db.invalid/")))
    container = RootContainer.from_settings(settings)
    assert type(container.event_store()).__name__ == "MongoEventStore"


async def test_handlers_registered_in_a_container_handle_messages_end_to_end():
    container = RootContainer.from_settings(Settings())
    wire_accounts(container)
    commands, queries = container.command_bus(), container.query_bus()

    await commands.dispatch(Open(account_id="acc_1", owner="Ada"))
    await commands.dispatch(Deposit(account_id="acc_1", amount=Decimal("4.00")))

    assert await queries.ask(GetBalance(account_id="acc_1")) == Decimal("4.00")
    assert [AccountOpened(account_id="acc_1", owner="Ada")] == OPENED
    assert [(m.kind, m.type) for m in METRICS] == [
        ("command", "hk_test.Open"),
        ("command", "hk_test.Deposit"),
        ("query", "hk_test.GetBalance"),
    ]
    assert all(isinstance(m, MessageMetric) for m in METRICS)
    runner = container.projection_runner()
    assert await runner.catch_up() == 2
    # The event store shares the unit of work's store: the projection's rows are there.
    rows = container.memory.store().table("es_balances").documents
    assert rows["acc_1"]["balance"] == Decimal("4.00")


async def test_the_service_runs_registered_projections_in_the_background():
    import anyio

    from hexkernel.interfaces.bootstrap import Service

    container = RootContainer.from_settings(Settings())
    wire_accounts(container)
    service = Service(container, [])
    await service.start_background()
    try:
        await container.command_bus().dispatch(Open(account_id="acc_9", owner="Bo"))
        await container.command_bus().dispatch(Deposit(account_id="acc_9", amount=Decimal("2.50")))
        rows = container.memory.store().table("es_balances").documents
        with anyio.fail_after(5):
            while rows.get("acc_9", {}).get("balance") != Decimal("2.50"):
                await anyio.sleep(0.01)
                rows = container.memory.store().table("es_balances").documents
    finally:
        await service.stop_background()
    runner = container.projection_runner()
    assert await runner.checkpoint(runner.projections[0]) == 2
