"""Projections: read models kept up to date from the event store's global log.

A projection handles the events of the log in order and writes its read model
through the unit of work it is given. The runner reads a batch after the
projection's checkpoint and, in **one** unit of work, has the projection handle
it and moves the checkpoint past it. The read model and the checkpoint commit
together or not at all, so every event takes effect exactly once, however
often the runner crashes, restarts or retries. Two runners of the same
projection cannot both commit a batch either: the checkpoint is saved at the
version it was read at, and the second commit fails with
:class:`~hexkernel.core.errors.ConcurrencyConflict` and changes nothing.

A projection starts at position 0, so the first run *catches up* on the whole
history; :meth:`ProjectionRunner.rebuild` clears the read model and the
checkpoint in one unit of work and does the same again. :meth:`ProjectionRunner.follow`
then keeps up live, polling the log (change streams are not required of the
store), and :meth:`ProjectionRunner.start` / :meth:`ProjectionRunner.stop`
run it in the background for an application's lifespan.
"""

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from hexkernel.application._background import BackgroundWorker, raise_if_stopping
from hexkernel.core.errors import ConcurrencyConflict, DuplicateKey, NotFound
from hexkernel.core.model import Model
from hexkernel.core.ports.event_store import EventStore, StoredEvent
from hexkernel.core.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory

__all__ = ("Projection", "ProjectionCheckpoint", "ProjectionRunner")

log = logging.getLogger("hexkernel.projections")


class ProjectionCheckpoint(Model, prefix="prj", collection="hk_projection_checkpoints"):
    """How far a projection has got: its id is the projection's name."""

    position: int = 0


@runtime_checkable
class Projection(Protocol):
    """A read model maintained from events."""

    @property
    def name(self) -> str:
        """A stable name: the key of its checkpoint."""
        ...

    async def handle(self, event: StoredEvent, uow: UnitOfWork) -> None:
        """Apply one event to the read model, writing through ``uow`` only."""
        ...

    async def clear(self, uow: UnitOfWork) -> None:
        """Delete the whole read model (before a rebuild), through ``uow``."""
        ...


class ProjectionRunner(BackgroundWorker):
    """Feeds the global log to projections, each with its own checkpoint.

    Args:
        store: The event store whose log is followed.
        uow_factory: Opens the unit of work of each batch.
        projections: The projections to run.
        batch_size: How many events one unit of work handles at most.
        poll_interval: Seconds to wait when the log has nothing new.
    """

    def __init__(
        self,
        store: EventStore,
        uow_factory: UnitOfWorkFactory,
        projections: Sequence[Projection] = (),
        *,
        batch_size: int = 100,
        poll_interval: float = 0.1,
    ) -> None:
        self._store = store
        self._uow_factory = uow_factory
        self._projections = list(projections)
        self._batch = batch_size
        self._poll = poll_interval
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    @property
    def projections(self) -> tuple[Projection, ...]:
        """The projections run."""
        return tuple(self._projections)

    def add(self, projection: Projection) -> None:
        """Run ``projection`` too (before :meth:`start`)."""
        self._projections.append(projection)

    async def checkpoint(self, projection: Projection, *, uow: UnitOfWork | None = None) -> int:
        """The position of the last event ``projection`` has handled.

        Pass the ``uow`` the read model is read through to have the two agree:
        read the checkpoint first, then the rows, in that one unit of work. The
        rows then reflect at least every event up to the checkpoint (the same
        snapshot on MongoDB; later, never earlier, on a store without
        snapshots). Read on their own, a batch can commit in between, and a
        caller comparing the checkpoint with the log's last position would take
        rows read before the batch for rows that are up to date.
        """
        if uow is None:
            async with self._uow_factory() as own:
                return await self.checkpoint(projection, uow=own)
        try:
            found = await uow.repository(ProjectionCheckpoint).get(projection.name)
        except NotFound:
            return 0
        return found.position

    async def step(self, projection: Projection) -> int:
        """Handle the next batch of events in one unit of work; return how many there were.

        Returns 0 as well when another runner of the same projection committed
        the batch first (this unit then rolled back).
        """
        handled = await self._step(projection)
        return handled or 0

    async def _step(self, projection: Projection) -> int | None:
        """One batch; ``None`` when another runner won it."""

        async def work(uow: UnitOfWork) -> int:
            checkpoints = uow.repository(ProjectionCheckpoint)
            try:
                checkpoint = await checkpoints.get(projection.name)
            except NotFound:
                checkpoint = ProjectionCheckpoint(id=projection.name)
            batch = await self._store.read_all(
                after_position=checkpoint.position, limit=self._batch
            )
            for stored in batch:
                await projection.handle(stored, uow)
            if batch:
                checkpoint.position = batch[-1].position
                if checkpoint.version == 0:
                    await checkpoints.insert(checkpoint)
                else:
                    await checkpoints.save(checkpoint)
            return len(batch)

        try:
            return await self._uow_factory.run(work)
        except (ConcurrencyConflict, DuplicateKey):
            # The checkpoint moved (or was created) meanwhile: another runner
            # handled this batch, and this unit's writes were rolled back.
            return None

    async def catch_up(self, projection: Projection | None = None) -> int:
        """Handle batches until the log has nothing more; return how many events were handled."""
        total = 0
        for each in [projection] if projection is not None else self._projections:
            while True:
                handled = await self._step(each)
                if handled == 0:
                    break
                total += handled or 0
        return total

    async def rebuild(self, projection: Projection) -> int:
        """Clear the read model and the checkpoint together, then catch up from position 0."""

        async def reset(uow: UnitOfWork) -> None:
            await projection.clear(uow)
            checkpoints = uow.repository(ProjectionCheckpoint)
            with contextlib.suppress(NotFound):
                await checkpoints.delete(projection.name)

        await self._uow_factory.run(reset)
        return await self.catch_up(projection)

    def notify(self) -> None:
        """Tell :meth:`follow` that new events were committed (it polls anyway)."""
        self._wake.set()

    async def follow(self) -> None:
        """Catch up, then keep up with new events until cancelled.

        A failing batch is logged and tried again after a pause: the
        checkpoint did not move, so nothing is skipped.
        """
        pause = self._poll
        while True:
            try:
                handled = await self.catch_up()
            except Exception:
                raise_if_stopping()
                log.exception("a projection batch failed; trying again in %.2f s", pause)
                pause = min(pause * 2, 5.0)
                await asyncio.sleep(pause)
                continue
            pause = self._poll
            if not handled:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll)
                self._wake.clear()

    def _task_name(self) -> str:
        return "hexkernel-projections"

    async def stop(self) -> None:
        """Stop following (the current batch rolls back if it has not committed)."""
        await super().stop()
