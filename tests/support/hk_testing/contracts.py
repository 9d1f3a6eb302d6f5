"""The repository and unit-of-work contracts, run against every adapter.

Each ``*Contract`` class holds the tests of one feature of the ports in
:mod:`hexkernel.core.ports`. A test module runs them against one adapter by
providing a fixture named ``backend`` (a :class:`Backend`: fresh, isolated
storage for the test) and subclassing every contract under a ``Test`` name::

    @pytest.fixture
    def backend():
        return contracts.MemoryBackend()


    class TestInsert(contracts.InsertContract):
        pass

:func:`uncovered` lets the module check that it runs every contract.
Both adapters must pass every test unchanged: the contracts state the
behaviour of the ports, never of one store.
"""

import asyncio
import contextlib
import datetime as dt
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, Protocol, TypeVar

import anyio
import attrs
import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from hexkernel.adapters.memory import InMemoryRepository, InMemoryStore, InMemoryUnitOfWorkFactory
from hexkernel.adapters.mongo import MongoRepository, MongoUnitOfWorkFactory, connect
from hexkernel.core.errors import (
    ConcurrencyConflict,
    DuplicateKey,
    InvalidAggregation,
    NotFound,
    PartialDocument,
    ValidationError,
)
from hexkernel.core.persistence import bind, is_partial, unbind
from hexkernel.core.ports import Repository, UnitOfWork, UnitOfWorkFactory
from hexkernel.core.query import Expr, Match, Pipeline, Projection, Query, RawStage
from hk_testing.models import Address, Level, Line, Status
from hk_testing.persistence_models import ACCOUNT_INDEXES, Account, Article, Chore, Memo, Sample

__all__ = (
    "CONCURRENCY_CONTRACTS",
    "REPOSITORY_CONTRACTS",
    "ActiveRecordContract",
    "AggregateContract",
    "Backend",
    "ConcurrentSaveContract",
    "DeleteContract",
    "FindContract",
    "IndexContract",
    "InsertContract",
    "InsertManyContract",
    "MemoryBackend",
    "MongoBackend",
    "PortsContract",
    "PredefinedFilterContract",
    "ProjectionContract",
    "RoundTripContract",
    "SaveContract",
    "SearchContract",
    "SortAndPageContract",
    "UnitOfWorkContract",
    "UpdateContract",
    "mongo_backend",
    "uncovered",
)

M = TypeVar("M")

ULID_ID = re.compile(r"^chr_[0-9A-HJKMNP-TV-Z]{26}$")


# ------------------------------------------------------------------ backends
class Backend(Protocol):
    """Fresh, isolated storage for one test, and the adapter's objects on it."""

    @property
    def uow_factory(self) -> UnitOfWorkFactory:
        """The unit-of-work factory of this storage."""
        ...

    def repository(self, model: type[M]) -> Repository[M]:
        """A new repository of ``model`` on this storage (all of them share the data)."""
        ...


class MemoryBackend:
    """A fresh :class:`InMemoryStore`."""

    def __init__(self) -> None:
        self.store = InMemoryStore()
        self.uow_factory = InMemoryUnitOfWorkFactory(self.store)

    async def counts_text_searches(self) -> bool:
        return True

    def repository(self, model: type[M]) -> Repository[M]:
        return InMemoryRepository(model, self.store)


class MongoBackend:
    """A fresh MongoDB database, reached through a client made by ``connect``."""

    def __init__(self, client: AsyncMongoClient[Any], database: AsyncDatabase[Any]) -> None:
        self.client = client
        self.database = database
        self.uow_factory = MongoUnitOfWorkFactory(client, database)

    def repository(self, model: type[M]) -> Repository[M]:
        return MongoRepository(model, self.database)

    async def counts_text_searches(self) -> bool:
        """Whether the server counts ``$text`` queries (MongoDB does; some test servers do not)."""
        probe = self.database["text_count_probe"]
        await probe.create_index([("t", "text")])
        try:
            await probe.count_documents({"$text": {"$search": "x"}})
        except OperationFailure:
            return False
        finally:
            await probe.drop()
        return True


@contextlib.asynccontextmanager
async def mongo_backend(uri: str) -> AsyncIterator[MongoBackend]:
    """Open a :class:`MongoBackend` on a randomly named database, dropped afterwards."""
    client = connect(uri)
    name = f"hk_contract_{uuid.uuid4().hex}"
    try:
        yield MongoBackend(client, client[name])
    finally:
        try:
            await client.drop_database(name)
        finally:
            await client.close()


# ------------------------------------------------------------------- helpers
async def tick() -> None:
    """Wait until the millisecond clock of the audit timestamps has moved on."""
    await anyio.sleep(0.003)


def is_utc(moment: dt.datetime | None) -> bool:
    return (
        moment is not None and moment.tzinfo is not None and moment.utcoffset() == dt.timedelta(0)
    )


def close_to_now(moment: dt.datetime | None) -> bool:
    now = dt.datetime.now(dt.UTC)
    return moment is not None and now - dt.timedelta(seconds=5) <= moment <= now


def make_sample(**overrides: Any) -> Sample:
    values: dict[str, Any] = {
        "text": "Grüße, 世界",
        "quantity": 42,
        "ratio": 0.1,
        "flag": True,
        "amount": Decimal("1234.5678"),
        "ref": uuid.UUID("3f2b5c1e-8d4a-4e6b-9c7f-2a1b0c9d8e7f"),
        "moment": dt.datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=dt.UTC),
        "day": dt.date(1999, 12, 31),
        "status": Status.DOING,
        "level": Level.HIGH,
        "maybe": None,
        "names": ["b", "a", "b"],
        "labels": {"x", "y"},
        "scores": {"math": 1.5, "art": -2.0},
        "home": Address(street="742 Evergreen Terrace", city="Springfield", zip="49007"),
        "lines": [
            Line(sku="ABC-001", quantity=2, price=Decimal("9.99")),
            Line(sku="XYZ-999", quantity=1, price=Decimal("0.01")),
        ],
    }
    values.update(overrides)
    return Sample(**values)


def _board() -> list[Chore]:
    """Six chores, created (so ordered by id) in this order; tests refer to them by position."""
    return [
        Chore(
            title="Fix the parser",
            priority=1,
            tags=["red"],
            estimate=1.5,
            due=dt.date(2024, 1, 10),
            home=Address(street="1 Main St", city="Springfield"),
        ),
        Chore(
            title="fix login page",
            status=Status.DOING,
            priority=2,
            tags=["blue", "red"],
            due=dt.date(2024, 2, 1),
        ),
        Chore(
            title="Write docs",
            status=Status.DONE,
            priority=3,
            estimate=8.0,
            home=Address(street="2 Elm St", city="Shelbyville"),
        ),
        Chore(
            title=".*( odd title",
            priority=4,
            tags=["green"],
            home=Address(street="3 Oak St", city="Springfield"),
        ),
        Chore(
            title="Pay 125 dollars",
            status=Status.DONE,
            priority=5,
            estimate=0.5,
            due=dt.date(2024, 3, 1),
        ),
        Chore(title="Fixture cleanup", priority=3, tags=["blue"]),
    ]


@attrs.frozen
class Board:
    """The six chores of :func:`_board`, stored."""

    repo: Repository[Chore]
    chores: list[Chore]

    def positions(self, found: Sequence[Chore]) -> list[int]:
        """The board positions of ``found``, in the order found."""
        ids = [c.id for c in self.chores]
        return [ids.index(c.id) for c in found]


async def _stored_board(backend: Backend) -> Board:
    repo = backend.repository(Chore)
    chores = _board()
    for chore in chores:
        await repo.insert(chore)
    return Board(repo, chores)


@contextlib.contextmanager
def _bound(model: type[M], repo: Repository[M]) -> Iterator[Repository[M]]:
    bind(model, repo)
    try:
        yield repo
    finally:
        unbind(model)


