"""The MongoDB driver of the shared document repository, over pymongo's async API.

Query expressions become MongoDB filters here; every write that depends on a
version carries the version in its filter, so the check and the write are one
atomic server operation.
"""

import datetime as dt
import logging
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from bson.decimal128 import Decimal128
from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import ExecutionTimeout, OperationFailure

from hexkernel.adapters._documents import StorageOp, storage_path
from hexkernel.adapters._mongo_syntax import (
    and_filters,
    geo_near_stage,
    mongo_filter,
    mongo_update,
)
from hexkernel.adapters.mongo.errors import translated
from hexkernel.core.errors import InvalidAggregation, QueryTimeout
from hexkernel.core.persistence import Index
from hexkernel.core.ports.repository import IndexReport
from hexkernel.core.query import Expr, Match, RawStage, SortKey, find_near

__all__ = ("MongoCollection", "mongo_filter", "mongo_update")

log = logging.getLogger("hexkernel.mongo")

_COMMAND_NOT_FOUND = 59


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
        return and_filters(own, mongo_filter(where))

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
        near = find_near(where)
        with translated(self._model):
            if near is not None:  # countDocuments refuses $near: $geoNear counts the same
                assert where is not None  # noqa: S101 - a near condition is part of it
                pipeline = [geo_near_stage(where, near), {"$count": "n"}]
                cursor = await self._collection.aggregate(pipeline, session=self._session)
                counted = await cursor.to_list(None)
                return int(counted[0]["n"]) if counted else 0
            return await self._collection.count_documents(
                mongo_filter(where), session=self._session
            )

    async def aggregate(
        self,
        where: Expr | None,
        hidden: frozenset[str],
        stages: Sequence[Match | RawStage],
        limit: int | None,
        max_time_ms: int | None,
    ) -> list[dict[str, Any]]:
        """Run a pipeline after ``where`` and with the ``hidden`` fields removed."""
        pipeline: list[dict[str, Any]] = []
        if where is not None:
            pipeline.append({"$match": mongo_filter(where)})
        if hidden:
            pipeline.append({"$project": {storage_path(name): 0 for name in sorted(hidden)}})
        pipeline.extend(_stage_document(stage) for stage in stages)
        if limit is not None:
            pipeline.append({"$limit": limit})
        options: dict[str, Any] = {}
        if max_time_ms is not None:
            options["maxTimeMS"] = max_time_ms
        with translated(self._model):
            try:
                cursor = await self._collection.aggregate(
                    pipeline, session=self._session, **options
                )
                documents = await cursor.to_list(None)
            except ExecutionTimeout as exc:
                raise QueryTimeout(self._model, max_time_ms) from exc
            except OperationFailure as exc:
                # The pipeline comes from the caller: the server's refusal is theirs to fix.
                message = str((exc.details or {}).get("errmsg") or "the server refused it")
                raise InvalidAggregation(message) from exc
        return [_plain(document) for document in documents]

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


def _stage_document(stage: Any) -> dict[str, Any]:
    """A pipeline stage as MongoDB takes it; ``$facet`` pipelines may hold stage values too."""
    if isinstance(stage, Match):
        return {"$match": mongo_filter(stage.filter)}
    if isinstance(stage, RawStage):
        if stage.name == "$facet" and isinstance(stage.spec, dict):
            return {
                "$facet": {
                    name: [_stage_document(s) for s in pipeline]
                    for name, pipeline in stage.spec.items()
                }
            }
        return {stage.name: stage.spec}
    return dict(stage)


def _plain(value: Any) -> Any:
    """Driver values as plain Python: ``Decimal128`` as ``Decimal``, datetimes in UTC."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, Decimal128):
        return Decimal(str(value.to_decimal()))
    if isinstance(value, dt.datetime):
        if value.utcoffset() in (None, dt.timedelta(0)):
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)
    return value
