"""The command bus and the query bus: one handler per message type, behind middleware.

A handler is any ``async`` callable taking the message; it gets its ports
(repositories, the event store, clients) when it is made, in the container::

    async def open_account(command: Open) -> str: ...

    bus = CommandBus(middleware=[LoggingMiddleware(), UnitOfWorkMiddleware(uow_factory)])
    bus.register(Open, open_account)
    account_id = await bus.dispatch(Open(account_id="acc_1", owner="Ada"))

Middleware wraps every dispatch, outermost first: each one receives the
message and the next step, and returns what the handler returned (see
:mod:`hexkernel.application.middleware`). The buses are written by hand: they
are a dictionary lookup and a chain of calls, smaller than any library's
configuration for them.
"""

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Generic, Protocol, TypeVar

from hexkernel.core.errors import HexkernelError
from hexkernel.core.messages import Command, Message, Query

__all__ = (
    "CommandBus",
    "Handler",
    "HandlerAlreadyRegistered",
    "Middleware",
    "Next",
    "NoHandler",
    "QueryBus",
)

M = TypeVar("M", bound=Message)
X = TypeVar("X", bound=Message)
R = TypeVar("R")

Handler = Callable[[M], Awaitable[Any]]
"""An async callable handling one message type."""

Next = Callable[[Message], Awaitable[Any]]
"""The rest of the chain, as a middleware sees it."""


class Middleware(Protocol):
    """A step every message goes through on its way to the handler."""

    async def __call__(self, message: Message, call_next: Next) -> Any:
        """Do something around ``await call_next(message)`` and return its result."""
        ...


class NoHandler(HexkernelError, LookupError):
    """No handler is registered for a message type."""

    def __init__(self, message_type: type[Message]) -> None:
        self.message_type = message_type
        super().__init__(f"no handler is registered for {message_type.__qualname__}")


class HandlerAlreadyRegistered(HexkernelError, ValueError):
    """A second handler was registered for a command or query type."""

    def __init__(self, message_type: type[Message]) -> None:
        self.message_type = message_type
        super().__init__(f"{message_type.__qualname__} already has a handler")


class _Bus(Generic[M]):
    """One handler per exact message type, reached through the middleware chain."""

    def __init__(
        self,
        handlers: Mapping[type[Any], Handler[Any]] | None = None,
        *,
        middleware: Iterable[Middleware] = (),
    ) -> None:
        self._handlers: dict[type[Any], Handler[Any]] = {}
        self._middleware = tuple(middleware)
        self._chain: Next = self._build()
        for message_type, handler in (handlers or {}).items():
            self.register(message_type, handler)

    def _build(self) -> Next:
        chain: Next = self._call_handler
        for step in reversed(self._middleware):
            chain = _link(step, chain)
        return chain

    async def _call_handler(self, message: Message) -> Any:
        handler = self._handlers.get(type(message))
        if handler is None:
            raise NoHandler(type(message))
        return await handler(message)

    def register(self, message_type: type[X], handler: Handler[X]) -> None:
        """Make ``handler`` the handler of ``message_type``.

        Raises:
            HandlerAlreadyRegistered: The type has a handler already.
        """
        if message_type in self._handlers:
            raise HandlerAlreadyRegistered(message_type)
        self._handlers[message_type] = handler

    def handles(self, message_type: type[Message]) -> bool:
        """Whether a handler is registered for ``message_type``."""
        return message_type in self._handlers

    @property
    def middleware(self) -> tuple[Middleware, ...]:
        """The middleware, outermost first."""
        return self._middleware


def _link(step: Middleware, call_next: Next) -> Next:
    async def run(message: Message) -> Any:
        return await step(message, call_next)

    return run


class CommandBus(_Bus[Command]):
    """Dispatches each command to its one handler, through the middleware.

    Args:
        handlers: Handlers by command type (the container's dictionary).
        middleware: Outermost first; typically logging, metrics, then the
            unit of work.
    """

    async def dispatch(self, command: Command) -> Any:
        """Handle ``command`` and return what its handler returned.

        Raises:
            NoHandler: Nothing handles its type.
        """
        if not isinstance(command, Command):
            raise TypeError(f"the command bus takes commands, not {type(command).__qualname__}")
        return await self._chain(command)


class QueryBus(_Bus[Query[Any]]):
    """Answers each query with its one handler, through the middleware.

    Args:
        handlers: Handlers by query type.
        middleware: Outermost first (no unit of work: queries only read).
    """

    async def ask(self, query: Query[R]) -> R:
        """Return the answer to ``query``.

        Raises:
            NoHandler: Nothing handles its type.
        """
        if not isinstance(query, Query):
            raise TypeError(f"the query bus takes queries, not {type(query).__qualname__}")
        result: R = await self._chain(query)
        return result