class Boom(Exception):
    """Raised by tests to abort a unit of work."""


# ----------------------------------------------------------------- contracts
class _Contract:
    pytestmark = pytest.mark.anyio


class PortsContract(_Contract):
    async def test_the_repository_satisfies_the_repository_port(self, backend):
        repo = backend.repository(Chore)

        assert isinstance(repo, Repository)
        assert repo.model is Chore

    async def test_the_unit_of_work_factory_satisfies_its_port(self, backend):
        assert isinstance(backend.uow_factory, UnitOfWorkFactory)
        assert isinstance(backend.uow_factory(), UnitOfWork)

    async def test_a_unit_of_work_repository_satisfies_the_repository_port(self, backend):
        async with backend.uow_factory() as uow:
            repo = uow.repository(Chore)

            assert isinstance(repo, Repository)
            assert repo.model is Chore


class InsertContract(_Contract):
    async def test_inserting_returns_the_same_object_at_version_one(self, backend):
        chore = Chore(title="Water the plants")
        key = chore.id

        stored = await backend.repository(Chore).insert(chore)

        assert stored is chore
        assert chore.id == key
        assert chore.version == 1

    async def test_inserting_sets_equal_utc_timestamps(self, backend):
        chore = await backend.repository(Chore).insert(Chore(title="Water the plants"))

        assert is_utc(chore.inserted)
        assert chore.inserted == chore.updated
        assert close_to_now(chore.inserted)

    async def test_the_id_is_the_model_prefix_and_a_ulid(self, backend):
        chore = await backend.repository(Chore).insert(Chore(title="Water the plants"))

        assert ULID_ID.match(chore.id)

    async def test_an_inserted_document_is_stored(self, backend):
        repo = backend.repository(Chore)
        chore = await repo.insert(Chore(title="Water the plants", tags=["home"]))

        assert await repo.get(chore.id) == chore
        assert await repo.count() == 1

    async def test_inserting_an_existing_id_raises_duplicate_key_naming_the_id(self, backend):
        repo = backend.repository(Chore)
        first = await repo.insert(Chore(title="Original"))

        with pytest.raises(DuplicateKey) as caught:
            await repo.insert(Chore(id=first.id, title="Impostor"))

        assert caught.value.fields == ("id",)
        assert await repo.get(first.id) == first
        assert await repo.count() == 1


class RoundTripContract(_Contract):
    async def test_a_document_of_every_type_round_trips(self, backend):
        repo = backend.repository(Sample)
        sample = await repo.insert(make_sample())

        loaded = await repo.get(sample.id)

        assert loaded is not sample
        assert loaded == sample

    async def test_dates_datetimes_decimals_uuids_and_enums_keep_their_types(self, backend):
        repo = backend.repository(Sample)
        sample = await repo.insert(make_sample())

        loaded = await repo.get(sample.id)

        assert type(loaded.day) is dt.date
        assert loaded.day == dt.date(1999, 12, 31)
        assert is_utc(loaded.moment)
        assert loaded.moment == dt.datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=dt.UTC)
        assert is_utc(loaded.inserted)
        assert is_utc(loaded.updated)
        assert type(loaded.amount) is Decimal
        assert str(loaded.amount) == "1234.5678"
        assert type(loaded.lines[0].price) is Decimal
        assert str(loaded.lines[1].price) == "0.01"
        assert type(loaded.ref) is uuid.UUID
        assert loaded.status is Status.DOING
        assert loaded.level is Level.HIGH
        assert loaded.labels == {"x", "y"}
        assert loaded.names == ["b", "a", "b"]

    async def test_a_document_with_empty_and_null_values_round_trips(self, backend):
        repo = backend.repository(Sample)
        sample = await repo.insert(
            make_sample(
                text="",
                quantity=0,
                ratio=0.0,
                flag=False,
                amount=Decimal("0.00"),
                maybe=None,
                names=[],
                labels=set(),
                scores={},
                home=None,
                lines=[],
            )
        )

        assert await repo.get(sample.id) == sample

    async def test_documents_are_found_by_typed_values(self, backend):
        repo = backend.repository(Sample)
        first = await repo.insert(make_sample())
        other = await repo.insert(
            make_sample(
                amount=Decimal("1234.5679"),
                ref=uuid.uuid4(),
                moment=dt.datetime(2024, 5, 6, 7, 8, 9, 124000, tzinfo=dt.UTC),
                day=dt.date(2000, 1, 1),
                status=Status.DONE,
                level=Level.LOW,
                flag=False,
            )
        )
        cases = [
            (Sample.ref == first.ref, first),
            (Sample.ref == other.ref, other),
            (Sample.amount < Decimal("1234.5679"), first),
            (Sample.amount == Decimal("1234.5679"), other),
            (Sample.moment == first.moment, first),
            (Sample.moment > first.moment, other),
            (Sample.day == dt.date(1999, 12, 31), first),
            (Sample.day >= dt.date(2000, 1, 1), other),
            (Sample.status == Status.DOING, first),
            (Sample.level == Level.LOW, other),
            (Sample.flag == True, first),  # noqa: E712 - a query condition
            (Sample.labels.contains("x"), None),
            (Sample.lines.contains(first.lines[0]), None),
        ]
        for where, expected in cases:
            found = await repo.find(Query(Sample).where(where))
            wanted = [first, other] if expected is None else [expected]
            assert [s.id for s in found] == [s.id for s in wanted], where

    async def test_getting_an_unknown_id_raises_not_found(self, backend):
        repo = backend.repository(Chore)
        await repo.insert(Chore(title="Someone else"))
        key = Chore(title="Never stored").id

        with pytest.raises(NotFound) as caught:
            await repo.get(key)

        assert caught.value.key == key

    async def test_a_document_of_every_type_is_stored_after_sync(self, backend):
        repo = backend.repository(Sample)
        await repo.sync()

        sample = await repo.insert(make_sample())

        assert await repo.get(sample.id) == sample


# (expression, positions on the board in id order)
FILTER_CASES: list[tuple[str, Expr, list[int]]] = [
    ("eq", Chore.status == Status.DONE, [2, 4]),
    ("ne", Chore.status != Status.DONE, [0, 1, 3, 5]),
    ("lt", Chore.priority < 3, [0, 1]),
    ("lte", Chore.priority <= 3, [0, 1, 2, 5]),
    ("gt", Chore.priority > 3, [3, 4]),
    ("gte", Chore.priority >= 3, [2, 3, 4, 5]),
    ("lt-date-skips-nulls", Chore.due < dt.date(2024, 2, 1), [0]),
    ("gte-date", Chore.due >= dt.date(2024, 2, 1), [1, 4]),
    ("gt-float", Chore.estimate > 1.0, [0, 2]),
    ("eq-null", Chore.estimate == None, [1, 3, 5]),  # noqa: E711 - a query condition
    ("in", Chore.priority.in_([1, 5, 6]), [0, 4]),
    ("not-in", Chore.status.not_in([Status.OPEN]), [1, 2, 4]),
    ("contains-list", Chore.tags.contains("red"), [0, 1]),
    ("contains-text-ignores-case", Chore.title.contains("FIX"), [0, 1, 5]),
    ("contains-text-is-literal", Chore.title.contains(".*("), [3]),
    ("contains-dot-is-literal", Chore.title.contains("1.5"), []),
    ("startswith-is-case-sensitive", Chore.title.startswith("Fix"), [0, 5]),
    ("startswith-is-literal", Chore.title.startswith(".*("), [3]),
    ("startswith-dot-is-literal", Chore.title.startswith("."), [3]),
    ("exists", Chore.estimate.exists(), [0, 2, 4]),
    ("exists-false", Chore.estimate.exists(False), [1, 3, 5]),
    ("embedded-exists-false", Chore.home.exists(False), [1, 4, 5]),
    ("and", (Chore.priority >= 2) & (Chore.status == Status.OPEN), [3, 5]),
    ("or", (Chore.priority == 1) | Chore.tags.contains("blue"), [0, 1, 5]),
    ("not", ~(Chore.status == Status.OPEN), [1, 2, 4]),
    ("not-and", ~Chore.tags.contains("red") & (Chore.priority < 4), [2, 5]),
    ("not-or", ~((Chore.priority == 1) | (Chore.priority == 5)), [1, 2, 3, 5]),
    ("embedded-path", Chore.home.city == "Springfield", [0, 3]),
    ("embedded-path-ne", Chore.home.city != "Springfield", [1, 2, 4, 5]),
    ("embedded-path-contains", Chore.home.city.contains("VILLE"), [2]),
    ("nothing", Chore.priority > 5, []),
    ("size", Chore.tags.size(2), [1]),
    ("size-zero", Chore.tags.size(0), [2, 4]),
    ("elem-match-item", Chore.tags.elem_match(lambda t: (t >= "b") & (t < "c")), [1, 5]),
    ("elem-match-one-item", Chore.tags.elem_match(lambda t: (t > "blue") & (t < "red")), [3]),
    ("not-elem-match", ~Chore.tags.elem_match(lambda t: t == "red"), [2, 3, 4, 5]),
]


