"""The event-store contracts, run against every adapter of the port.

A test module provides a fixture named ``es_backend`` (an :class:`EventBackend`:
fresh storage, the event store on it, a unit-of-work factory and repositories
sharing it) and subclasses every contract under a ``Test`` name, as the
repository contracts do; :func:`uncovered` checks that none is left out.
"""

import asyncio
import contextlib
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any, Protocol

import pytest

from hexkernel.adapters.memory import InMemoryRepository, InMemoryStore, InMemoryUnitOfWorkFactory
from hexkernel.adapters.memory.event_store import InMemoryEventStore
from hexkernel.adapters.mongo import MongoRepository, MongoUnitOfWorkFactory, connect
from hexkernel.adapters.mongo.event_store import MongoEventStore
from hexkernel.core.correlation import correlated
from hexkernel.core.errors import ConcurrencyConflict, ValidationError
from hexkernel.core.messages import Event, MessageRegistry
from hexkernel.core.ports import Repository, UnitOfWorkFactory
from hexkernel.core.ports.event_store import EventStore, Snapshot
from hexkernel.core.query import Query
from hk_testing.es_models import LEGACY, AccountOpened, Deposited, DepositedV1, Note, Withdrawn

__all__ = (
    "EVENT_STORE_CONTRACTS",
    "EventBackend",
    "MemoryEventBackend",
    "MongoEventBackend",
    "mongo_event_backend",
    "uncovered",
)


class EventBackend(Protocol):
    """Fresh storage with an event store, units of work and repositories on it."""

    store: EventStore
    uow_factory: UnitOfWorkFactory

    def repository(self, model: type[Any]) -> Repository[Any]: ...

    def store_with(self, registry: MessageRegistry) -> EventStore:
        """Another event store on the same storage, reading with ``registry``."""
        ...


class MemoryEventBackend:
    def __init__(self) -> None:
        self.memory = InMemoryStore()
        self.store = InMemoryEventStore(self.memory)
        self.uow_factory = InMemoryUnitOfWorkFactory(self.memory)

    def repository(self, model: type[Any]) -> Repository[Any]:
        return InMemoryRepository(model, self.memory)

    def store_with(self, registry: MessageRegistry) -> EventStore:
        return InMemoryEventStore(self.memory, registry=registry)


class MongoEventBackend:
    def __init__(self, client: Any, database: Any) -> None:
        self.client = client
        self.database = database
        self.store = MongoEventStore(database)
        self.uow_factory = MongoUnitOfWorkFactory(client, database)

    def repository(self, model: type[Any]) -> Repository[Any]:
        return MongoRepository(model, self.database)

    def store_with(self, registry: MessageRegistry) -> EventStore:
        return MongoEventStore(self.database, registry=registry)


@contextlib.asynccontextmanager
async def mongo_event_backend(uri: str) -> AsyncIterator[MongoEventBackend]:
    """A :class:`MongoEventBackend` on a fresh database, dropped afterwards."""
    client = connect(uri)
    name = f"hk_es_{uuid.uuid4().hex}"
    try:
        yield MongoEventBackend(client, client[name])
    finally:
        try:
            await client.drop_database(name)
        finally:
            await client.close()


# ------------------------------------------------------------------ helpers
def stream() -> str:
    return f"acc_{uuid.uuid4().hex[:12]}"


def history(account: str, deposits: int = 2) -> list[Event]:
    events: list[Event] = [AccountOpened(account_id=account, owner="Ada")]
    events += [
        Deposited(account_id=account, amount=Decimal(f"{n}.50"), memo=f"#{n}")
        for n in range(1, deposits + 1)
    ]
    return events


class NotDeclared(Event):
    """An Event subclass never declared with @message: the store cannot name it."""


class Boom(Exception):
    pass


