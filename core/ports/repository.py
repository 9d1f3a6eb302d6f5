"""The repository port: persistence of one Model's documents."""

from collections.abc import Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable

import attrs

from hexkernel.core.query import Expr, Pipeline, Projection, Query, UpdateOp

__all__ = ("FieldReader", "IndexReport", "Repository")

M = TypeVar("M")


@attrs.frozen
class IndexReport:
    """What a start-up synchronisation of indexes and schema found and did.

    Attributes:
        created: Names of the indexes created.
        differing: Indexes that exist with another definition (not changed:
            changing an index is a migration, decided by a human).
        extra: Indexes in the store that the Model does not declare (kept).
        schema_applied: Whether the store now validates documents with the
            Model's schema.
    """

    created: tuple[str, ...] = ()
    differing: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()
    schema_applied: bool = False


@runtime_checkable
class Repository(Protocol[M]):
    """Stores and loads the documents of one Model.

    Every read, count, update and delete applies the Model's predefined
    filters unless the call says ``unfiltered=True``. Writes maintain the audit
    fields: ``inserted`` and ``updated`` (UTC) and ``version`` (1 on insert, +1
    on every write). No driver exception escapes: adapters raise the hexkernel
    errors named below, and ``StoreUnavailable`` when the store cannot be
    reached.
    """

    @property
    def model(self) -> type[M]:
        """The Model class stored."""
        ...

    async def get(
        self, key: str, *, projection: Projection | None = None, unfiltered: bool = False
    ) -> M:
        """Load one document by id.

        Raises:
            NotFound: No document has this id (or a predefined filter hides it).
        """
        ...

    async def find(self, query: Query[M], *, unfiltered: bool = False) -> list[M]:
        """Load the documents matching ``query``, in its order and window.

        Documents loaded with a projection are *partial*: saving one raises
        ``PartialDocument``.
        """
        ...

    async def count(self, where: Expr | None = None, *, unfiltered: bool = False) -> int:
        """Count the documents matching ``where``."""
        ...

    async def aggregate(
        self,
        pipeline: Pipeline,
        *,
        where: Expr | None = None,
        max_results: int | None = None,
        max_time_ms: int | None = None,
        unfiltered: bool = False,
    ) -> list[dict[str, Any]]:
        """Run an aggregation pipeline over the documents matching ``where``.

        The predefined filters and ``where`` (a caller's row-level restriction,
        say) run before the first stage, and excluded fields are removed
        before it, so no stage can see a hidden row or field. Results are
        plain values (``Decimal``, UTC datetimes), at most ``max_results`` of
        them.

        Raises:
            InvalidAggregation: The store refused the pipeline.
            QueryTimeout: It ran longer than ``max_time_ms``.
        """
        ...

    async def insert(self, item: M) -> M:
        """Store a new document; sets its audit fields (``version`` becomes 1).

        Raises:
            DuplicateKey: A unique index already holds one of its values.
        """
        ...

    async def insert_many(self, items: Sequence[M]) -> list[M]:
        """Store several new documents in one round trip; a unique clash stops the batch.

        Raises:
            DuplicateKey: Naming the fields of the violated index and the
                position of the first offending item.
        """
        ...

    async def save(self, item: M) -> M:
        """Replace a stored document if it is still at ``item.version``; bumps the version.

        The version check and the write are one atomic operation.

        Raises:
            ConcurrencyConflict: Another write came first (naming the current version).
            NotFound: The document does not exist (or is hidden).
            PartialDocument: ``item`` was loaded with a projection.
            DuplicateKey: A unique index rejects the new values.
        """
        ...

    async def delete(
        self, key: str, *, expected_version: int | None = None, unfiltered: bool = False
    ) -> None:
        """Delete one document, optionally only if it is at ``expected_version``.

        Raises:
            NotFound: No such document.
            ConcurrencyConflict: It is at another version.
        """
        ...

    async def update(
        self, where: Expr | None, changes: Sequence[UpdateOp], *, unfiltered: bool = False
    ) -> int:
        """Apply atomic field updates to every matching document; return how many changed.

        Each changed document gets ``version`` + 1 and a new ``updated``, in
        the same atomic operation (never a read-modify-write).
        """
        ...

    async def update_one(
        self,
        key: str,
        changes: Sequence[UpdateOp],
        *,
        expected_version: int | None = None,
        unfiltered: bool = False,
    ) -> M:
        """Apply atomic field updates to one document and return it as stored afterwards.

        Raises:
            NotFound: No such document.
            ConcurrencyConflict: It is not at ``expected_version``.
        """
        ...

    async def sync(self) -> IndexReport:
        """Create missing indexes and apply the document schema (at start-up)."""
        ...

    def with_options(self, **options: Any) -> "Repository[M]":
        """Return a repository bound to the same store with adapter options (a session, say)."""
        ...


@runtime_checkable
class FieldReader(Protocol):
    """A repository that can read a few stored values of one document without building a Model.

    Optional: code on a hot path (the per-request user lookup) uses it when
    the repository offers it and falls back to :meth:`Repository.get` with a
    projection otherwise.
    """

    async def read_fields(
        self, key: str, fields: frozenset[str], *, unfiltered: bool = False
    ) -> dict[str, Any] | None:
        """The stored values of top-level ``fields`` of document ``key``.

        Returns:
            The values in storage form by field name (missing fields absent),
            or ``None`` when no such document exists or a predefined filter
            hides it.
        """
        ...
