"""A Hypothesis state machine checking an event store against a plain in-memory model.

The model is a list (the global log) and a dict of lists (the streams). Rules
append in sequence, at stale versions, concurrently at one version (exactly
one writer may win), concurrently on several streams (all win), and inside
failed units of work (nothing may show); after every step the store must hold
exactly what the model holds, in the same order, with no gap and no
duplicate.
"""

import asyncio
import contextlib
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from hexkernel.core.errors import ConcurrencyConflict
from hk_testing.es_models import Deposited

__all__ = ("event_store_machine",)

STREAMS = ("acc_a", "acc_b", "acc_c", "acc_d")


class _Failed(Exception):
    pass


def event_store_machine(
    open_backend: Callable[[], contextlib.AbstractAsyncContextManager[Any]],
) -> type[RuleBasedStateMachine]:
    """The state machine class, testing the backends ``open_backend`` opens."""

    class EventStoreMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.runner = asyncio.Runner()
            self.opened = open_backend()
            self.backend = self.runner.run(self.opened.__aenter__())
            self.store = self.backend.store
            self.log: list[tuple[str, int, Deposited]] = []
            self.streams: dict[str, list[Deposited]] = {s: [] for s in STREAMS}
            self.serial = 0

        def teardown(self) -> None:
            try:
                self.runner.run(self.opened.__aexit__(None, None, None))
            finally:
                self.runner.close()

        def run(self, awaitable: Any) -> Any:
            return self.runner.run(awaitable)

        def events(self, stream: str, count: int) -> list[Deposited]:
            out = []
            for _ in range(count):
                self.serial += 1
                out.append(Deposited(account_id=stream, amount=Decimal(self.serial), memo=""))
            return out

        def commit(self, stream: str, events: list[Deposited], stored: list[Any]) -> None:
            assert [s.event for s in stored] == events
            assert [s.position for s in stored] == list(
                range(len(self.log) + 1, len(self.log) + 1 + len(events))
            )
            for event in events:
                self.streams[stream].append(event)
                self.log.append((stream, len(self.streams[stream]), event))

        # ------------------------------------------------------------- rules
        @rule(stream=st.sampled_from(STREAMS), count=st.integers(0, 3))
        def append_at_the_current_version(self, stream: str, count: int) -> None:
            events = self.events(stream, count)
            stored = self.run(
                self.store.append(stream, events, expected_version=len(self.streams[stream]))
            )
            self.commit(stream, events, stored)

        @rule(stream=st.sampled_from(STREAMS), offset=st.sampled_from((-2, -1, 1, 3)))
        def append_at_a_wrong_version(self, stream: str, offset: int) -> None:
            expected = len(self.streams[stream]) + offset
            if expected < 0:
                expected = len(self.streams[stream]) + 1
            events = self.events(stream, 2)
            try:
                self.run(self.store.append(stream, events, expected_version=expected))
            except ConcurrencyConflict as conflict:
                assert conflict.current == len(self.streams[stream])
            else:
                raise AssertionError("a wrong expected version was accepted")

        @rule(stream=st.sampled_from(STREAMS), writers=st.integers(2, 5))
        def race_at_one_version(self, stream: str, writers: int) -> None:
            version = len(self.streams[stream])
            batches = [self.events(stream, 1 + w % 2) for w in range(writers)]

            async def race() -> list[Any]:
                return await asyncio.gather(
                    *(self.store.append(stream, b, expected_version=version) for b in batches),
                    return_exceptions=True,
                )

            results = self.run(race())
            won = [i for i, r in enumerate(results) if isinstance(r, list)]
            assert len(won) == 1, results
            assert all(
                isinstance(r, ConcurrencyConflict) for i, r in enumerate(results) if i != won[0]
            ), results
            self.commit(stream, batches[won[0]], results[won[0]])

        @rule(count=st.integers(2, 4))
        def writers_on_different_streams(self, count: int) -> None:
            chosen = STREAMS[:count]
            batches = {s: self.events(s, 2) for s in chosen}

            async def write() -> list[Any]:
                return await asyncio.gather(
                    *(
                        self.store.append(s, b, expected_version=len(self.streams[s]))
                        for s, b in batches.items()
                    )
                )

            results = dict(zip(chosen, self.run(write()), strict=True))
            # Every writer wins; their batches are whole and in position order.
            for stream, stored in sorted(results.items(), key=lambda kv: kv[1][0].position):
                self.commit(stream, batches[stream], stored)

        @rule(stream=st.sampled_from(STREAMS))
        def append_in_a_failed_unit_of_work(self, stream: str) -> None:
            async def fail() -> None:
                async with self.backend.uow_factory() as uow:
                    await self.store.append(
                        stream,
                        self.events(stream, 2),
                        expected_version=len(self.streams[stream]),
                        uow=uow,
                    )
                    raise _Failed

            with contextlib.suppress(_Failed):
                self.run(fail())

        @precondition(lambda self: bool(self.log))
        @rule(data=st.data())
        def read_a_stream_from_a_version(self, data: st.DataObject) -> None:
            stream = data.draw(st.sampled_from([s for s in STREAMS if self.streams[s]]))
            after = data.draw(st.integers(0, len(self.streams[stream])))
            read = self.run(self.store.read_stream(stream, after_version=after))
            assert [s.event for s in read] == self.streams[stream][after:]
            assert [s.version for s in read] == list(
                range(after + 1, len(self.streams[stream]) + 1)
            )

        # -------------------------------------------------------- invariants
        @invariant()
        def the_log_is_the_model(self) -> None:
            log = self.run(self.store.read_all(limit=10_000))
            assert [(s.stream_id, s.version, s.event) for s in log] == self.log
            assert [s.position for s in log] == list(range(1, len(self.log) + 1))
            assert self.run(self.store.last_position()) == len(self.log)

        @invariant()
        def every_stream_is_the_model(self) -> None:
            for stream, events in self.streams.items():
                assert self.run(self.store.stream_version(stream)) == len(events)

    return EventStoreMachine