# ---------------------------------------------------------------- contracts
class AppendAndReadContract:
    async def test_an_append_numbers_the_events_of_a_new_stream_from_one(self, es_backend):
        account = stream()
        events = history(account)

        stored = await es_backend.store.append(account, events, expected_version=0)

        assert [s.version for s in stored] == [1, 2, 3]
        assert [s.event for s in stored] == events
        assert [s.type for s in stored] == [
            "hk_test.AccountOpened",
            "hk_test.Deposited",
            "hk_test.Deposited",
        ]
        assert {s.stream_id for s in stored} == {account}
        assert [s.position for s in stored] == [1, 2, 3]
        assert len({s.event_id for s in stored}) == 3
        assert all(s.event_id.startswith("evt_") for s in stored)
        assert all(s.occurred_at.tzinfo is not None for s in stored)
        assert all(
            abs(s.occurred_at - dt.datetime.now(dt.UTC)) < dt.timedelta(seconds=30) for s in stored
        )

    async def test_reading_a_stream_returns_what_was_appended_in_order(self, es_backend):
        account = stream()
        first = await es_backend.store.append(account, history(account), expected_version=0)
        later = [Withdrawn(account_id=account, amount=Decimal("1.00"))]
        second = await es_backend.store.append(account, later, expected_version=3)

        read = await es_backend.store.read_stream(account)

        assert read == first + second
        assert [s.version for s in read] == [1, 2, 3, 4]
        assert await es_backend.store.read_stream(account, after_version=2) == read[2:]
        assert await es_backend.store.read_stream(account, after_version=4) == []
        assert await es_backend.store.stream_version(account) == 4

    async def test_an_unknown_stream_is_empty_at_version_zero(self, es_backend):
        assert await es_backend.store.read_stream("acc_missing") == []
        assert await es_backend.store.stream_version("acc_missing") == 0

    async def test_streams_are_kept_apart(self, es_backend):
        one, two = stream(), stream()
        await es_backend.store.append(one, history(one, 1), expected_version=0)
        await es_backend.store.append(two, history(two, 3), expected_version=0)

        assert [s.event.account_id for s in await es_backend.store.read_stream(one)] == [one] * 2
        assert [s.version for s in await es_backend.store.read_stream(two)] == [1, 2, 3, 4]

    async def test_metadata_and_the_bound_correlation_id_are_stored(self, es_backend):
        account = stream()
        with correlated("corr-123"):
            await es_backend.store.append(
                account, history(account, 0), expected_version=0, metadata={"causation_id": "c-1"}
            )

        [read] = await es_backend.store.read_stream(account)

        assert read.metadata == {"causation_id": "c-1", "correlation_id": "corr-123"}

    async def test_appending_nothing_writes_nothing(self, es_backend):
        account = stream()
        assert await es_backend.store.append(account, [], expected_version=0) == []
        assert await es_backend.store.stream_version(account) == 0
        assert await es_backend.store.last_position() == 0


class ConcurrencyContract:
    async def test_a_stale_expected_version_is_refused_and_nothing_is_written(self, es_backend):
        account = stream()
        await es_backend.store.append(account, history(account), expected_version=0)

        with pytest.raises(ConcurrencyConflict) as caught:
            await es_backend.store.append(
                account, [Withdrawn(account_id=account, amount=Decimal(1))], expected_version=2
            )

        assert (caught.value.key, caught.value.expected, caught.value.current) == (account, 2, 3)
        assert await es_backend.store.stream_version(account) == 3
        assert await es_backend.store.last_position() == 3
        assert len(await es_backend.store.read_all()) == 3

    async def test_an_existing_stream_cannot_be_created_again(self, es_backend):
        account = stream()
        await es_backend.store.append(account, history(account, 0), expected_version=0)

        with pytest.raises(ConcurrencyConflict):
            await es_backend.store.append(account, history(account, 0), expected_version=0)

        assert await es_backend.store.stream_version(account) == 1

    async def test_a_version_ahead_of_the_stream_is_refused(self, es_backend):
        account = stream()
        with pytest.raises(ConcurrencyConflict) as caught:
            await es_backend.store.append(account, history(account), expected_version=5)
        assert caught.value.current == 0
        assert await es_backend.store.read_stream(account) == []

    async def test_a_batch_with_a_bad_event_writes_none_of_it(self, es_backend):
        account = stream()
        await es_backend.store.append(account, history(account, 0), expected_version=0)
        batch = [Deposited(account_id=account, amount=Decimal(1), memo=""), NotDeclared()]

        with pytest.raises((ValidationError, TypeError)):
            await es_backend.store.append(account, batch, expected_version=1)

        assert await es_backend.store.stream_version(account) == 1
        assert await es_backend.store.last_position() == 1
        assert [s.version for s in await es_backend.store.read_all()] == [1]

    async def test_of_concurrent_appends_at_one_version_exactly_one_wins(self, es_backend):
        account = stream()
        await es_backend.store.append(account, history(account, 0), expected_version=0)
        writers = 12

        async def write(writer: int) -> Any:
            batch = [
                Deposited(account_id=account, amount=Decimal(writer), memo=f"w{writer}-{i}")
                for i in range(3)
            ]
            return await es_backend.store.append(account, batch, expected_version=1)

        results = await asyncio.gather(*(write(w) for w in range(writers)), return_exceptions=True)

        winners = [r for r in results if isinstance(r, list)]
        losers = [r for r in results if isinstance(r, ConcurrencyConflict)]
        assert len(winners) == 1, results
        assert len(losers) == writers - 1, results
        assert {(c.expected, c.current) for c in losers} == {(1, 4)}
        read = await es_backend.store.read_stream(account)
        assert read[1:] == winners[0]
        assert [s.version for s in read] == [1, 2, 3, 4]
        memos = {s.event.memo for s in read[1:]}
        assert len({m.split("-")[0] for m in memos}) == 1
        assert [s.position for s in await es_backend.store.read_all()] == [1, 2, 3, 4]

    async def test_concurrent_writers_on_many_streams_lose_and_repeat_nothing(self, es_backend):
        accounts = [stream() for _ in range(8)]

        async def write(account: str) -> None:
            version = 0
            for batch in (history(account, 0), history(account, 2)[1:], history(account, 1)[1:]):
                await es_backend.store.append(account, batch, expected_version=version)
                version += len(batch)

        await asyncio.gather(*(write(a) for a in accounts))

        log = await es_backend.store.read_all(limit=1000)
        assert [s.position for s in log] == list(range(1, 8 * 4 + 1))
        assert len({s.event_id for s in log}) == len(log)
        for account in accounts:
            mine = [s.version for s in log if s.stream_id == account]
            assert mine == [1, 2, 3, 4]
        assert await es_backend.store.last_position() == len(log)


