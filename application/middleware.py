"""Middleware of the buses: correlation and logging, metrics, and a unit of work per command.

Put them outermost first::

    CommandBus(middleware=[
        LoggingMiddleware(),
        MetricsMiddleware(observe),
        UnitOfWorkMiddleware(uow_factory, dispatcher),
    ])

* :class:`LoggingMiddleware` binds a correlation id (the one already bound, or
  a new one) and logs each message's type, id and outcome; never its data,
  which may hold secrets.
* :class:`MetricsMiddleware` reports one :class:`MessageMetric` per message to
  a callable: a Prometheus or OpenTelemetry exporter plugs in there.
* :class:`UnitOfWorkMiddleware` runs the handler inside a new unit of work,
  retried from the start on a transient transaction error or an optimistic
  conflict, and publishes the events the unit collected once, and only once,
  it has committed. The handler reaches the unit through
  :func:`current_unit_of_work`; the active-record methods of Models and the
  event-sourced repository use it without being told.
"""

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Literal

import attrs
import tenacity

from hexkernel.application.buses import Next
from hexkernel.application.dispatcher import EventDispatcher
from hexkernel.core.correlation import correlated
from hexkernel.core.errors import ConcurrencyConflict
from hexkernel.core.messages import Command, Event, Message, Query
from hexkernel.core.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory

__all__ = (
    "LoggingMiddleware",
    "MessageMetric",
    "MetricsMiddleware",
    "UnitOfWorkMiddleware",
    "current_unit_of_work",
    "using_unit_of_work",
)

log = logging.getLogger("hexkernel.messages")

_UNIT_OF_WORK: ContextVar[UnitOfWork | None] = ContextVar(
    "hexkernel_command_unit_of_work", default=None
)


def current_unit_of_work() -> UnitOfWork | None:
    """The unit of work of the command being handled in this context, if any."""
    return _UNIT_OF_WORK.get()


@contextmanager
def using_unit_of_work(uow: UnitOfWork) -> Iterator[UnitOfWork]:
    """Make ``uow`` the current unit of work inside the block (a message consumer's unit).

    Commands dispatched in the block join ``uow`` instead of opening their own;
    whoever opened ``uow`` commits it and publishes what it collected.
    """
    token = _UNIT_OF_WORK.set(uow)
    try:
        yield uow
    finally:
        _UNIT_OF_WORK.reset(token)


def _type_of(message: Message) -> str:
    return type(message).__message_type__ or type(message).__qualname__


def _kind_of(message: Message) -> str:
    for base, kind in ((Command, "command"), (Query, "query"), (Event, "event")):
        if isinstance(message, base):
            return kind
    return "message"


class LoggingMiddleware:
    """Binds a correlation id and logs the type, duration and outcome of each message.

    Args:
        logger: Where to log (``hexkernel.messages`` by default).
    """

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._log = logger or log

    async def __call__(self, message: Message, call_next: Next) -> Any:
        """Handle ``message`` with its correlation id bound, logging the outcome."""
        with correlated() as correlation:
            started = time.perf_counter()
            self._log.debug("handling %s [%s]", _type_of(message), correlation)
            try:
                result = await call_next(message)
            except Exception as exc:
                self._log.warning(
                    "%s failed with %s after %.1f ms [%s]",
                    _type_of(message),
                    type(exc).__name__,
                    (time.perf_counter() - started) * 1000,
                    correlation,
                )
                raise
            self._log.info(
                "handled %s in %.1f ms [%s]",
                _type_of(message),
                (time.perf_counter() - started) * 1000,
                correlation,
            )
            return result


@attrs.frozen(kw_only=True)
class MessageMetric:
    """One handled message, as the metrics hook receives it.

    Attributes:
        kind: ``"command"``, ``"query"`` or ``"event"``.
        type: The message's type name.
        seconds: How long the rest of the chain took.
        outcome: ``"ok"`` or ``"error"``.
        error: The exception's class name when the outcome is an error.
    """

    kind: str
    type: str
    seconds: float
    outcome: Literal["ok", "error"]
    error: str | None = None


class MetricsMiddleware:
    """Times every message and reports a :class:`MessageMetric` to ``observe``.

    Args:
        observe: Called once per message; it must not raise or block.
    """

    def __init__(self, observe: Callable[[MessageMetric], None]) -> None:
        self._observe = observe

    async def __call__(self, message: Message, call_next: Next) -> Any:
        """Handle ``message`` and report how it went."""
        kind = _kind_of(message)
        started = time.perf_counter()
        try:
            result = await call_next(message)
        except Exception as exc:
            self._observe(
                MessageMetric(
                    kind=kind,
                    type=_type_of(message),
                    seconds=time.perf_counter() - started,
                    outcome="error",
                    error=type(exc).__name__,
                )
            )
            raise
        self._observe(
            MessageMetric(
                kind=kind,
                type=_type_of(message),
                seconds=time.perf_counter() - started,
                outcome="ok",
            )
        )
        return result


class UnitOfWorkMiddleware:
    """Runs each command in its own unit of work and publishes its events after the commit.

    A command dispatched while another one's unit is open (from inside its
    handler) joins that unit instead of opening a second one.

    Args:
        uow_factory: Opens the units of work (its ``run`` retries transient
            transaction errors).
        dispatcher: Receives the collected events after each commit.
        attempts: How many times a command that meets a
            :class:`~hexkernel.core.errors.ConcurrencyConflict` is run; the
            handler starts again from a fresh read each time.
    """

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        dispatcher: EventDispatcher | None = None,
        *,
        attempts: int = 5,
    ) -> None:
        self._uow_factory = uow_factory
        self._dispatcher = dispatcher
        self._attempts = attempts

    async def __call__(self, message: Message, call_next: Next) -> Any:
        """Handle ``message`` inside a unit of work, then publish what it collected."""
        if _UNIT_OF_WORK.get() is not None:
            return await call_next(message)
        units: list[UnitOfWork] = []

        async def work(uow: UnitOfWork) -> Any:
            units.append(uow)
            token = _UNIT_OF_WORK.set(uow)
            try:
                return await call_next(message)
            finally:
                _UNIT_OF_WORK.reset(token)

        result: Any = None
        async for attempt in tenacity.AsyncRetrying(
            retry=tenacity.retry_if_exception_type(ConcurrencyConflict),
            stop=tenacity.stop_after_attempt(self._attempts),
            wait=tenacity.wait_random_exponential(multiplier=0.005, max=0.2),
            reraise=True,
        ):
            with attempt:
                result = await self._uow_factory.run(work)
        if self._dispatcher is not None:
            await self._dispatcher.publish(units[-1].collected)
        return result