class FindContract(_Contract):
    @pytest.mark.parametrize(
        ("where", "expected"),
        [case[1:] for case in FILTER_CASES],
        ids=[case[0] for case in FILTER_CASES],
    )
    async def test_filters_select_the_matching_documents(self, backend, where, expected):
        board = await _stored_board(backend)

        found = await board.repo.find(Query(Chore).where(where))

        assert board.positions(found) == expected

    async def test_found_documents_equal_the_stored_ones(self, backend):
        board = await _stored_board(backend)

        found = await board.repo.find(Query(Chore))

        assert found == board.chores

    async def test_several_where_calls_all_apply(self, backend):
        board = await _stored_board(backend)
        query = Query(Chore).where(Chore.priority >= 2).where(Chore.status == Status.OPEN)

        found = await board.repo.find(query)

        assert board.positions(found) == [3, 5]

    async def test_a_document_is_found_by_its_id(self, backend):
        board = await _stored_board(backend)
        key = board.chores[4].id

        found = await board.repo.find(Query(Chore).where(Chore.id == key))

        assert board.positions(found) == [4]

    async def test_count_agrees_with_every_filter(self, backend):
        board = await _stored_board(backend)

        for name, where, expected in FILTER_CASES:
            assert await board.repo.count(where) == len(expected), name

    async def test_count_without_a_filter_counts_everything(self, backend):
        board = await _stored_board(backend)

        assert await board.repo.count() == 6
        assert await board.repo.count(None) == 6

    async def test_an_empty_collection_finds_and_counts_nothing(self, backend):
        repo = backend.repository(Chore)

        assert await repo.find(Query(Chore)) == []
        assert await repo.count() == 0


class SortAndPageContract(_Contract):
    async def test_without_a_sort_documents_come_in_id_order(self, backend):
        repo = backend.repository(Chore)
        chores = _board()
        for position in (4, 1, 5, 0, 3, 2):  # stored out of creation order
            await repo.insert(chores[position])

        found = await repo.find(Query(Chore))

        assert [c.id for c in found] == [c.id for c in chores]

    @pytest.mark.parametrize(
        ("keys", "expected"),
        [
            ((Chore.priority.asc(),), [0, 1, 2, 5, 3, 4]),
            ((Chore.priority.desc(),), [4, 3, 2, 5, 1, 0]),
            ((Chore.priority,), [0, 1, 2, 5, 3, 4]),
            ((Chore.status.asc(), Chore.priority.desc()), [1, 4, 2, 3, 5, 0]),
            ((Chore.status.desc(), Chore.priority.asc()), [0, 5, 3, 2, 4, 1]),
            ((Chore.title.asc(),), [3, 0, 5, 4, 2, 1]),
            ((Chore.home.city.asc(),), [1, 4, 5, 2, 0, 3]),
            ((Chore.estimate.asc(),), [1, 3, 5, 4, 0, 2]),
            ((Chore.estimate.desc(),), [2, 0, 4, 1, 3, 5]),
            ((Chore.id.desc(),), [5, 4, 3, 2, 1, 0]),
        ],
        ids=[
            "asc",
            "desc",
            "bare-field",
            "two-keys",
            "two-keys-reversed",
            "text",
            "embedded-nulls-first",
            "nulls-first-ascending",
            "nulls-last-descending",
            "id-desc",
        ],
    )
    async def test_sorting_orders_by_the_keys_then_by_id(self, backend, keys, expected):
        board = await _stored_board(backend)

        found = await board.repo.find(Query(Chore).sort(*keys))

        assert board.positions(found) == expected

    @pytest.mark.parametrize(
        ("window", "expected"),
        [
            (lambda q: q.offset(1).take(2), [1, 2]),
            (lambda q: q.offset(4), [3, 4]),
            (lambda q: q.take(3), [0, 1, 2]),
            (lambda q: q.page(1, size=4), [0, 1, 2, 5]),
            (lambda q: q.page(2, size=4), [3, 4]),
            (lambda q: q.page(3, size=2), [3, 4]),
            (lambda q: q.page(4, size=2), []),
            (lambda q: q.offset(10), []),
            (lambda q: q.take(0), []),
        ],
        ids=[
            "skip-limit",
            "skip",
            "limit",
            "page-1",
            "page-2",
            "page-3-of-2",
            "past-the-end",
            "skip-past-the-end",
            "limit-zero",
        ],
    )
    async def test_windows_cut_the_sorted_matches(
        self, backend, window: Callable[[Query[Chore]], Query[Chore]], expected
    ):
        board = await _stored_board(backend)

        found = await board.repo.find(window(Query(Chore).sort(Chore.priority)))

        assert board.positions(found) == expected

    async def test_a_window_applies_after_the_filter(self, backend):
        board = await _stored_board(backend)
        query = Query(Chore).where(Chore.status == Status.OPEN).sort(Chore.priority.desc())

        found = await board.repo.find(query.page(2, size=2))

        assert board.positions(found) == [0]


class ProjectionContract(_Contract):
    async def test_only_loads_the_named_fields_and_the_id(self, backend):
        board = await _stored_board(backend)

        found = await board.repo.find(Query(Chore).only(Chore.title, Chore.priority))

        assert [(c.id, c.title, c.priority) for c in found] == [
            (c.id, c.title, c.priority) for c in board.chores
        ]
        assert all(is_partial(c) for c in found)

    async def test_without_loads_every_other_field(self, backend):
        board = await _stored_board(backend)

        found = await board.repo.find(Query(Chore).without(Chore.tags, Chore.home))

        assert [(c.id, c.title, c.status, c.estimate, c.due) for c in found] == [
            (c.id, c.title, c.status, c.estimate, c.due) for c in board.chores
        ]
        assert all(is_partial(c) for c in found)

    async def test_the_id_is_loaded_even_when_not_named(self, backend):
        board = await _stored_board(backend)

        found = await board.repo.find(Query(Chore).where(Chore.priority == 4).only(Chore.tags))

        assert [(c.id, c.tags) for c in found] == [(board.chores[3].id, ["green"])]

    async def test_get_with_a_projection_returns_a_partial_object(self, backend):
        board = await _stored_board(backend)
        stored = board.chores[0]

        loaded = await board.repo.get(stored.id, projection=Projection(include=frozenset({"due"})))

        assert (loaded.id, loaded.due) == (stored.id, stored.due)
        assert is_partial(loaded)

    async def test_complete_objects_are_not_partial(self, backend):
        board = await _stored_board(backend)

        assert not is_partial(await board.repo.get(board.chores[0].id))
        assert not any(is_partial(c) for c in await board.repo.find(Query(Chore)))

    async def test_saving_a_partial_object_raises_partial_document(self, backend):
        board = await _stored_board(backend)
        [partial] = await board.repo.find(Query(Chore).where(Chore.priority == 1).only("title"))
        partial.title = "Renamed"

        with pytest.raises(PartialDocument):
            await board.repo.save(partial)

        assert await board.repo.get(partial.id) == board.chores[0]

    async def test_saving_a_partial_object_through_the_model_raises_partial_document(self, backend):
        board = await _stored_board(backend)
        [partial] = await board.repo.find(Query(Chore).where(Chore.priority == 1).only("title"))
        partial.title = "Renamed"

        with _bound(Chore, board.repo), pytest.raises(PartialDocument):
            await partial.save()

        assert await board.repo.get(partial.id) == board.chores[0]