class GlobalLogContract:
    async def test_the_log_orders_every_stream_by_position(self, es_backend):
        one, two = stream(), stream()
        await es_backend.store.append(one, history(one, 1), expected_version=0)
        await es_backend.store.append(two, history(two, 1), expected_version=0)
        await es_backend.store.append(one, history(one, 1)[1:], expected_version=2)

        log = await es_backend.store.read_all()

        assert [(s.stream_id, s.version, s.position) for s in log] == [
            (one, 1, 1),
            (one, 2, 2),
            (two, 1, 3),
            (two, 2, 4),
            (one, 3, 5),
        ]
        assert await es_backend.store.last_position() == 5

    async def test_reading_after_a_position_with_a_limit_pages_through_the_log(self, es_backend):
        account = stream()
        await es_backend.store.append(account, history(account, 9), expected_version=0)

        page = await es_backend.store.read_all(after_position=3, limit=4)

        assert [s.position for s in page] == [4, 5, 6, 7]
        assert [s.position for s in await es_backend.store.read_all(after_position=8)] == [9, 10]
        assert await es_backend.store.read_all(after_position=10) == []

    async def test_a_subscriber_sees_every_event_once_in_order_while_writers_run(self, es_backend):
        accounts = [stream() for _ in range(6)]
        done = asyncio.Event()
        seen: list[Any] = []

        async def write(account: str) -> None:
            version = 0
            for size in (1, 2, 1, 3):
                batch = history(account, size)[-size:] if version else history(account, size - 1)
                await es_backend.store.append(account, batch, expected_version=version)
                version += len(batch)
                await asyncio.sleep(0)

        async def follow() -> None:
            position = 0
            while True:
                finished = done.is_set()
                page = await es_backend.store.read_all(after_position=position, limit=7)
                for stored in page:
                    assert stored.position == position + 1
                    position = stored.position
                    seen.append(stored)
                if finished and not page:
                    return
                await asyncio.sleep(0)

        follower = asyncio.create_task(follow())
        await asyncio.gather(*(write(a) for a in accounts))
        done.set()
        await asyncio.wait_for(follower, 30)

        final = await es_backend.store.read_all(limit=1000)
        assert seen == final
        assert len(final) == 6 * 7
        assert len({s.event_id for s in seen}) == len(seen)


