"""The MongoDB driver of the shared document repository, over pymongo's async API.

Query expressions become MongoDB filters here; every write that depends on a
version carries the version in its filter, so the check and the write are one
atomic server operation.
"""

import logging
import re
from collections.abc import Sequence
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import OperationFailure

from hexkernel.adapters._documents import StorageOp, condition_value, storage_path
from hexkernel.adapters.mongo.errors import translated
from hexkernel.core.model import Kind
from hexkernel.core.persistence import Index
from hexkernel.core.ports.repository import IndexReport
from hexkernel.core.query import And, Condition, Expr, Not, Op, Or, SortKey

__all__ = ("MongoCollection", "mongo_filter", "mongo_update")

log = logging.getLogger("hexkernel.mongo")

_COMMAND_NOT_FOUND = 59

_COMPARISONS = {Op.NE: "$ne", Op.GT: "$gt", Op.GTE: "$gte", Op.LT: "$lt", Op.LTE: "$lte"}


def _condition(condition: Condition) -> dict[str, Any]:
    path = storage_path(condition.path)
    value = condition_value(condition)
    op = condition.op
    if op is Op.EQ:
        return {path: {"$eq": value}}
    if op in (Op.LT, Op.LTE):
        # MongoDB never matches null with $lt/$lte (different BSON types); saying
        # so explicitly costs nothing and keeps servers that order null first honest.
        return {path: {_COMPARISONS[op]: value, "$ne": None}}
    if op in _COMPARISONS:
        return {path: {_COMPARISONS[op]: value}}
    if op is Op.IN:
        return {path: {"$in": value}}
    if op is Op.NIN:
        return {path: {"$nin": value}}
    if op is Op.CONTAINS and condition.node.kind is Kind.STR:
        # Escaped: the operand is literal text, never a pattern.
        return {path: {"$regex": re.escape(value), "$options": "i"}}
    if op is Op.CONTAINS:
        return {path: {"$elemMatch": {"$eq": value}}}
    if op is Op.STARTSWITH:
        return {path: {"$regex": f"^{re.escape(value)}"}}
    if op is Op.EXISTS:
        return {path: {"$ne": None}} if value else {path: {"$eq": None}}
    raise ValueError(f"unsupported operator {op}")  # pragma: no cover - Op is closed


def mongo_filter(expr: Expr | None) -> dict[str, Any]:
    """Translate a query expression into a MongoDB filter document."""
    if expr is None:
        return {}
    if isinstance(expr, Condition):
        return _condition(expr)
    if isinstance(expr, And):
        return {"$and": [mongo_filter(e) for e in expr.items]}
    if isinstance(expr, Or):
        return {"$or": [mongo_filter(e) for e in expr.items]}
    if isinstance(expr, Not):
        return {"$nor": [mongo_filter(expr.operand)]}
    raise TypeError(f"not a query expression: {expr!r}")


def _and(*filters: dict[str, Any]) -> dict[str, Any]:
    parts = [f for f in filters if f]
    if not parts:
        return {}
    return parts[0] if len(parts) == 1 else {"$and": parts}


_UPDATE_OPERATORS = {
    "set": "$set",
    "inc": "$inc",
    "push": "$push",
    "pull": "$pull",
    "add_to_set": "$addToSet",
}


def mongo_update(ops: Sequence[StorageOp], extra: dict[str, Any]) -> dict[str, Any]:
    """Translate update operations into a MongoDB update document that also bumps ``version``."""
    update: dict[str, dict[str, Any]] = {"$set": dict(extra), "$inc": {"version": 1}}
    for op in ops:
        update.setdefault(_UPDATE_OPERATORS[op.kind], {})[op.path] = op.value
    return update


def _index_keys(index: Index) -> list[tuple[str, Any]]:
    return [(storage_path(path), direction) for path, direction in index.keys]


def _differs(current: dict[str, Any], keys: list[tuple[str, Any]], index: Index) -> bool:
    if index.keys[0][1] == "text":
        return False  # the server rewrites the keys of text indexes
    stored = [tuple(k) for k in current.get("key", [])]
    return stored != keys or bool(current.get("unique")) != index.unique