class SaveContract(_Contract):
    async def test_saving_bumps_the_version_and_moves_updated_forward(self, backend):
        repo = backend.repository(Chore)
        chore = await repo.insert(Chore(title="Draft"))
        inserted = chore.inserted
        await tick()

        chore.title = "Final"
        saved = await repo.save(chore)

        assert saved is chore
        assert chore.version == 2
        assert chore.inserted == inserted
        assert is_utc(chore.updated)
        assert chore.updated > inserted
        assert await repo.get(chore.id) == chore

    async def test_every_save_bumps_the_version_again(self, backend):
        repo = backend.repository(Chore)
        chore = await repo.insert(Chore(title="Draft"))

        for version in (2, 3, 4):
            chore.priority = version
            await repo.save(chore)

            stored = await repo.get(chore.id)
            assert (stored.version, stored.priority) == (version, version)

    async def test_saving_a_stale_copy_raises_concurrency_conflict(self, backend):
        repo = backend.repository(Chore)
        chore = await repo.insert(Chore(title="Shared"))
        mine, theirs = await repo.get(chore.id), await repo.get(chore.id)
        theirs.title = "Theirs"
        await repo.save(theirs)

        mine.priority = 5
        with pytest.raises(ConcurrencyConflict) as caught:
            await repo.save(mine)

        assert (caught.value.expected, caught.value.current) == (1, 2)
        assert caught.value.key == chore.id
        assert await repo.get(chore.id) == theirs
        assert mine.version == 1

    async def test_saving_a_never_stored_object_raises_not_found(self, backend):
        repo = backend.repository(Chore)

        with pytest.raises(NotFound):
            await repo.save(Chore(title="Never stored"))

        assert await repo.count() == 0

    async def test_saving_a_deleted_object_raises_not_found(self, backend):
        repo = backend.repository(Chore)
        chore = await repo.insert(Chore(title="Doomed"))
        await repo.delete(chore.id)

        chore.title = "Revived"
        with pytest.raises(NotFound):
            await repo.save(chore)

        assert await repo.count() == 0


class DeleteContract(_Contract):
    async def test_deleting_at_the_current_version_removes_the_document(self, backend):
        repo = backend.repository(Chore)
        keep = await repo.insert(Chore(title="Keep"))
        chore = await repo.insert(Chore(title="Remove"))

        await repo.delete(chore.id, expected_version=1)

        with pytest.raises(NotFound):
            await repo.get(chore.id)
        assert await repo.find(Query(Chore)) == [keep]

    async def test_deleting_without_a_version_removes_the_document(self, backend):
        repo = backend.repository(Chore)
        chore = await repo.insert(Chore(title="Remove"))
        chore.title = "Changed"
        await repo.save(chore)

        await repo.delete(chore.id)

        assert await repo.count() == 0

    async def test_deleting_at_a_stale_version_raises_concurrency_conflict(self, backend):
        repo = backend.repository(Chore)
        chore = await repo.insert(Chore(title="Shared"))
        chore.title = "Changed"
        await repo.save(chore)

        with pytest.raises(ConcurrencyConflict) as caught:
            await repo.delete(chore.id, expected_version=1)

        assert (caught.value.expected, caught.value.current) == (1, 2)
        assert await repo.get(chore.id) == chore

    async def test_deleting_an_unknown_id_raises_not_found(self, backend):
        repo = backend.repository(Chore)
        await repo.insert(Chore(title="Someone else"))

        with pytest.raises(NotFound):
            await repo.delete(Chore(title="Never stored").id)
        with pytest.raises(NotFound):
            await repo.delete(Chore(title="Never stored").id, expected_version=1)

        assert await repo.count() == 1

    async def test_deleting_twice_raises_not_found(self, backend):
        repo = backend.repository(Chore)
        chore = await repo.insert(Chore(title="Remove"))
        await repo.delete(chore.id)

        with pytest.raises(NotFound):
            await repo.delete(chore.id)


