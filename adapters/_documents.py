"""One implementation of the repository port for every document store.

:class:`DocumentRepository` holds everything a repository *means*: audit
fields, optimistic locking, predefined filters, projections and partial
objects, the tiebreak that makes paging deterministic, and the error
semantics of the port. What differs between stores is reduced to the small
:class:`Collection` driver protocol, implemented by the in-memory store and by
MongoDB. Both adapters therefore behave the same by construction, and the
shared contract suite checks the drivers.
"""

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar

import attrs

from hexkernel.core.errors import ConcurrencyConflict, NotFound, PartialDocument, ValidationError
from hexkernel.core.model import Kind, storage_value
from hexkernel.core.persistence import (
    Index,
    combined_filter,
    is_partial,
    mark_partial,
    model_indexes,
)
from hexkernel.core.ports.repository import IndexReport
from hexkernel.core.query import (
    Condition,
    Expr,
    FieldRef,
    Match,
    Op,
    Pipeline,
    Projection,
    Query,
    RawStage,
    SortKey,
    UpdateOp,
    find_near,
)
from hexkernel.core.writes import written

__all__ = ("Collection", "DocumentRepository", "StorageOp", "storage_value", "utcnow")

M = TypeVar("M")


def utcnow() -> dt.datetime:
    """The current time, UTC, millisecond precision (what documents store)."""
    now = dt.datetime.now(dt.UTC)
    return now.replace(microsecond=now.microsecond - now.microsecond % 1000)


def condition_value(condition: Condition) -> Any:
    """The storage form of a condition's operand."""
    node, value = condition.node, condition.value
    if condition.op in (Op.EXISTS, Op.SIZE):
        return value
    if condition.op is Op.CONTAINS and node.kind is not Kind.STR:
        return storage_value(node.item, value)
    if condition.op in (Op.IN, Op.NIN):
        return [storage_value(node, v) for v in value]
    return storage_value(node, value)


@attrs.frozen
class StorageOp:
    """An :class:`UpdateOp` with its operand in storage form and its storage path."""

    kind: str
    path: str
    value: Any


def _overlap(first: str, second: str) -> bool:
    """Whether two paths name the same value or one lies inside the other."""
    return first == second or first.startswith(f"{second}.") or second.startswith(f"{first}.")


class Collection(Protocol):
    """What a store must provide for :class:`DocumentRepository`.

    Filters arrive as DSL expressions (the driver translates or evaluates
    them; field paths are model paths, ``id`` meaning the document key), and
    documents in storage form. Drivers raise hexkernel errors only.
    """

    async def insert_one(self, document: dict[str, Any]) -> None:
        """Store a new document; ``DuplicateKey`` on a unique clash."""
        ...

    async def insert_many(self, documents: list[dict[str, Any]]) -> None:
        """Store documents in order, stopping at the first clash (``DuplicateKey.position``)."""
        ...

    async def find(
        self,
        where: Expr | None,
        order: tuple[SortKey, ...],
        skip: int,
        limit: int | None,
        fields: frozenset[str] | None,
    ) -> list[dict[str, Any]]:
        """Return matching documents in ``order`` (top-level ``fields`` only, when given)."""
        ...

    async def count(self, where: Expr | None) -> int:
        """Count matching documents."""
        ...

    async def aggregate(
        self,
        where: Expr | None,
        hidden: frozenset[str],
        stages: Sequence[Match | RawStage],
        limit: int | None,
        max_time_ms: int | None,
    ) -> list[dict[str, Any]]:
        """Run ``stages`` over the documents matching ``where``, without the ``hidden`` fields.

        Returns at most ``limit`` results as plain Python values;
        ``InvalidAggregation`` when the store refuses the pipeline,
        ``QueryTimeout`` past ``max_time_ms``.
        """
        ...

    async def replace(
        self, key: str, version: int, document: dict[str, Any], where: Expr | None
    ) -> bool:
        """Atomically replace the document with this key *and* version that matches ``where``."""
        ...

    async def update(
        self,
        where: Expr | None,
        ops: Sequence[StorageOp],
        extra: dict[str, Any],
        *,
        key: str | None = None,
        version: int | None = None,
    ) -> int:
        """Apply ``ops``, set ``extra`` and bump ``version`` on every match; return the count."""
        ...

    async def update_one(
        self,
        key: str,
        version: int | None,
        ops: Sequence[StorageOp],
        extra: dict[str, Any],
        where: Expr | None,
    ) -> dict[str, Any] | None:
        """As :meth:`update` for one document; return it as stored afterwards, or None."""
        ...

    async def delete(self, key: str, version: int | None, where: Expr | None) -> bool:
        """Delete the document with this key (and version, if given) matching ``where``."""
        ...

    async def version_of(self, key: str, where: Expr | None) -> int | None:
        """The stored version of a visible document, or None."""
        ...

    async def sync(self, indexes: Sequence[Index], schema: dict[str, Any]) -> IndexReport:
        """Create missing indexes and apply the document schema."""
        ...


