"""Event stores against raw pymongo (the limit) and the ``eventsourcing`` library (the reference).

Three groups, measured in the same run, on the session's MongoDB test server:

- append 1 event, and append a batch of 10 events, to one growing stream;
- load an aggregate of 1,000 events, without and with a snapshot at its last version.

Entries of every group:

- ``..._baseline``: raw pymongo, the limit: ``insert_one`` / ``insert_many`` of
  ready-made event documents with no transaction, no version check and no
  global position; for loading, ``find`` of the stream's 1,000 raw documents,
  sorted by version, with nothing rebuilt from them.
- ``hexkernel_mongo``: ``MongoEventStore.append`` (a transaction: head check,
  counter ``$inc``, insert) and ``EventSourcedRepository.get`` (snapshot lookup,
  stream read, upcasting check, event structuring, replay).
- ``hexkernel_memory``: the same on ``InMemoryEventStore``.
- ``eventsourcing_sqlite`` and ``eventsourcing_popo``: the ``eventsourcing``
  library's ``Application.save`` and ``repository.get`` with its SQLite module (a
  file database in a temporary directory) and its in-memory (POPO) module, on an
  equivalent aggregate.

Async calls run on an event loop this module owns. Run with ``make bench``.
"""

import asyncio
import itertools
import uuid
from collections.abc import Coroutine, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate as LibraryAggregate
from eventsourcing.domain import event as library_event
from hk_testing.es_models import Account, Deposited
from pymongo import AsyncMongoClient

from hexkernel.adapters.memory.event_store import InMemoryEventStore
from hexkernel.adapters.mongo import connect
from hexkernel.adapters.mongo.event_store import MongoEventStore
from hexkernel.application import EventSourcedRepository
from hexkernel.core.ports.event_store import EventStore, Snapshot

pytestmark = pytest.mark.integration

LONG = 1_000
"""Events in the aggregates that are loaded."""

LONG_BATCH = 100
APPEND_ROUNDS = 100
LOAD_ROUNDS = 15
STREAM_INDEX = [("stream_id", 1), ("version", 1)]


# ------------------------------------------------------------ the reference
class LibraryAccount(LibraryAggregate):
    """The ``Account`` of the hexkernel tests, written for the eventsourcing library."""

    @library_event("Opened")
    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.balance = Decimal("0.00")
        self.movements = 0

    @library_event("Deposited")
    def deposit(self, amount: Decimal, memo: str) -> None:  # noqa: ARG002 - stored in the event
        self.balance += amount
        self.movements += 1


class Bank(Application[uuid.UUID]):
    """An eventsourcing application storing ``LibraryAccount`` aggregates, snapshots on.

    Its repository looks for a snapshot on every load, as hexkernel's does.
    """

    is_snapshotting_enabled = True


def _deposits(account: str, count: int) -> list[Deposited]:
    return [Deposited(account_id=account, amount=Decimal(1), memo="m") for _ in range(count)]


def _raw_event(stream: str, version: int) -> dict[str, Any]:
    return {
        "_id": f"evt_{uuid.uuid4().hex}",
        "stream_id": stream,
        "version": version,
        "type": "hk_test.Deposited",
        "schema_version": 2,
        "data": {"account_id": stream, "amount": "1", "memo": "m"},
        "metadata": {},
    }