class UpdateContract(_Contract):
    async def test_update_changes_the_matches_and_returns_how_many(self, backend):
        board = await _stored_board(backend)
        await tick()

        changed = await board.repo.update(Chore.status == Status.OPEN, [Chore.priority.inc(1)])

        assert changed == 3
        stored = await board.repo.find(Query(Chore))
        for position in (0, 3, 5):
            before, after = board.chores[position], stored[position]
            assert after.priority == before.priority + 1
            assert after.version == 2
            assert after.updated > before.updated
            assert after.inserted == before.inserted
            assert is_utc(after.updated)
        for position in (1, 2, 4):
            assert stored[position] == board.chores[position]

    async def test_update_without_a_filter_changes_everything(self, backend):
        board = await _stored_board(backend)

        changed = await board.repo.update(None, [Chore.note.set("seen")])

        assert changed == 6
        stored = await board.repo.find(Query(Chore))
        assert {(c.note, c.version) for c in stored} == {("seen", 2)}

    async def test_update_matching_nothing_changes_nothing(self, backend):
        board = await _stored_board(backend)

        changed = await board.repo.update(Chore.priority > 5, [Chore.priority.set(1)])

        assert changed == 0
        assert await board.repo.find(Query(Chore)) == board.chores

    async def test_set_replaces_a_value(self, backend):
        board = await _stored_board(backend)

        await board.repo.update(Chore.priority == 1, [Chore.status.set(Status.DONE)])

        stored = await board.repo.get(board.chores[0].id)
        assert stored.status is Status.DONE

    async def test_set_on_an_embedded_path_changes_only_that_field(self, backend):
        board = await _stored_board(backend)

        changed = await board.repo.update(
            Chore.home.city == "Springfield", [Chore.home.city.set("Ogdenville")]
        )

        assert changed == 2
        stored = await board.repo.get(board.chores[3].id)
        assert stored.home == Address(street="3 Oak St", city="Ogdenville")

    async def test_push_appends_an_item(self, backend):
        board = await _stored_board(backend)

        await board.repo.update(Chore.tags.contains("red"), [Chore.tags.push("red")])

        stored = await board.repo.find(Query(Chore).where(Chore.tags.contains("red")))
        assert [c.tags for c in stored] == [["red", "red"], ["blue", "red", "red"]]

    async def test_pull_removes_every_occurrence(self, backend):
        board = await _stored_board(backend)
        await board.repo.update(Chore.priority == 2, [Chore.tags.push("red")])

        changed = await board.repo.update(None, [Chore.tags.pull("red")])

        assert changed == 6
        stored = await board.repo.find(Query(Chore))
        assert [c.tags for c in stored] == [[], ["blue"], [], ["green"], [], ["blue"]]

    async def test_add_to_set_appends_only_a_missing_item(self, backend):
        board = await _stored_board(backend)

        await board.repo.update(None, [Chore.tags.add_to_set("blue")])

        stored = await board.repo.find(Query(Chore))
        assert [c.tags for c in stored] == [
            ["red", "blue"],
            ["blue", "red"],
            ["blue"],
            ["green", "blue"],
            ["blue"],
            ["blue"],
        ]

    async def test_unset_resets_fields_to_their_defaults(self, backend):
        board = await _stored_board(backend)

        await board.repo.update(
            Chore.priority == 1,
            [Chore.priority.unset(), Chore.estimate.unset(), Chore.tags.unset()],
        )

        stored = await board.repo.get(board.chores[0].id)
        assert (stored.priority, stored.estimate, stored.tags) == (3, None, [])

    async def test_several_operations_apply_together(self, backend):
        board = await _stored_board(backend)

        await board.repo.update(
            Chore.id == board.chores[1].id,
            [Chore.priority.inc(2), Chore.tags.pull("blue"), Chore.note.set("busy")],
        )

        stored = await board.repo.get(board.chores[1].id)
        assert (stored.priority, stored.tags, stored.note, stored.version) == (
            4,
            ["red"],
            "busy",
            2,
        )

    async def test_update_one_returns_the_document_as_stored_afterwards(self, backend):
        board = await _stored_board(backend)
        before = board.chores[2]
        await tick()

        after = await board.repo.update_one(
            before.id, [Chore.priority.inc(-1), Chore.tags.push("late")]
        )

        assert isinstance(after, Chore)
        assert (after.priority, after.tags, after.version) == (2, ["late"], 2)
        assert after.updated > before.updated
        assert after.inserted == before.inserted
        assert after == await board.repo.get(before.id)

    async def test_update_one_at_the_expected_version_applies(self, backend):
        board = await _stored_board(backend)
        key = board.chores[2].id

        after = await board.repo.update_one(key, [Chore.note.set("v1")], expected_version=1)

        assert (after.note, after.version) == ("v1", 2)

    async def test_update_one_at_a_stale_version_raises_concurrency_conflict(self, backend):
        board = await _stored_board(backend)
        key = board.chores[2].id
        current = await board.repo.update_one(key, [Chore.note.set("first")])

        with pytest.raises(ConcurrencyConflict) as caught:
            await board.repo.update_one(key, [Chore.note.set("second")], expected_version=1)

        assert (caught.value.expected, caught.value.current) == (1, 2)
        assert await board.repo.get(key) == current

    async def test_update_one_of_an_unknown_id_raises_not_found(self, backend):
        board = await _stored_board(backend)

        with pytest.raises(NotFound):
            await board.repo.update_one(Chore(title="Never stored").id, [Chore.note.set("x")])

        assert await board.repo.find(Query(Chore)) == board.chores

    @pytest.mark.parametrize(
        "build",
        [
            lambda: Chore.priority.set(9),
            lambda: Chore.priority.set("high"),
            lambda: Chore.status.set("bogus"),
            lambda: Chore.title.set(""),
            lambda: Chore.title.inc(1),
            lambda: Chore.priority.push(1),
            Chore.title.unset,
        ],
        ids=[
            "out-of-range",
            "wrong-type",
            "unknown-enum",
            "validator",
            "inc-text",
            "push-scalar",
            "unset-required",
        ],
    )
    async def test_invalid_update_values_raise_validation_error_when_built(self, build):
        with pytest.raises(ValidationError):
            build()

    async def test_the_audit_fields_cannot_be_updated(self, backend):
        board = await _stored_board(backend)

        with pytest.raises(ValidationError):
            await board.repo.update(None, [Chore.version.set(7)])

        assert await board.repo.find(Query(Chore)) == board.chores


class InsertManyContract(_Contract):
    async def test_insert_many_stores_every_item_at_version_one(self, backend):
        repo = backend.repository(Chore)
        chores = _board()

        stored = await repo.insert_many(chores)

        assert len(stored) == 6
        assert all(s is c for s, c in zip(stored, chores, strict=True))
        assert {c.version for c in chores} == {1}
        assert all(is_utc(c.inserted) and c.inserted == c.updated for c in chores)
        assert await repo.find(Query(Chore)) == chores

    async def test_insert_many_of_nothing_stores_nothing(self, backend):
        repo = backend.repository(Chore)

        assert await repo.insert_many([]) == []
        assert await repo.count() == 0

    async def test_a_duplicate_in_the_batch_raises_duplicate_key_at_its_position(self, backend):
        repo = backend.repository(Chore)
        first, second = Chore(title="First"), Chore(title="Second")
        clash, after = Chore(id=first.id, title="Clash"), Chore(title="After")

        with pytest.raises(DuplicateKey) as caught:
            await repo.insert_many([first, second, clash, after])

        assert caught.value.position == 2
        assert caught.value.fields == ("id",)
        assert [c.id for c in await repo.find(Query(Chore))] == [first.id, second.id]
        assert (await repo.get(first.id)).title == "First"

    async def test_a_clash_with_a_stored_document_raises_duplicate_key_at_its_position(
        self, backend
    ):
        repo = backend.repository(Chore)
        stored = await repo.insert(Chore(title="Stored"))

        with pytest.raises(DuplicateKey) as caught:
            await repo.insert_many([Chore(id=stored.id, title="Clash"), Chore(title="After")])

        assert caught.value.position == 0
        assert await repo.find(Query(Chore)) == [stored]


class PredefinedFilterContract(_Contract):
    @pytest.fixture
    async def memos(self, backend):
        repo = backend.repository(Memo)
        live = await repo.insert(Memo(body="live"))
        hidden = await repo.insert(Memo(body="hidden", deleted=True))
        return repo, live, hidden

    async def test_get_does_not_see_a_hidden_document(self, memos):
        repo, live, hidden = memos

        with pytest.raises(NotFound):
            await repo.get(hidden.id)

        assert await repo.get(live.id) == live
        assert await repo.get(hidden.id, unfiltered=True) == hidden

    async def test_find_does_not_see_hidden_documents(self, memos):
        repo, live, hidden = memos

        assert await repo.find(Query(Memo)) == [live]
        assert await repo.find(Query(Memo).where(Memo.body == "hidden")) == []
        assert await repo.find(Query(Memo), unfiltered=True) == [live, hidden]
        assert await repo.find(Query(Memo).where(Memo.deleted == True), unfiltered=True) == [  # noqa: E712
            hidden
        ]

    async def test_count_does_not_count_hidden_documents(self, memos):
        repo, _, _ = memos

        assert await repo.count() == 1
        assert await repo.count(Memo.body == "hidden") == 0
        assert await repo.count(unfiltered=True) == 2

    async def test_update_does_not_change_hidden_documents(self, memos):
        repo, live, hidden = memos

        assert await repo.update(None, [Memo.body.set("seen")]) == 1

        assert (await repo.get(live.id)).body == "seen"
        assert await repo.get(hidden.id, unfiltered=True) == hidden

    async def test_an_unfiltered_update_changes_hidden_documents(self, memos):
        repo, _, hidden = memos

        assert await repo.update(None, [Memo.body.set("seen")], unfiltered=True) == 2

        assert (await repo.get(hidden.id, unfiltered=True)).body == "seen"

    async def test_update_one_does_not_change_a_hidden_document(self, memos):
        repo, _, hidden = memos

        with pytest.raises(NotFound):
            await repo.update_one(hidden.id, [Memo.body.set("seen")])

        assert await repo.get(hidden.id, unfiltered=True) == hidden
        restored = await repo.update_one(hidden.id, [Memo.deleted.set(False)], unfiltered=True)
        assert await repo.get(hidden.id) == restored

    async def test_delete_does_not_remove_a_hidden_document(self, memos):
        repo, _, hidden = memos

        with pytest.raises(NotFound):
            await repo.delete(hidden.id)

        assert await repo.count(unfiltered=True) == 2
        await repo.delete(hidden.id, unfiltered=True)
        assert await repo.count(unfiltered=True) == 1

    async def test_saving_a_soft_delete_hides_the_document(self, memos):
        repo, live, _ = memos

        live.deleted = True
        await repo.save(live)

        with pytest.raises(NotFound):
            await repo.get(live.id)
        assert await repo.count() == 0
        assert await repo.get(live.id, unfiltered=True) == live

    async def test_saving_a_hidden_document_raises_not_found(self, memos):
        repo, _, hidden = memos
        loaded = await repo.get(hidden.id, unfiltered=True)

        loaded.body = "edited"
        with pytest.raises(NotFound):
            await repo.save(loaded)

        assert await repo.get(hidden.id, unfiltered=True) == hidden

    async def test_the_model_finder_applies_the_filter_unless_told_otherwise(self, memos):
        repo, live, hidden = memos

        with _bound(Memo, repo):
            assert await Memo.find().to_list() == [live]
            assert await Memo.count() == 1
            assert await Memo.find().unfiltered().to_list() == [live, hidden]
            assert await Memo.find().unfiltered().count() == 2
            with pytest.raises(NotFound):
                await Memo.get(hidden.id)


