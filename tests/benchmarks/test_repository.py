"""The MongoDB repository against hand-written pymongo, on the session's MongoDB server.

Four groups, each with a raw-pymongo ``..._baseline`` entry and a hexkernel
entry (``MongoRepository``), on the same server, the same documents and the
same collection shape (the sample ``Task`` Model: string ids, audit fields):

- get by id: ``repo.get(id)`` vs ``find_one({"_id": id})``;
- find: ``status == "open"``, sorted by priority descending (and by id, the
  tiebreak hexkernel adds so that pages are deterministic), first 20;
- insert one, into a collection emptied every 200 rounds (outside the timing);
- insert many: 1,000 documents into a fresh collection per round.

The baseline uses a plain ``AsyncMongoClient(uri, tz_aware=True)``; hexkernel
uses the client ``connect()`` configures (its Decimal codec included), as an
application would.

What each side returns differs on purpose, and that difference is what is
measured: the baseline returns the raw dicts pymongo decodes; hexkernel
returns ``Task`` objects rebuilt from them (types restored, validators not run
again, as for every stored document). For writes, both sides start from data
the caller already holds, ids included (hexkernel: ``Task`` objects, whose ids
are made on construction; baseline: plain field dicts and ids, made in the
setup step too) and do the work a data layer must do: the baseline builds
each storage document (id, audit fields, version, date as datetime) before
sending it, hexkernel stamps the object and runs the Model's storage codec.

Async calls run on an event loop this module owns. Run with ``make bench``.
"""

import asyncio
import datetime as dt
import itertools
import random
import uuid
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest
from hk_testing.models import Status, Task
from pymongo import AsyncMongoClient

from hexkernel.adapters._documents import DocumentRepository
from hexkernel.adapters.mongo import MongoCollection, MongoRepository, connect
from hexkernel.core.query import Query

pytestmark = pytest.mark.integration

DOCUMENTS = 1_000
PAGE = 20
INSERT_ONE_CAP = 200
"""The insert-one collection is emptied when it reaches this many documents."""

_FIND = Query(Task).where(Task.status == Status.OPEN).sort(Task.priority.desc()).take(PAGE)
_FIND_FILTER = {"status": "open"}
_FIND_SORT = [("priority", -1), ("_id", 1)]


