"""Messages, Models, handlers and storage backends of the messaging tests.

The messages are declared in their own registry (:data:`MESSAGES`), which the
outbox, the consumers and the test processes are given. A ``*Messaging``
backend is fresh storage with its outbox store, inbox and units of work.
"""

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

from hexkernel.adapters.memory import InMemoryRepository, InMemoryStore, InMemoryUnitOfWorkFactory
from hexkernel.adapters.memory.outbox import InMemoryInbox, InMemoryOutboxStore
from hexkernel.adapters.mongo import MongoRepository, MongoUnitOfWorkFactory, connect
from hexkernel.adapters.mongo.outbox import MongoInbox, MongoOutboxStore
from hexkernel.application import current_unit_of_work
from hexkernel.core import Field, Model
from hexkernel.core.errors import NotFound
from hexkernel.core.messages import Command, Event, MessageRegistry, message
from hexkernel.core.ports import Inbox, OutboxStore, Repository, UnitOfWorkFactory

__all__ = (
    "MESSAGES",
    "MemoryMessaging",
    "MongoMessaging",
    "Ship",
    "Shipment",
    "ShipmentRequested",
    "Tally",
    "count_shipment",
    "mongo_messaging",
)

MESSAGES = MessageRegistry()


@message("hk_msg.ShipmentRequested", into=MESSAGES)
class ShipmentRequested(Event):
    shipment_id: str
    n: int


@message("hk_msg.Ship", into=MESSAGES)
class Ship(Command):
    n: int


class Shipment(Model, prefix="shp", collection="msg_shipments"):
    """The producer's state change."""

    n: int


class Tally(Model, prefix="tly", collection="msg_tallies"):
    """The consumer's effect: a count and the numbers seen, neither of them idempotent."""

    count: int = 0
    seen: list[int] = Field(factory=list)


TALLY = "tally"


async def count_shipment(event: ShipmentRequested) -> None:
    """The consumer's handler: add one to the tally and note the number, in the current unit."""
    uow = current_unit_of_work()
    assert uow is not None, "the consumer runner opens a unit of work"
    tallies = uow.repository(Tally)
    try:
        tally = await tallies.get(TALLY)
    except NotFound:
        await tallies.insert(Tally(id=TALLY, count=1, seen=[event.n]))
        return
    tally.count += 1
    tally.seen = [*tally.seen, event.n]
    await tallies.save(tally)


async def read_tally(repository: Repository[Any]) -> Tally:
    """The tally, or an empty one."""
    try:
        return await repository.get(TALLY)
    except NotFound:
        return Tally(id=TALLY)


class MemoryMessaging:
    def __init__(self) -> None:
        self.memory = InMemoryStore()
        self.outbox_store: OutboxStore = InMemoryOutboxStore(self.memory)
        self.inbox: Inbox = InMemoryInbox(self.memory)
        self.uow_factory: UnitOfWorkFactory = InMemoryUnitOfWorkFactory(self.memory)

    def repository(self, model: type[Any]) -> Repository[Any]:
        return InMemoryRepository(model, self.memory)

    def another_outbox_store(self) -> OutboxStore:
        """A second store object on the same storage (another relay's)."""
        return InMemoryOutboxStore(self.memory)


class MongoMessaging:
    def __init__(self, client: Any, database: Any) -> None:
        self.client = client
        self.database = database
        self.outbox_store: OutboxStore = MongoOutboxStore(database)
        self.inbox: Inbox = MongoInbox(database)
        self.uow_factory: UnitOfWorkFactory = MongoUnitOfWorkFactory(client, database)

    def repository(self, model: type[Any]) -> Repository[Any]:
        return MongoRepository(model, self.database)

    def another_outbox_store(self) -> OutboxStore:
        return MongoOutboxStore(self.database)


@contextlib.asynccontextmanager
async def mongo_messaging(uri: str, name: str | None = None) -> AsyncIterator[MongoMessaging]:
    """A :class:`MongoMessaging` on a fresh database, dropped afterwards."""
    client = connect(uri)
    name = name or f"hk_msg_{uuid.uuid4().hex}"
    try:
        yield MongoMessaging(client, client[name])
    finally:
        try:
            await client.drop_database(name)
        finally:
            await client.close()