class IndexContract(_Contract):
    async def test_sync_creates_the_declared_indexes(self, backend):
        report = await backend.repository(Account).sync()

        assert set(report.created) == ACCOUNT_INDEXES
        assert len(report.created) == len(ACCOUNT_INDEXES)

    async def test_a_second_sync_creates_nothing(self, backend):
        await backend.repository(Account).sync()

        report = await backend.repository(Account).sync()

        assert report.created == ()
        assert report.differing == ()
        assert report.extra == ()

    async def test_a_unique_field_rejects_a_duplicate_after_sync(self, backend):
        repo = backend.repository(Account)
        await repo.sync()
        first = await repo.insert(Account(email="ada@example.com", team="core"))

        with pytest.raises(DuplicateKey) as caught:
            await repo.insert(Account(email="ada@example.com", team="web"))

        assert caught.value.fields == ("email",)
        assert await repo.find(Query(Account)) == [first]

    async def test_insert_many_reports_a_unique_clash_at_its_position(self, backend):
        repo = backend.repository(Account)
        await repo.sync()
        accounts = [
            Account(email="ada@example.com", team="core"),
            Account(email="bob@example.com", team="core"),
            Account(email="ada@example.com", team="web"),
        ]

        with pytest.raises(DuplicateKey) as caught:
            await repo.insert_many(accounts)

        assert (caught.value.position, caught.value.fields) == (2, ("email",))
        assert await repo.count() == 2

    async def test_saving_a_value_a_unique_index_holds_raises_duplicate_key(self, backend):
        repo = backend.repository(Account)
        await repo.sync()
        await repo.insert(Account(email="ada@example.com", team="core"))
        bob = await repo.insert(Account(email="bob@example.com", team="core"))

        bob.email = "ada@example.com"
        with pytest.raises(DuplicateKey) as caught:
            await repo.save(bob)

        assert caught.value.fields == ("email",)
        assert (await repo.get(bob.id)).email == "bob@example.com"
        assert bob.version == 1

    async def test_updating_to_a_value_a_unique_index_holds_raises_duplicate_key(self, backend):
        repo = backend.repository(Account)
        await repo.sync()
        await repo.insert(Account(email="ada@example.com", team="core"))
        bob = await repo.insert(Account(email="bob@example.com", team="core"))

        with pytest.raises(DuplicateKey) as caught:
            await repo.update_one(bob.id, [Account.email.set("ada@example.com")])

        assert caught.value.fields == ("email",)
        assert await repo.get(bob.id) == bob

    async def test_non_unique_indexes_accept_equal_values(self, backend):
        repo = backend.repository(Account)
        await repo.sync()

        await repo.insert_many(
            [
                Account(email="ada@example.com", team="core", bio="same", priority=2),
                Account(email="bob@example.com", team="core", bio="same", priority=2),
            ]
        )

        assert await repo.count(Account.team == "core") == 2


class UnitOfWorkContract(_Contract):
    async def test_committed_writes_are_visible_afterwards(self, backend):
        outside = backend.repository(Chore)
        existing = await outside.insert(Chore(title="Existing"))

        async with backend.uow_factory() as uow:
            repo = uow.repository(Chore)
            first = await repo.insert(Chore(title="First"))
            second = await repo.insert(Chore(title="Second"))
            existing.priority = 5
            await repo.save(existing)

        assert await backend.repository(Chore).find(Query(Chore)) == [existing, first, second]
        assert await outside.find(Query(Chore)) == [existing, first, second]
        assert (await outside.get(existing.id)).version == 2

    async def test_callbacks_run_after_the_commit_and_never_after_a_rollback(self, backend, caplog):
        seen: list[str] = []

        def broken() -> None:
            raise RuntimeError("a broken callback")

        async with backend.uow_factory() as uow:
            chore = await uow.repository(Chore).insert(Chore(title="Committed"))
            uow.on_commit(lambda: seen.append("first"))
            uow.on_commit(broken)
            uow.on_commit(lambda: seen.append(f"open={uow.open}"))
            assert seen == []  # nothing runs before the commit

        # In order, after the unit closed; a failing one is logged and the rest run.
        assert seen == ["first", "open=False"]
        assert "a callback after the commit failed" in caplog.text
        assert (await backend.repository(Chore).get(chore.id)).title == "Committed"

        rolled_back: list[str] = []

        async def fail() -> None:
            async with backend.uow_factory() as uow:
                await uow.repository(Chore).insert(Chore(title="Rolled back"))
                uow.on_commit(lambda: rolled_back.append("ran"))
                raise Boom

        with pytest.raises(Boom):
            await fail()
        assert rolled_back == []

    async def test_every_write_of_a_failed_unit_is_rolled_back(self, backend):
        outside = backend.repository(Chore)
        board = await _stored_board(backend)
        added = Chore(title="Added")

        async def fail() -> None:
            async with backend.uow_factory() as uow:
                repo = uow.repository(Chore)
                await repo.insert(added)
                changed = await repo.get(board.chores[0].id)
                changed.title = "Changed"
                await repo.save(changed)
                await repo.update(Chore.priority >= 4, [Chore.note.set("touched")])
                await repo.update_one(board.chores[1].id, [Chore.tags.push("x")])
                await repo.delete(board.chores[2].id)
                await repo.insert_many([Chore(title="Batch")])
                raise Boom

        with pytest.raises(Boom):
            await fail()

        for repo in (outside, backend.repository(Chore)):
            assert await repo.find(Query(Chore)) == board.chores
            with pytest.raises(NotFound):
                await repo.get(added.id)

    async def test_reads_inside_see_the_units_own_writes(self, backend):
        board = await _stored_board(backend)

        async with backend.uow_factory() as uow:
            repo = uow.repository(Chore)
            added = await repo.insert(Chore(title="Added", priority=5))
            await repo.delete(board.chores[0].id)
            await repo.update_one(board.chores[1].id, [Chore.note.set("inside")])

            assert await repo.get(added.id) == added
            assert await repo.count() == 6
            found = await repo.find(Query(Chore).where(Chore.priority == 5))
            assert [c.id for c in found] == [board.chores[4].id, added.id]
            assert (await repo.get(board.chores[1].id)).note == "inside"
            with pytest.raises(NotFound):
                await repo.get(board.chores[0].id)

    async def test_uncommitted_writes_are_invisible_outside(self, backend):
        outside = backend.repository(Chore)
        existing = await outside.insert(Chore(title="Existing"))

        async with backend.uow_factory() as uow:
            repo = uow.repository(Chore)
            added = await repo.insert(Chore(title="Added"))
            await repo.update_one(existing.id, [Chore.note.set("inside")])

            with pytest.raises(NotFound):
                await outside.get(added.id)
            assert await outside.get(existing.id) == existing

        assert await outside.count() == 2

    async def test_an_explicit_rollback_discards_the_writes(self, backend):
        outside = backend.repository(Chore)

        async with backend.uow_factory() as uow:
            await uow.repository(Chore).insert(Chore(title="Discarded"))
            await uow.rollback()

        assert await outside.count() == 0
        assert await backend.repository(Chore).count() == 0

    async def test_an_explicit_commit_makes_the_writes_visible(self, backend):
        outside = backend.repository(Chore)

        async with backend.uow_factory() as uow:
            added = await uow.repository(Chore).insert(Chore(title="Kept"))
            await uow.commit()

        assert await outside.get(added.id) == added

    async def test_active_record_calls_inside_go_through_the_unit(self, backend):
        outside = backend.repository(Chore)
        chore = Chore(title="Active")

        async def fail() -> None:
            async with backend.uow_factory():
                await chore.save()
                assert (await Chore.get(chore.id)).title == "Active"
                assert [c.id for c in await Chore.find(Chore.title == "Active").to_list()] == [
                    chore.id
                ]
                assert await Chore.count() == 1
                raise Boom

        with _bound(Chore, outside):
            with pytest.raises(Boom):
                await fail()

            assert await outside.count() == 0
            assert await backend.repository(Chore).count() == 0
            with pytest.raises(NotFound):
                await Chore.get(chore.id)

    async def test_active_record_writes_inside_a_unit_commit_with_it(self, backend):
        outside = backend.repository(Chore)

        with _bound(Chore, outside):
            async with backend.uow_factory():
                chore = await Chore(title="Active").save()
                chore.title = "Saved twice"
                await chore.save()

            assert await outside.get(chore.id) == chore
            assert chore.version == 2

    async def test_run_commits_and_returns_the_result(self, backend):
        outside = backend.repository(Chore)

        async def work(uow):
            return await uow.repository(Chore).insert(Chore(title="By run"))

        chore = await backend.uow_factory.run(work)

        assert await outside.get(chore.id) == chore

    async def test_run_rolls_back_and_reraises_on_failure(self, backend):
        outside = backend.repository(Chore)

        async def work(uow):
            await uow.repository(Chore).insert(Chore(title="By run"))
            raise Boom

        with pytest.raises(Boom):
            await backend.uow_factory.run(work)

        assert await outside.count() == 0
        assert await backend.repository(Chore).count() == 0