class Bench:
    """The loop, the clients, the stores and the pre-written long aggregates of the module."""

    def __init__(self, uri: str, directory: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.name = f"hk_bench_es_{uuid.uuid4().hex}"
        self.client, self.raw_client = self.run(self._clients(uri))
        self.raw_events = self.raw_client[self.name]["raw_events"]
        self.stores: dict[str, EventStore] = {
            "mongo": MongoEventStore(self.client[f"{self.name}_long"]),
            "memory": InMemoryEventStore(),
        }
        # Appends go to their own database, as the raw baseline's do, so that
        # the long aggregates' documents do not weigh on them.
        self.append_stores: dict[str, EventStore] = {
            "mongo": MongoEventStore(self.client[self.name]),
            "memory": InMemoryEventStore(),
        }
        self.banks = {
            "sqlite": Bank(
                env={
                    "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                    "SQLITE_DBNAME": str(directory / "bank.sqlite"),
                }
            ),
            "popo": Bank(),
        }
        # One aggregate of LONG events per side. Its snapshot is taken only after
        # the loads without one were measured (test order), so no second long
        # stream is written: the mongoeco test server slows down as data grows.
        self.long = {kind: self._write_long(store) for kind, store in self.stores.items()}
        self.library_long = {kind: self._library_long(bank) for kind, bank in self.banks.items()}
        self.snapshotted = False
        self.raw_long = f"acc_{uuid.uuid4().hex}"
        self.raw_long_events = self.raw_client[f"{self.name}_long"]["raw_events"]
        self.run(self.raw_long_events.create_index(STREAM_INDEX, unique=True))
        raw = [_raw_event(self.raw_long, v) for v in range(1, LONG + 1)]
        for start in range(0, LONG, LONG_BATCH):
            self.run(self.raw_long_events.insert_many(raw[start : start + LONG_BATCH]))
        self.run(self.raw_events.create_index(STREAM_INDEX, unique=True))

    @staticmethod
    async def _clients(
        uri: str,
    ) -> tuple[AsyncMongoClient[dict[str, Any]], AsyncMongoClient[dict[str, Any]]]:
        """The client connect() configures, and the plain one a pymongo user writes."""
        return connect(uri), AsyncMongoClient(uri, tz_aware=True)

    def _write_long(self, store: EventStore) -> str:
        """Store an aggregate of LONG events, in appends of LONG_BATCH events.

        Batches keep the set-up quick on the mongoeco test server, whose cost
        per transaction grows with the number of documents the transaction writes.
        """
        repository = EventSourcedRepository(Account, store)
        account = Account.open(f"acc_{uuid.uuid4().hex}", "Ada")
        for _ in range(LONG - 1):
            account.deposit(Decimal(1), "m")
            if len(account.pending_events) == LONG_BATCH:
                self.run(repository.save(account))
        self.run(repository.save(account))
        return account.id

    @staticmethod
    def _library_long(bank: Bank) -> uuid.UUID:
        account = LibraryAccount(owner="Ada")
        for _ in range(LONG - 1):
            account.deposit(Decimal(1), "m")
        bank.save(account)
        return account.id

    def take_snapshots(self) -> None:
        """Snapshot every long aggregate at its last version (once)."""
        if self.snapshotted:
            return
        for kind, store in self.stores.items():
            repository = EventSourcedRepository(Account, store)
            account = self.run(repository.get(self.long[kind]))
            self.run(
                store.save_snapshot(
                    Snapshot(
                        stream_id=account.id,
                        version=account.version,
                        aggregate_type=Account.aggregate_type(),
                        schema_version=Account.snapshot_version,
                        state=account.snapshot_state(),
                    )
                )
            )
        for kind, bank in self.banks.items():
            bank.take_snapshot(self.library_long[kind])
        self.snapshotted = True

    def run(self, awaitable: Coroutine[Any, Any, Any]) -> Any:
        return self.loop.run_until_complete(awaitable)

    def close(self) -> None:
        try:
            for bank in self.banks.values():
                bank.close()
            self.run(self.client.drop_database(self.name))
            self.run(self.client.drop_database(f"{self.name}_long"))
            self.run(self.client.close())
            self.run(self.raw_client.close())
            self.run(self.loop.shutdown_asyncgens())
        finally:
            self.loop.close()


@pytest.fixture(scope="module")
def bench(mongo_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bench]:
    made = Bench(mongo_uri, tmp_path_factory.mktemp("eventsourcing"))
    try:
        check_every_side_loads_the_same_state(made)
        yield made
    finally:
        made.close()


def check_every_side_loads_the_same_state(bench: Bench) -> None:
    """Before measuring, check that every side holds the same aggregate.

    The fixture runs it, not a test: the normal test run skips the benchmarks
    and must not pay for their set-up.
    """
    for kind, key in bench.long.items():
        account = bench.run(EventSourcedRepository(Account, bench.stores[kind]).get(key))
        assert (account.version, account.balance, account.movements) == (
            LONG,
            Decimal(LONG - 1),
            LONG - 1,
        ), kind
    for kind, library_key in bench.library_long.items():
        loaded = bench.banks[kind].repository.get(library_key)
        assert (loaded.version, loaded.balance) == (LONG, Decimal(LONG - 1)), kind
    raw = bench.run(
        bench.raw_long_events.find({"stream_id": bench.raw_long}).sort("version").to_list()
    )
    assert [d["version"] for d in raw] == list(range(1, LONG + 1))


# ------------------------------------------------------------------ appends
def _append_raw(bench: Bench, size: int) -> Any:
    stream, versions = f"acc_{uuid.uuid4().hex}", itertools.count(1)

    def append() -> None:
        documents = [_raw_event(stream, next(versions)) for _ in range(size)]
        if size == 1:
            bench.run(bench.raw_events.insert_one(documents[0]))
        else:
            bench.run(bench.raw_events.insert_many(documents))

    return append


def _append_hexkernel(bench: Bench, kind: str, size: int) -> Any:
    store = bench.append_stores[kind]
    stream, version = f"acc_{uuid.uuid4().hex}", [0]

    def append() -> None:
        bench.run(store.append(stream, _deposits(stream, size), expected_version=version[0]))
        version[0] += size

    return append


def _append_library(bench: Bench, kind: str, size: int) -> Any:
    bank = bench.banks[kind]
    account = LibraryAccount(owner="Ada")
    bank.save(account)

    def append() -> None:
        for _ in range(size):
            account.deposit(Decimal(1), "m")
        bank.save(account)

    return append


SIDES = ("hexkernel_mongo", "hexkernel_memory", "eventsourcing_sqlite", "eventsourcing_popo")


def _appender(bench: Bench, side: str, size: int) -> Any:
    family, kind = side.split("_")
    if family == "hexkernel":
        return _append_hexkernel(bench, kind, size)
    return _append_library(bench, kind, size)


@pytest.mark.benchmark(group="event store: append 1 event")
def test_append_1_baseline(benchmark, bench):
    benchmark.pedantic(_append_raw(bench, 1), rounds=APPEND_ROUNDS, warmup_rounds=5)


@pytest.mark.benchmark(group="event store: append 1 event")
@pytest.mark.parametrize("side", SIDES)
def test_append_1(benchmark, bench, side):
    benchmark.pedantic(_appender(bench, side, 1), rounds=APPEND_ROUNDS, warmup_rounds=5)


@pytest.mark.benchmark(group="event store: append 10 events")
def test_append_10_baseline(benchmark, bench):
    benchmark.pedantic(_append_raw(bench, 10), rounds=APPEND_ROUNDS // 2, warmup_rounds=5)


@pytest.mark.benchmark(group="event store: append 10 events")
@pytest.mark.parametrize("side", SIDES)
def test_append_10(benchmark, bench, side):
    benchmark.pedantic(_appender(bench, side, 10), rounds=APPEND_ROUNDS // 2, warmup_rounds=5)


# -------------------------------------------------------------------- loads
def _loader(bench: Bench, side: str) -> Any:
    family, kind = side.split("_")
    if family == "hexkernel":
        repository = EventSourcedRepository(Account, bench.stores[kind])
        key = bench.long[kind]
        return lambda: bench.run(repository.get(key))
    bank, library_key = bench.banks[kind], bench.library_long[kind]
    return lambda: bank.repository.get(library_key)


@pytest.mark.benchmark(group="event store: load 1,000 events")
def test_load_baseline(benchmark, bench):
    async def load() -> list[dict[str, Any]]:
        cursor = bench.raw_long_events.find({"stream_id": bench.raw_long}).sort("version")
        return await cursor.to_list()

    benchmark.pedantic(lambda: bench.run(load()), rounds=LOAD_ROUNDS, warmup_rounds=1)


@pytest.mark.benchmark(group="event store: load 1,000 events")
@pytest.mark.parametrize("side", SIDES)
def test_load_without_snapshot(benchmark, bench, side):
    assert not bench.snapshotted, "the loads without a snapshot run first"
    benchmark.pedantic(_loader(bench, side), rounds=LOAD_ROUNDS, warmup_rounds=1)


@pytest.mark.benchmark(group="event store: load 1,000 events")
@pytest.mark.parametrize("side", SIDES)
def test_load_with_snapshot(benchmark, bench, side):
    bench.take_snapshots()
    benchmark.pedantic(_loader(bench, side), rounds=LOAD_ROUNDS, warmup_rounds=1)
