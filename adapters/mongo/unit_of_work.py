"""Multi-document transactions on MongoDB through a client session.

A standalone server cannot run them: the first operation then fails with
``IllegalOperation`` (code 20), which surfaces as ``TransactionsUnsupported``,
so nothing is ever written outside the transaction that was asked for.
``MongoUnitOfWorkFactory.run`` retries the whole unit on errors labelled
``TransientTransactionError`` and the commit on
``UnknownTransactionCommitResult``, as MongoDB's documentation prescribes,
with tenacity.
"""

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import tenacity
from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure, PyMongoError

from hexkernel.adapters._documents import DocumentRepository
from hexkernel.adapters._unit_of_work import UnitOfWorkBase, run_with_retries
from hexkernel.adapters.mongo.collection import MongoCollection
from hexkernel.adapters.mongo.errors import translated
from hexkernel.core.ports.repository import Repository
from hexkernel.core.ports.unit_of_work import UnitOfWork

__all__ = ("MongoUnitOfWork", "MongoUnitOfWorkFactory", "forget_session", "is_transient")

M = TypeVar("M")
R = TypeVar("R")


def _has_label(exc: BaseException, label: str) -> bool:
    while exc is not None:
        if isinstance(exc, PyMongoError) and exc.has_error_label(label):
            return True
        exc = exc.__cause__  # type: ignore[assignment]
    return False


_WRITE_CONFLICT = 112


def is_transient(exc: BaseException) -> bool:
    """Whether a transaction that failed with ``exc`` may simply be run again.

    True for errors labelled ``TransientTransactionError``, for write conflicts
    (code 112, or a commit refused with "Write conflict", as servers without
    labels report it), and for hexkernel errors marked ``transient``; the chain
    of causes is searched, since adapters translate driver errors.
    """
    current: BaseException | None = exc
    while current is not None:
        if getattr(current, "transient", False):
            return True
        if isinstance(current, PyMongoError) and current.has_error_label(
            "TransientTransactionError"
        ):
            return True
        if isinstance(current, OperationFailure) and (
            current.code == _WRITE_CONFLICT or "write conflict" in str(current).lower()
        ):
            return True
        current = current.__cause__
    return False


def forget_session(session: AsyncClientSession) -> None:
    """Keep the server session of a failed commit out of the driver's pool.

    Some servers (the mongoeco test server among them) keep a transaction whose
    commit failed open on the server, and the next transaction started on the
    same pooled session id would continue it. A session marked dirty is
    discarded by the driver instead of reused; pymongo does the same after
    network errors. It uses the driver's private ``_server_session``, hence the
    guard.
    """
    server_session = getattr(session, "_server_session", None)
    mark_dirty = getattr(server_session, "mark_dirty", None)
    if callable(mark_dirty):
        mark_dirty()


class MongoUnitOfWork(UnitOfWorkBase):
    """One MongoDB transaction."""

    def __init__(
        self, client: AsyncMongoClient[Any], database: AsyncDatabase[Any], attempts: int = 3
    ) -> None:
        self._client = client
        self._database = database
        self._attempts = attempts
        self._session: AsyncClientSession | None = None
        self._repositories: dict[type[Any], Repository[Any]] = {}

    @property
    def session(self) -> AsyncClientSession:
        """The client session of the open transaction."""
        if self._session is None:
            raise RuntimeError("the unit of work is not open: use `async with`")
        return self._session

    def repository(self, model: type[M]) -> Repository[M]:
        """The repository of ``model`` inside this transaction."""
        repository = self._repositories.get(model)
        if repository is None:
            name = model.__name__
            raw = self._database[model.__model__.collection]  # type: ignore[attr-defined]
            repository = DocumentRepository(model, MongoCollection(raw, name, self.session))
            self._repositories[model] = repository
        return repository

    @property
    def open(self) -> bool:
        """Whether the transaction is still running."""
        return self._session is not None and self._session.in_transaction

    async def _begin(self) -> None:
        with translated("transaction"):
            self._session = self._client.start_session()
            await self._session.start_transaction()

    async def _end(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.end_session()

    async def commit(self) -> None:
        """Commit, retrying while the outcome of the commit is unknown."""
        session = self.session
        async for attempt in tenacity.AsyncRetrying(
            retry=tenacity.retry_if_exception(
                lambda e: _has_label(e, "UnknownTransactionCommitResult")
            ),
            stop=tenacity.stop_after_attempt(self._attempts),
            reraise=True,
        ):
            with attempt, translated("transaction"):
                try:
                    await session.commit_transaction()
                except PyMongoError:
                    forget_session(session)
                    raise

    async def rollback(self) -> None:
        """Abort the transaction."""
        with translated("transaction"):
            await self.session.abort_transaction()


class MongoUnitOfWorkFactory:
    """Opens :class:`MongoUnitOfWork` objects on one database.

    Args:
        client: The client (sessions belong to it).
        database: The database the repositories use.
        attempts: How many times :meth:`run` tries a transaction with transient errors.
    """

    def __init__(
        self, client: AsyncMongoClient[Any], database: AsyncDatabase[Any], attempts: int = 5
    ) -> None:
        self._client = client
        self._database = database
        self._attempts = attempts

    def __call__(self) -> UnitOfWork:
        """A new unit of work."""
        return MongoUnitOfWork(self._client, self._database)

    async def run(self, work: Callable[[UnitOfWork], Awaitable[R]]) -> R:
        """Run ``work`` in a transaction, again from the start on a transient transaction error."""
        return await run_with_retries(
            self,
            work,
            transient=is_transient,
            attempts=self._attempts,
        )