class UnitOfWorkContract:
    async def test_an_append_in_a_unit_of_work_shows_only_when_it_commits(self, es_backend):
        account = stream()
        async with es_backend.uow_factory() as uow:
            await es_backend.store.append(account, history(account), expected_version=0, uow=uow)
            await uow.repository(Note).insert(Note(text="with the events"))
            assert await es_backend.store.read_stream(account, uow=uow) != []
            assert await es_backend.store.stream_version(account, uow=uow) == 3
            assert await es_backend.store.read_all() == []
            assert await es_backend.store.last_position() == 0

        assert await es_backend.store.stream_version(account) == 3
        assert [s.position for s in await es_backend.store.read_all()] == [1, 2, 3]
        assert [n.text for n in await es_backend.repository(Note).find(Query(Note))] == [
            "with the events"
        ]

    async def test_a_failed_unit_of_work_keeps_no_event_and_no_document(self, es_backend):
        account = stream()

        async def fail() -> None:
            async with es_backend.uow_factory() as uow:
                await es_backend.store.append(
                    account, history(account), expected_version=0, uow=uow
                )
                await uow.repository(Note).insert(Note(text="lost"))
                raise Boom

        with pytest.raises(Boom):
            await fail()

        assert await es_backend.store.read_stream(account) == []
        assert await es_backend.store.last_position() == 0
        assert await es_backend.repository(Note).find(Query(Note)) == []

    async def test_a_stale_version_inside_a_unit_of_work_raises_the_conflict(self, es_backend):
        account = stream()
        await es_backend.store.append(account, history(account), expected_version=0)
        with pytest.raises(ConcurrencyConflict):
            async with es_backend.uow_factory() as uow:
                await es_backend.store.append(
                    account, history(account, 0), expected_version=1, uow=uow
                )
        assert await es_backend.store.stream_version(account) == 3


class SnapshotContract:
    async def test_a_snapshot_is_loaded_back(self, es_backend):
        snapshot = Snapshot(
            stream_id="acc_snap",
            version=7,
            aggregate_type="Account",
            schema_version=1,
            state={"owner": "Ada", "balance": "12.50", "movements": 6},
        )
        await es_backend.store.save_snapshot(snapshot)

        assert await es_backend.store.load_snapshot("acc_snap") == snapshot
        assert await es_backend.store.load_snapshot("acc_none") is None

    async def test_an_older_snapshot_never_replaces_a_newer_one(self, es_backend):
        newer = Snapshot(
            stream_id="acc_s", version=9, aggregate_type="Account", schema_version=1, state={}
        )
        older = Snapshot(
            stream_id="acc_s",
            version=3,
            aggregate_type="Account",
            schema_version=1,
            state={"owner": "old"},
        )
        await es_backend.store.save_snapshot(newer)
        await es_backend.store.save_snapshot(older)

        assert await es_backend.store.load_snapshot("acc_s") == newer

    async def test_a_snapshot_saved_in_a_failed_unit_of_work_is_gone(self, es_backend):
        snapshot = Snapshot(
            stream_id="acc_u", version=2, aggregate_type="Account", schema_version=1, state={}
        )

        async def fail() -> None:
            async with es_backend.uow_factory() as uow:
                await es_backend.store.save_snapshot(snapshot, uow=uow)
                assert await es_backend.store.load_snapshot("acc_u", uow=uow) == snapshot
                raise Boom

        with pytest.raises(Boom):
            await fail()

        assert await es_backend.store.load_snapshot("acc_u") is None


class UpcastContract:
    async def test_old_versions_are_upcast_on_read(self, es_backend):
        account = stream()
        old_code = es_backend.store_with(LEGACY)
        await old_code.append(
            account, [DepositedV1(account_id=account, amount=Decimal("2.00"))], expected_version=0
        )

        [read] = await es_backend.store.read_stream(account)
        [logged] = await es_backend.store.read_all()

        expected = Deposited(account_id=account, amount=Decimal("2.00"), memo="(before memos)")
        assert read.event == expected
        assert logged.event == expected
        assert read.schema_version == 1

    async def test_a_newer_version_than_the_code_knows_is_refused(self, es_backend):
        account = stream()
        await es_backend.store.append(
            account, [Deposited(account_id=account, amount=Decimal(1), memo="")], expected_version=0
        )

        with pytest.raises(LookupError):
            await es_backend.store_with(LEGACY).read_stream(account)


EVENT_STORE_CONTRACTS: tuple[type, ...] = (
    AppendAndReadContract,
    ConcurrencyContract,
    GlobalLogContract,
    UnitOfWorkContract,
    SnapshotContract,
    UpcastContract,
)


def uncovered(namespace: dict[str, Any], contracts: tuple[type, ...]) -> list[str]:
    running = {
        base
        for name, value in namespace.items()
        if name.startswith("Test") and isinstance(value, type)
        for base in value.__mro__
    }
    return [c.__name__ for c in contracts if c not in running]