class ActiveRecordContract(_Contract):
    @pytest.fixture
    def bound(self, backend):
        with _bound(Chore, backend.repository(Chore)) as repo:
            yield repo

    async def test_save_inserts_a_new_object_then_saves_it(self, bound):
        chore = Chore(title="Active")

        assert await chore.save() is chore
        assert chore.version == 1
        chore.title = "Active again"
        await chore.save()

        assert chore.version == 2
        assert await bound.get(chore.id) == chore

    async def test_get_find_and_count_read_through_the_bound_repository(self, bound):
        board = await _stored_board_in(bound)

        assert await Chore.get(board[2].id) == board[2]
        found = await Chore.find(Chore.priority >= 3).sort(Chore.priority.desc()).to_list()
        assert [c.id for c in found] == [board[i].id for i in (4, 3, 2, 5)]
        assert await Chore.find(Chore.tags.contains("red")).first() == board[0]
        assert await Chore.find(Chore.priority > 5).first() is None
        assert await Chore.count(Chore.status == Status.DONE) == 2
        assert [c.id async for c in Chore.find().skip(4)] == [board[4].id, board[5].id]
        paged = await Chore.find().sort(Chore.priority).page(2, size=2).to_list()
        assert [c.id for c in paged] == [board[2].id, board[5].id]

    async def test_where_update_changes_the_matches(self, bound):
        board = await _stored_board_in(bound)

        changed = await Chore.where(Chore.priority <= 2).update(Chore.priority.inc(1), note="up")

        assert changed == 2
        stored = await bound.get(board[1].id)
        assert (stored.priority, stored.note, stored.version) == (3, "up", 2)

    async def test_insert_many_inserts_through_the_bound_repository(self, bound):
        chores = await Chore.insert_many([Chore(title="One"), Chore(title="Two")])

        assert [c.version for c in chores] == [1, 1]
        assert await bound.find(Query(Chore)) == chores

    async def test_delete_removes_the_object_at_its_version(self, bound):
        chore = await Chore(title="Doomed").save()

        await chore.delete()

        assert await bound.count() == 0

    async def test_deleting_a_stale_object_raises_concurrency_conflict(self, bound):
        chore = await Chore(title="Shared").save()
        await bound.update_one(chore.id, [Chore.note.set("changed")])

        with pytest.raises(ConcurrencyConflict):
            await chore.delete()

        assert await bound.count() == 1


async def _stored_board_in(repo: Repository[Chore]) -> list[Chore]:
    chores = _board()
    for chore in chores:
        await repo.insert(chore)
    return chores


WRITERS = 20


def _change(chore: Chore, writer: int) -> None:
    """Writer ``writer``'s own change: a different field or value for each."""
    match writer % 4:
        case 0:
            chore.title = f"Title by writer {writer}"
        case 1:
            chore.tags = [f"writer-{writer}"]
        case 2:
            chore.estimate = float(writer)
        case _:
            chore.note = f"Note by writer {writer}"


class ConcurrentSaveContract(_Contract):
    async def test_of_concurrent_saves_of_one_version_exactly_one_wins(self, backend):
        repo = backend.repository(Chore)
        original = await repo.insert(Chore(title="Contended", tags=["start"]))
        baseline = await repo.get(original.id)
        copies = [await repo.get(original.id) for _ in range(WRITERS)]
        for writer, copy in enumerate(copies):
            _change(copy, writer)

        results = await asyncio.gather(
            *(backend.repository(Chore).save(copy) for copy in copies), return_exceptions=True
        )

        winners = [writer for writer, result in enumerate(results) if result is copies[writer]]
        conflicts = [result for result in results if isinstance(result, ConcurrencyConflict)]
        assert len(winners) == 1, results
        assert len(conflicts) == WRITERS - 1, results
        assert {(c.key, c.expected, c.current) for c in conflicts} == {(original.id, 1, 2)}
        [winner] = winners
        stored = await repo.get(original.id)
        assert stored.version == 2
        assert stored == copies[winner]
        _change(baseline, winner)
        object.__setattr__(baseline, "version", 2)
        object.__setattr__(baseline, "updated", stored.updated)
        assert stored == baseline
        assert stored.inserted == original.inserted
        assert [c.version for w, c in enumerate(copies) if w != winner] == [1] * (WRITERS - 1)


def _articles() -> list[Article]:
    return [
        Article(
            title="Parser fixes land",
            body="The new parser handles édition and unicode text",
            scores=[1, 7],
            lines=[Line(sku="ABC-001", quantity=2, price=Decimal("1.50"))],
        ),
        Article(
            title="Release notes",
            body="Fixes for the login page and the parser",
            section="blog",
            scores=[4],
            lines=[
                Line(sku="ABC-001", quantity=9, price=Decimal("3.00")),
                Line(sku="XYZ-002", quantity=1, price=Decimal("9.99")),
            ],
        ),
        Article(title="Quarterly numbers", body="Revenue and costs", scores=[]),
        Article(
            title="Login outage report",
            body="What broke the login page, and the fix",
            section="blog",
            scores=[2, 3],
        ),
    ]


async def _stored_articles(backend: Backend) -> tuple[Repository[Article], list[Article]]:
    repo = backend.repository(Article)
    await repo.sync()
    articles = _articles()
    await repo.insert_many(articles)
    return repo, articles


def _titles(found: Sequence[Article]) -> list[str]:
    return [a.title for a in found]