class MongoCollection:
    """The :class:`~hexkernel.adapters._documents.Collection` driver for one MongoDB collection.

    Args:
        collection: The pymongo collection.
        model: The Model's name, for error messages.
        session: A client session when running inside a transaction.
    """

    def __init__(
        self,
        collection: AsyncCollection[dict[str, Any]],
        model: str,
        session: AsyncClientSession | None = None,
    ) -> None:
        self._collection = collection
        self._model = model
        self._session = session

    def __repr__(self) -> str:
        return f"<MongoCollection {self._collection.full_name}>"

    def with_options(self, *, session: AsyncClientSession | None = None) -> "MongoCollection":
        """The same collection, bound to ``session``."""
        return MongoCollection(self._collection, self._model, session)

    @property
    def raw(self) -> AsyncCollection[dict[str, Any]]:
        """The pymongo collection (for tools and adapter-specific tests)."""
        return self._collection

    def _key_filter(self, key: str, version: int | None, where: Expr | None) -> dict[str, Any]:
        own: dict[str, Any] = {"_id": key}
        if version is not None:
            own["version"] = version
        return _and(own, mongo_filter(where))

    async def insert_one(self, document: dict[str, Any]) -> None:
        """Store a new document."""
        with translated(self._model):
            await self._collection.insert_one(document, session=self._session)

    async def insert_many(self, documents: list[dict[str, Any]]) -> None:
        """Store documents in order, stopping at the first clash."""
        if not documents:
            return
        with translated(self._model):
            await self._collection.insert_many(documents, ordered=True, session=self._session)

    async def find(
        self,
        where: Expr | None,
        order: tuple[SortKey, ...],
        skip: int,
        limit: int | None,
        fields: frozenset[str] | None,
    ) -> list[dict[str, Any]]:
        """Return matching documents, ordered and windowed."""
        if limit == 0:
            return []  # pymongo reads a limit of 0 as "no limit"
        projection = None if fields is None else {storage_path(f): 1 for f in fields} | {"_id": 1}
        sort = [(storage_path(k.path), -1 if k.descending else 1) for k in order] or None
        with translated(self._model):
            cursor = self._collection.find(
                mongo_filter(where),
                projection,
                skip=skip,
                limit=limit or 0,
                sort=sort,
                session=self._session,
            )
            return await cursor.to_list(None)

    async def count(self, where: Expr | None) -> int:
        """Count matching documents."""
        with translated(self._model):
            return await self._collection.count_documents(
                mongo_filter(where), session=self._session
            )

    async def replace(
        self, key: str, version: int, document: dict[str, Any], where: Expr | None
    ) -> bool:
        """Replace the document at this key and version (one atomic operation)."""
        with translated(self._model):
            result = await self._collection.replace_one(
                self._key_filter(key, version, where), document, session=self._session
            )
        return result.matched_count == 1

    async def update(
        self,
        where: Expr | None,
        ops: Sequence[StorageOp],
        extra: dict[str, Any],
        *,
        key: str | None = None,
        version: int | None = None,
    ) -> int:
        """Apply the operations to every match."""
        query = mongo_filter(where) if key is None else self._key_filter(key, version, where)
        with translated(self._model):
            result = await self._collection.update_many(
                query, mongo_update(ops, extra), session=self._session
            )
        return result.modified_count

    async def update_one(
        self,
        key: str,
        version: int | None,
        ops: Sequence[StorageOp],
        extra: dict[str, Any],
        where: Expr | None,
    ) -> dict[str, Any] | None:
        """Apply the operations to one document; return it afterwards."""
        with translated(self._model):
            return await self._collection.find_one_and_update(
                self._key_filter(key, version, where),
                mongo_update(ops, extra),
                return_document=ReturnDocument.AFTER,
                session=self._session,
            )

    async def delete(self, key: str, version: int | None, where: Expr | None) -> bool:
        """Delete the document at this key (and version)."""
        with translated(self._model):
            result = await self._collection.delete_one(
                self._key_filter(key, version, where), session=self._session
            )
        return result.deleted_count == 1

    async def version_of(self, key: str, where: Expr | None) -> int | None:
        """The version of a visible document."""
        with translated(self._model):
            found = await self._collection.find_one(
                self._key_filter(key, None, where), {"version": 1}, session=self._session
            )
        return None if found is None else int(found.get("version", 0))

    async def sync(self, indexes: Sequence[Index], schema: dict[str, Any]) -> IndexReport:
        """Apply the ``$jsonSchema`` validator, then create the missing indexes."""
        applied = await self._apply_schema(schema)
        with translated(self._model):
            existing = await self._collection.index_information()
            created, differing = [], []
            for index in indexes:
                name = index.resolved_name
                keys = _index_keys(index)
                current = existing.get(name)
                if current is None:
                    await self._collection.create_index(keys, name=name, unique=index.unique)
                    created.append(name)
                elif _differs(current, keys, index):
                    differing.append(name)
        declared = {i.resolved_name for i in indexes}
        extra = tuple(n for n in existing if n != "_id_" and n not in declared)
        return IndexReport(tuple(created), tuple(differing), extra, schema_applied=applied)

    async def _apply_schema(self, schema: dict[str, Any]) -> bool:
        """Create the collection with the validator, or install it with ``collMod``.

        Returns False when the server cannot change an existing collection's
        validator (no ``collMod``): the collection keeps the one it has.
        """
        database = self._collection.database
        name = self._collection.name
        validator = {"$jsonSchema": schema}
        with translated(self._model):
            exists = bool(await database.list_collection_names(filter={"name": name}))
            if not exists:
                await database.create_collection(
                    name, validator=validator, validationLevel="strict", check_exists=False
                )
                return True
            try:
                await database.command(
                    "collMod", name, validator=validator, validationLevel="strict"
                )
            except OperationFailure as exc:
                if exc.code == _COMMAND_NOT_FOUND or "unsupported" in str(exc).lower():
                    log.warning("%s: the server cannot replace the collection validator", name)
                    return False
                raise
        return True