def _rows(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """Field values of ``count`` tasks, as a caller would hold them (no id, no audit)."""
    pick = random.Random(seed)  # noqa: S311 - reproducible test data
    statuses = list(Status)
    words = ["fix", "write", "review", "ship", "plan", "test", "deploy", "refactor"]
    return [
        {
            "title": f"{pick.choice(words)} item {number}",
            "status": pick.choice(statuses),
            "priority": pick.randint(1, 5),
            "tags": pick.sample(["api", "db", "ui", "ops", "docs"], pick.randint(0, 3)),
            "due": dt.date(2026, 1, 1) + dt.timedelta(days=pick.randint(0, 90))
            if pick.random() < 0.5
            else None,
            "estimate": round(pick.uniform(0.5, 16), 1) if pick.random() < 0.5 else None,
        }
        for number in range(count)
    ]


def _now() -> dt.datetime:
    now = dt.datetime.now(dt.UTC)
    return now.replace(microsecond=now.microsecond - now.microsecond % 1000)


def _new_key() -> str:
    return f"tsk_{uuid.uuid4().hex}"


def _raw_document(row: dict[str, Any], key: str, now: dt.datetime) -> dict[str, Any]:
    """What a hand-written data layer stores for ``row``: the same shape hexkernel stores."""
    due = row["due"]
    return {
        "_id": key,
        "inserted": now,
        "updated": now,
        "version": 1,
        "title": row["title"],
        "status": row["status"].value,
        "priority": row["priority"],
        "tags": list(row["tags"]),
        "due": None if due is None else dt.datetime(due.year, due.month, due.day, tzinfo=dt.UTC),
        "estimate": row["estimate"],
        "owner": None,
    }


class Bench:
    """The event loop, the two clients and the seeded collection of the module."""

    def __init__(self, uri: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.database_name = f"hk_bench_{uuid.uuid4().hex}"
        self.client, self.raw_client = self.run(self._clients(uri))
        self.database = self.client[self.database_name]
        self.raw_database = self.raw_client[self.database_name]
        self.tasks = MongoRepository(Task, self.database)
        self.raw_tasks = self.raw_database[Task.__model__.collection]
        stored = self.run(self.tasks.insert_many([Task(**row) for row in _rows(DOCUMENTS)]))
        self.ids = [task.id for task in stored]

    def repository(self, collection: str) -> DocumentRepository[Task]:
        """What ``MongoRepository(Task, database)`` builds, on another collection."""
        return DocumentRepository(Task, MongoCollection(self.database[collection], "Task"))

    @staticmethod
    async def _clients(
        uri: str,
    ) -> tuple[AsyncMongoClient[dict[str, Any]], AsyncMongoClient[dict[str, Any]]]:
        """Return the client connect() configures, and the plain one a pymongo user writes."""
        return connect(uri), AsyncMongoClient(uri, tz_aware=True)

    def run(self, awaitable: Coroutine[Any, Any, Any]) -> Any:
        return self.loop.run_until_complete(awaitable)

    def close(self) -> None:
        try:
            self.run(self.client.drop_database(self.database_name))
            self.run(self.client.close())
            self.run(self.raw_client.close())
            self.run(self.loop.shutdown_asyncgens())
        finally:
            self.loop.close()


@pytest.fixture(scope="module")
def bench(mongo_uri: str) -> Iterator[Bench]:
    made = Bench(mongo_uri)
    try:
        yield made
    finally:
        made.close()


def test_both_sides_read_the_same_documents(bench):
    key = bench.ids[17]
    raw = bench.run(bench.raw_tasks.find_one({"_id": key}))
    assert bench.run(bench.tasks.get(key)).to_document() == raw

    raw_page = bench.run(bench.raw_tasks.find(_FIND_FILTER, sort=_FIND_SORT, limit=PAGE).to_list())
    page = bench.run(bench.tasks.find(_FIND))
    assert [task.to_document() for task in page] == raw_page
    assert len(page) == PAGE


def test_both_sides_write_the_same_shape(bench):
    row = _rows(1, seed=99)[0]
    task = bench.run(bench.tasks.insert(Task(**row)))
    assert task.to_document() == _raw_document(row, task.id, task.inserted)
    bench.run(bench.tasks.delete(task.id))


# ----------------------------------------------------------------- get by id
@pytest.mark.benchmark(group="repository: get by id")
def test_get_by_id_baseline(benchmark, bench):
    keys = itertools.cycle(bench.ids)
    benchmark(lambda: bench.run(bench.raw_tasks.find_one({"_id": next(keys)})))


@pytest.mark.benchmark(group="repository: get by id")
def test_get_by_id_hexkernel(benchmark, bench):
    keys = itertools.cycle(bench.ids)
    benchmark(lambda: bench.run(bench.tasks.get(next(keys))))


# --------------------------------------------------------------------- find
@pytest.mark.benchmark(group="repository: find open, by priority, 20")
def test_find_baseline(benchmark, bench):
    async def find() -> list[dict[str, Any]]:
        return await bench.raw_tasks.find(_FIND_FILTER, sort=_FIND_SORT, limit=PAGE).to_list()

    benchmark(lambda: bench.run(find()))


@pytest.mark.benchmark(group="repository: find open, by priority, 20")
def test_find_hexkernel(benchmark, bench):
    benchmark(lambda: bench.run(bench.tasks.find(_FIND)))


# --------------------------------------------------------------- insert one
def _emptied_now_and_then(bench: Bench, collection: str) -> Callable[[], None]:
    """Return a setup step that drops ``collection`` every INSERT_ONE_CAP rounds."""
    rounds = itertools.count()

    def empty() -> None:
        if next(rounds) % INSERT_ONE_CAP == 0:
            bench.run(bench.database.drop_collection(collection))

    return empty


@pytest.mark.benchmark(group="repository: insert one")
def test_insert_one_baseline(benchmark, bench):
    collection = bench.raw_database["insert_one_baseline"]
    rows = itertools.cycle(_rows(100, seed=1))
    empty = _emptied_now_and_then(bench, collection.name)

    def setup() -> tuple[tuple[dict[str, Any], str], dict[str, Any]]:
        empty()
        return (next(rows), _new_key()), {}

    def insert(row: dict[str, Any], key: str) -> None:
        bench.run(collection.insert_one(_raw_document(row, key, _now())))

    benchmark.pedantic(insert, setup=setup, rounds=600, warmup_rounds=20)


@pytest.mark.benchmark(group="repository: insert one")
def test_insert_one_hexkernel(benchmark, bench):
    collection = "insert_one_hexkernel"
    repository = bench.repository(collection)
    rows = itertools.cycle(_rows(100, seed=1))
    empty = _emptied_now_and_then(bench, collection)

    def setup() -> tuple[tuple[Task], dict[str, Any]]:
        empty()
        return (Task(**next(rows)),), {}

    def insert(task: Task) -> None:
        bench.run(repository.insert(task))

    benchmark.pedantic(insert, setup=setup, rounds=600, warmup_rounds=20)


# -------------------------------------------------------------- insert many
def _fresh_collections(bench: Bench, prefix: str) -> Iterator[str]:
    """Yield a new collection name per round, dropping the previous round's collection."""
    for number in itertools.count():
        if number:
            bench.run(bench.database.drop_collection(f"{prefix}_{number - 1}"))
        yield f"{prefix}_{number}"


@pytest.mark.benchmark(group="repository: insert many (1,000)")
def test_insert_many_baseline(benchmark, bench):
    rows = _rows(DOCUMENTS, seed=2)
    names = _fresh_collections(bench, "many_baseline")

    def setup() -> tuple[tuple[Any, list[str]], dict[str, Any]]:
        return (bench.raw_database[next(names)], [_new_key() for _ in rows]), {}

    def insert(collection: Any, keys: list[str]) -> None:
        now = _now()
        documents = [_raw_document(row, key, now) for row, key in zip(rows, keys, strict=True)]
        bench.run(collection.insert_many(documents))

    benchmark.pedantic(insert, setup=setup, rounds=12, warmup_rounds=1)


@pytest.mark.benchmark(group="repository: insert many (1,000)")
def test_insert_many_hexkernel(benchmark, bench):
    rows = _rows(DOCUMENTS, seed=2)
    names = _fresh_collections(bench, "many_hexkernel")

    def setup() -> tuple[tuple[DocumentRepository[Task], list[Task]], dict[str, Any]]:
        repository = bench.repository(next(names))
        return (repository, [Task(**row) for row in rows]), {}

    def insert(repository: DocumentRepository[Task], tasks: list[Task]) -> None:
        bench.run(repository.insert_many(tasks))

    benchmark.pedantic(insert, setup=setup, rounds=12, warmup_rounds=1)
