"""Stopping a background worker ends it even when a library swallowed the cancellation.

A driver cancelled inside a wait of its own can answer with an error (a
timeout) instead of ``CancelledError``. Each worker's loop logs errors and
tries again; without a check of ``Task.cancelling()`` it would carry on for
ever, and the application's shutdown would hang on the worker's ``stop``.
Each test gives a worker a source that does exactly that, starts the worker,
waits until it is inside the source, and stops it under a deadline.
"""

import asyncio
from typing import Any

import pytest

from hexkernel.adapters.memory import InMemoryStore, InMemoryUnitOfWorkFactory
from hexkernel.adapters.memory.outbox import InMemoryInbox
from hexkernel.application import OutboxRelay, ProjectionRunner
from hexkernel.application.consumers import ConsumerRunner
from hexkernel.application.sagas import SagaCoordinator
from hexkernel.core.errors import StoreUnavailable

pytestmark = pytest.mark.anyio

STOP_WITHIN = 3.0


class SwallowsCancellation:
    """Any awaited method waits; cancelled, it raises an ordinary error instead."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.calls = 0
        self.swallowing = True

    async def _wait(self, *_: Any, **__: Any) -> Any:
        self.calls += 1
        self.entered.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            if not self.swallowing:
                raise
            raise StoreUnavailable("the server did not answer in time") from None

    def __getattr__(self, name: str) -> Any:
        return self._wait


async def stops_promptly(start: Any, stop: Any, source: SwallowsCancellation) -> None:
    await start()
    await asyncio.wait_for(source.entered.wait(), STOP_WITHIN)
    stopping = asyncio.create_task(stop())
    # Not wait_for: it would wait for a worker that never ends, and the test would hang.
    done, _ = await asyncio.wait({stopping}, timeout=STOP_WITHIN)
    if stopping not in done:
        source.swallowing = False  # let the next cancellation through, so the test ends
        stopping.cancel()
        pytest.fail("the worker went on after it was stopped")
    stopping.result()
    calls = source.calls
    await asyncio.sleep(0.3)
    assert source.calls == calls  # nothing runs on after the stop


async def test_the_projection_runner_stops():
    source = SwallowsCancellation()

    class Named:
        name = "p"

    runner = ProjectionRunner(source, source, [Named()], poll_interval=0.01)  # type: ignore[arg-type,list-item]
    await stops_promptly(runner.start, runner.stop, source)


async def test_the_outbox_relay_stops():
    source = SwallowsCancellation()
    relay = OutboxRelay(source, source, poll_interval=0.01)  # type: ignore[arg-type]
    await stops_promptly(relay.start, relay.stop, source)


async def test_the_consumer_runner_stops():
    source = SwallowsCancellation()
    runner = ConsumerRunner(
        source,  # type: ignore[arg-type]
        InMemoryUnitOfWorkFactory(InMemoryStore()),
        InMemoryInbox(InMemoryStore()),
        group="g",
        topics=["t"],
        handlers={},
    )
    await stops_promptly(runner.start, runner.stop, source)


async def test_the_saga_coordinator_stops():
    source = SwallowsCancellation()
    coordinator = SagaCoordinator(source, poll_interval=0.01)  # type: ignore[arg-type]
    await stops_promptly(coordinator.start_background, coordinator.stop_background, source)