class DocumentRepository(Generic[M]):
    """The repository port over any :class:`Collection` driver.

    Args:
        model: The Model class stored.
        collection: The store driver for the Model's collection.
        clock: Source of the audit timestamps (a seam for tests).
    """

    def __init__(
        self,
        model: type[M],
        collection: Collection,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        info = model.__model__  # type: ignore[attr-defined]
        if not info.document:
            raise TypeError(f"{model.__name__} is Embedded: only Models have repositories")
        self._model = model
        self._info = info
        self._codec = info.codec
        self._collection = collection
        self._clock = clock
        id_field = info.by_name["id"]
        self._id_ref = FieldRef("id", id_field.node, id_field)
        self._id_node = id_field.node

    @property
    def model(self) -> type[M]:
        """The Model class stored."""
        return self._model

    @property
    def collection(self) -> Collection:
        """The store driver (for adapter-specific tests and tools)."""
        return self._collection

    def with_options(self, **options: Any) -> "DocumentRepository[M]":
        """Return a repository on a driver rebuilt with ``options`` (a session, say)."""
        rebuild = getattr(self._collection, "with_options", None)
        if rebuild is None:
            raise TypeError(f"{type(self._collection).__name__} takes no options")
        return DocumentRepository(self._model, rebuild(**options), self._clock)

    # -------------------------------------------------------------- helpers
    def _where(self, where: Expr | None, unfiltered: bool) -> Expr | None:  # noqa: FBT001 - private
        return combined_filter(self._model, where, unfiltered=unfiltered)

    def _load(self, document: dict[str, Any], fields: frozenset[str] | None = None) -> M:
        if fields is None:
            return self._codec.from_storage(document)  # type: ignore[no-any-return]
        instance = self._codec.from_storage(document, partial=True)
        mark_partial(instance, fields)
        return instance  # type: ignore[no-any-return]

    def _fields(self, projection: Projection | None) -> frozenset[str] | None:
        if projection is None:
            return None
        return projection.fields(self._info.by_name)

    def _update_extra(self, now: dt.datetime) -> dict[str, Any]:
        extra: dict[str, Any] = {"updated": now}
        for field in self._info.update_generated:
            generator = field.spec.generator
            value = field.process(generator(self._model))
            extra[field.name] = storage_value(field.node, value)
        return extra

    def _storage_ops(self, changes: Sequence[UpdateOp]) -> list[StorageOp]:
        ops = []
        paths: list[str] = []
        for change in changes:
            clash = next((p for p in paths if _overlap(p, change.path)), None)
            if clash is not None:
                raise ValidationError.single(
                    change.path,
                    "conflicting_update",
                    f"is changed twice in one update (with {clash})",
                )
            paths.append(change.path)
            if change.path.split(".")[0] in ("id", "inserted", "updated", "version"):
                raise ValidationError.single(
                    change.path, "read_only", "is maintained by the store", self._model.__name__
                )
            node = change.node
            assert node is not None  # noqa: S101 - built by FieldRef, which always sets it
            if change.kind in ("push", "pull", "add_to_set"):
                value = storage_value(node.item, change.value)
            elif change.kind == "inc":
                value = storage_value(attrs.evolve(node, nullable=False), change.value)
            else:
                value = storage_value(node, change.value)
            ops.append(StorageOp(change.kind, change.path, value))
        return ops

    async def _missing_or_conflict(
        self, key: str, expected: int | None, where: Expr | None
    ) -> Exception:
        current = await self._collection.version_of(key, where)
        if current is None or expected is None:
            return NotFound(self._model.__name__, key)
        return ConcurrencyConflict(self._model.__name__, key, expected, current)

    # ---------------------------------------------------------------- reads
    async def get(
        self, key: str, *, projection: Projection | None = None, unfiltered: bool = False
    ) -> M:
        """Load one document by id (``NotFound`` if absent or hidden)."""
        fields = self._fields(projection)
        # A string key is what the id's check keeps as it is: the condition is built
        # directly; anything else goes through the check, which explains the refusal.
        by_id = (
            Condition("id", Op.EQ, key, self._id_node)
            if isinstance(key, str)
            else self._id_ref == key
        )
        where = self._where(by_id, unfiltered)
        found = await self._collection.find(where, (), 0, 1, fields)
        if not found:
            raise NotFound(self._model.__name__, key)
        return self._load(found[0], fields)

    async def find(self, query: Query[M], *, unfiltered: bool = False) -> list[M]:
        """Load the documents matching ``query``; ties in the order are broken by id."""
        order = query.order
        # $near orders by distance: an id sort would replace that order, not break its ties.
        if not any(key.path == "id" for key in order) and find_near(query.filter) is None:
            order = (*order, SortKey("id"))
        fields = self._fields(query.projection)
        documents = await self._collection.find(
            self._where(query.filter, unfiltered), order, query.skip, query.limit, fields
        )
        return [self._load(d, fields) for d in documents]

    async def read_fields(
        self, key: str, fields: frozenset[str], *, unfiltered: bool = False
    ) -> dict[str, Any] | None:
        """The stored values of top-level ``fields`` of one document; None if absent or hidden.

        A lean read for hot paths that need a value or two (the per-request
        user lookup of authentication): no query object, no Model, no partial
        object; values are in storage form, missing fields are absent.
        """
        if not isinstance(key, str):
            raise TypeError("a document key is a string")
        where = self._where(Condition("id", Op.EQ, key, self._id_node), unfiltered)
        found = await self._collection.find(where, (), 0, 1, fields)
        return found[0] if found else None

    async def count(self, where: Expr | None = None, *, unfiltered: bool = False) -> int:
        """Count matching documents."""
        return await self._collection.count(self._where(where, unfiltered))

    async def aggregate(
        self,
        pipeline: Pipeline,
        *,
        where: Expr | None = None,
        max_results: int | None = None,
        max_time_ms: int | None = None,
        unfiltered: bool = False,
    ) -> list[dict[str, Any]]:
        """Run a pipeline after the predefined filters and ``where``, without excluded fields."""
        return await self._collection.aggregate(
            self._where(where, unfiltered),
            _hidden_paths(self._info),
            pipeline.stages,
            max_results,
            max_time_ms,
        )

    # --------------------------------------------------------------- writes
    def _check_writable(self, item: M) -> None:
        if not isinstance(item, self._model):
            raise TypeError(f"expected a {self._model.__name__}, not {type(item).__name__}")
        if is_partial(item):
            raise PartialDocument(self._model.__name__, item.id)  # type: ignore[attr-defined]

    def _stamp_new(self, item: Any, now: dt.datetime) -> None:
        self._info.touch(item)
        setter = object.__setattr__
        setter(item, "inserted", now)
        setter(item, "updated", now)
        setter(item, "version", 1)

    @staticmethod
    def _unstamp(item: Any, inserted: Any, updated: Any, version: int) -> None:
        setter = object.__setattr__
        setter(item, "inserted", inserted)
        setter(item, "updated", updated)
        setter(item, "version", version)

    async def insert(self, item: M) -> M:
        """Store a new document; sets its audit fields (``DuplicateKey`` on a clash)."""
        self._check_writable(item)
        before = (item.inserted, item.updated, item.version)  # type: ignore[attr-defined]
        self._stamp_new(item, self._clock())
        try:
            await self._collection.insert_one(self._codec.to_storage(item))
        except BaseException:
            self._unstamp(item, *before)
            raise
        await written(self._model, (item.id,))  # type: ignore[attr-defined]
        return item

    async def insert_many(self, items: Sequence[M]) -> list[M]:
        """Store several new documents; a clash stops the batch at its position."""
        items = list(items)
        for item in items:
            self._check_writable(item)
        now = self._clock()
        befores = [(i.inserted, i.updated, i.version) for i in items]  # type: ignore[attr-defined]
        documents = []
        for item in items:
            self._stamp_new(item, now)
            documents.append(self._codec.to_storage(item))
        try:
            await self._collection.insert_many(documents)
        except BaseException as exc:
            start = getattr(exc, "position", None) or 0
            for item, before in zip(items[start:], befores[start:], strict=True):
                self._unstamp(item, *before)
            raise
        await written(self._model, tuple(i.id for i in items))  # type: ignore[attr-defined]
        return items

    async def save(self, item: M) -> M:
        """Replace the stored document if it is still at ``item.version``; bump the version."""
        self._check_writable(item)
        key, expected = item.id, item.version  # type: ignore[attr-defined]
        if expected == 0:
            raise NotFound(self._model.__name__, key)
        before = (item.inserted, item.updated, expected)  # type: ignore[attr-defined]
        self._info.touch(item)
        setter = object.__setattr__
        setter(item, "updated", self._clock())
        setter(item, "version", expected + 1)
        where = self._where(None, unfiltered=False)
        try:
            replaced = await self._collection.replace(
                key, expected, self._codec.to_storage(item), where
            )
        except BaseException:
            self._unstamp(item, *before)
            raise
        finally:
            # Also when the outcome is unknown (a timeout): a spare eviction costs a read.
            await written(self._model, (key,))
        if not replaced:
            self._unstamp(item, *before)
            raise await self._missing_or_conflict(key, expected, where)
        return item

    async def delete(
        self, key: str, *, expected_version: int | None = None, unfiltered: bool = False
    ) -> None:
        """Delete one document, optionally only at ``expected_version``."""
        where = self._where(None, unfiltered)
        try:
            deleted = await self._collection.delete(key, expected_version, where)
        finally:
            await written(self._model, (key,))
        if not deleted:
            raise await self._missing_or_conflict(key, expected_version, where)

    async def update(
        self, where: Expr | None, changes: Sequence[UpdateOp], *, unfiltered: bool = False
    ) -> int:
        """Apply atomic field updates to every match; return how many changed.

        Each document changes atomically; the set does not (as MongoDB's
        ``updateMany``): when one document cannot be changed, those before it
        stay changed. Use a unit of work for all or nothing.
        """
        ops = self._storage_ops(changes)
        try:
            return await self._collection.update(
                self._where(where, unfiltered), ops, self._update_extra(self._clock())
            )
        finally:
            await written(self._model, None)  # which documents changed is not known

    async def update_one(
        self,
        key: str,
        changes: Sequence[UpdateOp],
        *,
        expected_version: int | None = None,
        unfiltered: bool = False,
    ) -> M:
        """Apply atomic field updates to one document and return it as stored afterwards."""
        ops = self._storage_ops(changes)
        where = self._where(None, unfiltered)
        try:
            document = await self._collection.update_one(
                key, expected_version, ops, self._update_extra(self._clock()), where
            )
        finally:
            await written(self._model, (key,))
        if document is None:
            raise await self._missing_or_conflict(key, expected_version, where)
        return self._load(document)

    async def sync(self) -> IndexReport:
        """Create missing indexes and apply the document schema."""
        return await self._collection.sync(model_indexes(self._model), self._model.bson_schema())  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._model.__name__} on {self._collection!r}>"


def _hidden_paths(info: Any, prefix: str = "", depth: int = 0) -> frozenset[str]:
    """Every excluded field's path, also inside embedded Models and lists of them."""
    paths: set[str] = set()
    for field in info.fields:
        path = f"{prefix}{field.name}"
        if field.exclude:
            paths.add(path)
            continue
        node = field.node
        if node.kind in (Kind.LIST, Kind.SET):
            node = node.item
        if node.kind is Kind.MODEL and depth < 8:  # noqa: PLR2004 - recursive Models end somewhere
            paths |= _hidden_paths(node.target.__model__, f"{path}.", depth + 1)
    return frozenset(paths)


def storage_path(path: str) -> str:
    """The document path of a model path (``id`` is ``_id``)."""
    return "_id" if path == "id" else path
