"""The start/stop life of a background worker: one asyncio task running its ``follow`` loop."""

import asyncio
import contextlib

__all__ = ("BackgroundWorker", "raise_if_stopping")


def raise_if_stopping() -> None:
    """Raise ``CancelledError`` when the running task has been asked to stop.

    Call it where a worker's loop catches ``Exception`` to log and retry. A
    library that turns a cancellation into an error of its own (a driver
    timing out the very wait it was cancelled in, say) would otherwise have
    the loop log that error and carry on, and the stop that cancelled it
    would wait for ever. ``Task.cancelling()`` still counts the request after
    the ``CancelledError`` itself was lost.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class BackgroundWorker:
    """Base of workers that follow a source until stopped (projections, relay, consumers).

    Subclasses implement :meth:`follow` and may name their task with
    :meth:`_task_name`; :meth:`start` and :meth:`stop` are the lifespan's
    handles. Stopping cancels the task: work in progress rolls back, as each
    worker's own ``stop`` documents.
    """

    _task: asyncio.Task[None] | None = None

    async def follow(self) -> None:
        """The worker's loop (runs until cancelled)."""
        raise NotImplementedError

    def _task_name(self) -> str:
        return f"hexkernel-{type(self).__name__}"

    async def start(self) -> None:
        """Run :meth:`follow` in the background (once; a second start is a no-op)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.follow(), name=self._task_name())

    async def stop(self) -> None:
        """Cancel the background task and wait for it to end."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
