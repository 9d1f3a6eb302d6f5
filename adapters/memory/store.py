"""The in-memory document store: the embedded default and the fake for unit tests.

Documents are kept in storage form, as MongoDB would hold them, so the same
:class:`~hexkernel.adapters._documents.DocumentRepository` runs on both. A
stored document is never changed in place: every write puts a new dict in its
slot. That makes snapshots cheap (a shallow copy of the slots) and lets a
transaction tell, at commit, whether someone else changed a document it
touched.
"""

import copy
from collections.abc import Sequence
from typing import Any

from hexkernel.adapters._documents import StorageOp
from hexkernel.adapters.memory._aggregate import run_pipeline, without
from hexkernel.adapters.memory._evaluate import (
    apply_ops,
    compile_filter,
    near_distance,
    resolve,
    sort_documents,
)
from hexkernel.core.errors import DuplicateKey, ValidationError
from hexkernel.core.persistence import Index
from hexkernel.core.ports.repository import IndexReport
from hexkernel.core.query import Expr, Match, RawStage, SortKey, find_near

__all__ = ("InMemoryCollection", "InMemoryStore")


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    return value


class _Table:
    """The documents and indexes of one collection."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.documents: dict[str, dict[str, Any]] = {}
        self.indexes: dict[str, Index] = {}
        self.validated = False  # sync() turned on schema checks of updates, as MongoDB's validator

    def clone(self) -> "_Table":
        twin = _Table(self.name)
        twin.documents = dict(self.documents)
        twin.indexes = dict(self.indexes)
        twin.validated = self.validated
        return twin

    def check_unique(
        self, document: dict[str, Any], position: int | None = None, model: str | None = None
    ) -> None:
        """Raise DuplicateKey if ``document`` clashes with another on a unique index."""
        key = document["_id"]
        for index in self.indexes.values():
            if not index.unique:
                continue
            mine = tuple(_hashable(resolve(document, path)) for path in index.fields)
            for other_key, other in self.documents.items():
                if (
                    other_key != key
                    and tuple(_hashable(resolve(other, p)) for p in index.fields) == mine
                ):
                    raise DuplicateKey(
                        model or self.name, index.fields, index.resolved_name, position
                    )

    def put(
        self,
        document: dict[str, Any],
        *,
        new: bool,
        position: int | None = None,
        model: str | None = None,
    ) -> None:
        key = document["_id"]
        if new and key in self.documents:
            raise DuplicateKey(model or self.name, ("id",), "_id_", position)
        self.check_unique(document, position, model)
        self.documents[key] = document


class InMemoryStore:
    """A process-local set of collections; one per service, shared by its repositories."""

    def __init__(self) -> None:
        self._tables: dict[str, _Table] = {}

    def table(self, name: str) -> _Table:
        """The collection ``name``, created on first use."""
        table = self._tables.get(name)
        if table is None:
            table = self._tables[name] = _Table(name)
        return table

    def replace_table(self, table: _Table) -> None:
        """Install the content of ``table`` as the collection of its name (a committed transaction).

        The store's table object is kept and refilled, so repositories made
        before the commit see its writes.
        """
        current = self.table(table.name)
        current.documents = table.documents
        current.indexes = table.indexes
        current.validated = table.validated

    def collection_names(self) -> list[str]:
        """The names of the collections holding documents."""
        return [name for name, table in self._tables.items() if table.documents]

    def __repr__(self) -> str:
        return f"<InMemoryStore {len(self._tables)} collections>"


class InMemoryCollection:
    """The :class:`~hexkernel.adapters._documents.Collection` driver over a ``_Table``.

    Args:
        table: The collection's documents and indexes.
        model: The Model stored (named in errors; its rules check updates
            once ``sync`` ran, as MongoDB's schema validator does).
    """

    def __init__(self, table: _Table, model: type[Any]) -> None:
        self._table = table
        self._model = model
        self._name = model.__name__

    def __repr__(self) -> str:
        return f"<InMemoryCollection {self._table.name}>"

    def _visible(self, key: str, version: int | None, where: Expr | None) -> dict[str, Any] | None:
        document = self._table.documents.get(key)
        if document is None or not compile_filter(where)(document):
            return None
        if version is not None and document.get("version") != version:
            return None
        return document

    async def insert_one(self, document: dict[str, Any]) -> None:
        """Store a new document."""
        self._table.put(copy.deepcopy(document), new=True, model=self._name)

    async def insert_many(self, documents: list[dict[str, Any]]) -> None:
        """Store documents in order, stopping at the first clash."""
        for position, document in enumerate(documents):
            self._table.put(copy.deepcopy(document), new=True, position=position, model=self._name)

    async def find(
        self,
        where: Expr | None,
        order: tuple[SortKey, ...],
        skip: int,
        limit: int | None,
        fields: frozenset[str] | None,
    ) -> list[dict[str, Any]]:
        """Return matching documents, ordered and windowed."""
        matches = compile_filter(where)
        found = [d for d in self._table.documents.values() if matches(d)]
        near = find_near(where)
        if near is not None:  # nearest first, as $near returns them (ties by id)
            measure = near_distance(near)
            found.sort(key=lambda d: (measure(d), d["_id"]))
        sort_documents(found, order)
        end = None if limit is None else skip + limit
        window = found[skip:end]
        if fields is None:
            return [copy.deepcopy(d) for d in window]
        keys = {"_id" if f == "id" else f for f in fields}
        return [{k: copy.deepcopy(v) for k, v in d.items() if k in keys} for d in window]

    async def count(self, where: Expr | None) -> int:
        """Count matching documents."""
        matches = compile_filter(where)
        return sum(1 for d in self._table.documents.values() if matches(d))

    async def aggregate(
        self,
        where: Expr | None,
        hidden: frozenset[str],
        stages: Sequence[Match | RawStage],
        limit: int | None,
        max_time_ms: int | None,  # noqa: ARG002 - runs in-process; nothing to stop it from outside
    ) -> list[dict[str, Any]]:
        """Run a pipeline over the matching documents, without the ``hidden`` fields."""
        matches = compile_filter(where)
        documents = [without(d, hidden) for d in self._table.documents.values() if matches(d)]
        results = run_pipeline(documents, stages)
        return results if limit is None else results[:limit]

    async def replace(
        self, key: str, version: int, document: dict[str, Any], where: Expr | None
    ) -> bool:
        """Replace the document at this key and version."""
        if self._visible(key, version, where) is None:
            return False
        self._table.put(copy.deepcopy(document), new=False, model=self._name)
        return True

    def _apply(
        self, document: dict[str, Any], ops: Sequence[StorageOp], extra: dict[str, Any]
    ) -> dict[str, Any]:
        changed = copy.deepcopy(document)
        apply_ops(changed, ops, copy.deepcopy(extra))
        if self._table.validated:
            self._check_schema(changed)
        return changed

    def _check_schema(self, document: dict[str, Any]) -> None:
        """Refuse an updated document that breaks the Model's rules (MongoDB's validator does)."""
        info = self._model.__model__
        try:
            instance = info.codec.from_storage(document)
        except ValidationError:
            broken = True
        else:
            values = {
                f.name: getattr(instance, f.name) for f in info.fields if not f.has_final_converter
            }
            broken = bool(info.check_values(values))
        if broken:
            raise ValidationError.single(
                "", "schema_violation", "the database rejected the document", self._name
            )

    async def update(
        self,
        where: Expr | None,
        ops: Sequence[StorageOp],
        extra: dict[str, Any],
        *,
        key: str | None = None,
        version: int | None = None,
    ) -> int:
        """Apply the operations to each match in turn; a failure keeps earlier changes."""
        matches = compile_filter(where)
        targets = [
            d
            for d in self._table.documents.values()
            if matches(d)
            and (key is None or d["_id"] == key)
            and (version is None or d.get("version") == version)
        ]
        for document in targets:
            self._table.put(self._apply(document, ops, extra), new=False, model=self._name)
        return len(targets)

    async def update_one(
        self,
        key: str,
        version: int | None,
        ops: Sequence[StorageOp],
        extra: dict[str, Any],
        where: Expr | None,
    ) -> dict[str, Any] | None:
        """Apply the operations to one document; return it afterwards."""
        document = self._visible(key, version, where)
        if document is None:
            return None
        changed = self._apply(document, ops, extra)
        self._table.put(changed, new=False, model=self._name)
        return copy.deepcopy(changed)

    async def delete(self, key: str, version: int | None, where: Expr | None) -> bool:
        """Delete the document at this key (and version)."""
        if self._visible(key, version, where) is None:
            return False
        del self._table.documents[key]
        return True

    async def version_of(self, key: str, where: Expr | None) -> int | None:
        """The version of a visible document."""
        document = self._visible(key, None, where)
        return None if document is None else int(document.get("version", 0))

    async def sync(self, indexes: Sequence[Index], schema: dict[str, Any]) -> IndexReport:  # noqa: ARG002 - the Model's rules serve as the schema
        """Register the indexes (unique ones enforced from now on) and check updates from now on."""
        created, differing = [], []
        for index in indexes:
            name = index.resolved_name
            existing = self._table.indexes.get(name)
            if existing is None:
                for document in self._table.documents.values():
                    if index.unique:
                        probe = self._table.clone()
                        probe.indexes = {name: index}
                        probe.check_unique(document)
                self._table.indexes[name] = index
                created.append(name)
            elif existing != index:
                differing.append(name)
        declared = {i.resolved_name for i in indexes}
        extra = tuple(n for n in self._table.indexes if n not in declared)
        self._table.validated = True
        return IndexReport(tuple(created), tuple(differing), extra, schema_applied=True)