class SearchContract(_Contract):
    """Full-text search over text-indexed fields and list conditions on embedded documents."""

    @pytest.mark.parametrize(
        ("words", "expected"),
        [
            ("parser", ["Parser fixes land", "Release notes"]),
            ("PARSER outage", ["Parser fixes land", "Release notes", "Login outage report"]),
            ("edition", ["Parser fixes land"]),
            ('"login page"', ["Release notes", "Login outage report"]),
            ('"page login"', []),
            ("login -outage", ["Release notes"]),
            ("nothing-like-it", []),
        ],
        ids=[
            "word",
            "any-word-any-case",
            "diacritics",
            "phrase",
            "phrase-order",
            "negation",
            "none",
        ],
    )
    async def test_a_text_search_finds_the_documents_with_the_words(self, backend, words, expected):
        repo, _ = await _stored_articles(backend)

        found = await repo.find(Query(Article).search(words))

        assert sorted(_titles(found)) == sorted(expected)

    async def test_a_text_search_combines_with_conditions_and_order(self, backend):
        repo, _ = await _stored_articles(backend)
        query = (
            Query(Article)
            .search("login parser")
            .where(Article.section == "blog")
            .sort(Article.title.desc())
        )

        assert _titles(await repo.find(query)) == ["Release notes", "Login outage report"]

    async def test_a_text_search_is_counted(self, backend):
        if not await backend.counts_text_searches():
            pytest.skip("this server cannot count $text queries (MongoDB itself can)")
        repo, _ = await _stored_articles(backend)

        query = Query(Article).search("login").where(Article.section == "blog")
        assert await repo.count(query.filter) == 2

    async def test_a_model_without_a_text_index_cannot_be_searched(self):
        with pytest.raises(ValidationError) as raised:
            Query(Chore).search("fix")

        assert raised.value.errors[0].code == "invalid_query"

    def test_a_text_search_cannot_be_negated_or_one_branch_of_an_or(self):
        search = Query(Article).search("x").filter
        with pytest.raises(TypeError):
            _ = ~search
        with pytest.raises(TypeError):
            _ = search | (Article.section == "blog")

    async def test_elem_match_needs_one_element_to_meet_every_condition(self, backend):
        repo, _ = await _stored_articles(backend)
        same_line = Article.lines.elem_match(
            lambda line: (line.sku == "ABC-001") & (line.quantity > 5)
        )
        any_lines = Article.lines.contains(Line(sku="XYZ-002", quantity=1, price=Decimal("9.99")))

        assert _titles(await repo.find(Query(Article).where(same_line))) == ["Release notes"]
        assert _titles(await repo.find(Query(Article).where(any_lines))) == ["Release notes"]

    async def test_elem_match_on_plain_items_needs_one_item_in_range(self, backend):
        repo, _ = await _stored_articles(backend)
        in_range = Article.scores.elem_match(lambda s: (s > 2) & (s < 6))

        found = await repo.find(Query(Article).where(in_range).sort(Article.title.asc()))

        assert _titles(found) == ["Login outage report", "Release notes"]
        assert await repo.count(in_range) == 2


class AggregateContract(_Contract):
    async def test_a_pipeline_groups_and_sorts(self, backend):
        repo, _ = await _stored_articles(backend)
        pipeline = Pipeline(
            (
                RawStage("$group", {"_id": "$section", "n": {"$sum": 1}}),
                RawStage("$sort", {"_id": 1}),
            )
        )

        assert await repo.aggregate(pipeline) == [{"_id": "blog", "n": 2}, {"_id": "news", "n": 2}]

    async def test_match_stages_are_query_expressions(self, backend):
        repo, _ = await _stored_articles(backend)
        pipeline = Pipeline(
            (
                Match(Article.section == "blog"),
                RawStage("$unwind", "$scores"),
                RawStage("$group", {"_id": None, "total": {"$sum": "$scores"}}),
            )
        )

        assert await repo.aggregate(pipeline) == [{"_id": None, "total": 9}]

    async def test_excluded_fields_never_reach_a_stage(self, backend):
        repo, _ = await _stored_articles(backend)
        pipeline = Pipeline(
            (
                RawStage("$addFields", {"leak": "$secret"}),
                RawStage("$group", {"_id": None, "all": {"$push": "$$ROOT"}}),
            )
        )

        (result,) = await repo.aggregate(pipeline)

        assert len(result["all"]) == 4
        assert all("secret" not in doc and "leak" not in doc for doc in result["all"])
        assert "hunter22" not in repr(result)

    async def test_predefined_filters_and_the_where_restriction_run_first(self, backend):
        memos = backend.repository(Memo)
        await memos.insert(Memo(body="live"))
        await memos.insert(Memo(body="other"))
        await memos.insert(Memo(body="hidden", deleted=True))
        count = Pipeline((RawStage("$count", "n"),))

        assert await memos.aggregate(count) == [{"n": 2}]
        assert await memos.aggregate(count, where=Memo.body == "other") == [{"n": 1}]
        assert await memos.aggregate(count, unfiltered=True) == [{"n": 3}]

    async def test_results_are_capped(self, backend):
        repo, _ = await _stored_articles(backend)
        pipeline = Pipeline((RawStage("$sort", {"title": 1}), RawStage("$project", {"title": 1})))

        found = await repo.aggregate(pipeline, max_results=2)

        assert [d["title"] for d in found] == ["Login outage report", "Parser fixes land"]

    async def test_values_come_back_as_python_values(self, backend):
        repo, articles = await _stored_articles(backend)
        pipeline = Pipeline(
            (
                Match(Article.id == articles[1].id),
                RawStage("$project", {"inserted": 1, "price": {"$first": "$lines.price"}}),
            )
        )

        (result,) = await repo.aggregate(pipeline)

        assert result["_id"] == articles[1].id
        assert result["inserted"] == articles[1].inserted
        assert is_utc(result["inserted"])
        assert result["price"] == Decimal("3.00")

    async def test_bucket_auto_splits_the_sorted_documents_evenly(self, backend):
        repo = backend.repository(Chore)
        await repo.insert_many(
            [Chore(title=f"c{i}", priority=p) for i, p in enumerate([4, 1, 3, 2, 5, 1])]
        )
        pipeline = Pipeline(
            (
                RawStage(
                    "$bucketAuto",
                    {
                        "groupBy": "$priority",
                        "buckets": 2,
                        "output": {"n": {"$sum": 1}, "top": {"$max": "$priority"}},
                    },
                ),
            )
        )

        assert await repo.aggregate(pipeline) == [
            {"_id": {"min": 1, "max": 3}, "n": 3, "top": 2},
            {"_id": {"min": 3, "max": 5}, "n": 3, "top": 5},
        ]

    async def test_a_pipeline_the_store_refuses_raises_invalid_aggregation(self, backend):
        repo, _ = await _stored_articles(backend)

        with pytest.raises(InvalidAggregation):
            await repo.aggregate(Pipeline((RawStage("$group", {"n": {"$sum": 1}}),)))


REPOSITORY_CONTRACTS: tuple[type, ...] = (
    PortsContract,
    InsertContract,
    RoundTripContract,
    FindContract,
    SortAndPageContract,
    ProjectionContract,
    SaveContract,
    DeleteContract,
    UpdateContract,
    InsertManyContract,
    PredefinedFilterContract,
    IndexContract,
    UnitOfWorkContract,
    ActiveRecordContract,
    SearchContract,
    AggregateContract,
)
"""Every contract of the repository and unit-of-work ports."""

CONCURRENCY_CONTRACTS: tuple[type, ...] = (ConcurrentSaveContract,)
"""Concurrent writers on one document."""


def uncovered(namespace: Mapping[str, Any], contracts: Sequence[type]) -> list[str]:
    """The names of ``contracts`` that no ``Test*`` class in ``namespace`` runs."""
    running = {
        base
        for name, value in namespace.items()
        if name.startswith("Test") and isinstance(value, type)
        for base in value.__mro__
    }
    return [c.__name__ for c in contracts if c not in running]
