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
from pymongo.errors import PyMongoError

from hexkernel.adapters._documents import DocumentRepository
from hexkernel.adapters._unit_of_work import UnitOfWorkBase, run_with_retries
from hexkernel.adapters.mongo.collection import MongoCollection
from hexkernel.adapters.mongo.errors import translated
from hexkernel.core.ports.repository import Repository
from hexkernel.core.ports.unit_of_work import UnitOfWork

__all__ = ("MongoUnitOfWork", "MongoUnitOfWorkFactory")

M = TypeVar("M")
R = TypeVar("R")


def _has_label(exc: BaseException, label: str) -> bool:
    while exc is not None:
        if isinstance(exc, PyMongoError) and exc.has_error_label(label):
            return True
        exc = exc.__cause__  # type: ignore[assignment]
    return False


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
                await session.commit_transaction()

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
            transient=lambda e: _has_label(e, "TransientTransactionError"),
            attempts=self._attempts,
        )
