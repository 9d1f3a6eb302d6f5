"""The command and query buses, their middleware and the event dispatcher, on memory adapters."""

import logging
from decimal import Decimal

import pytest
from hk_testing.es_models import AccountOpened, Deposit, Deposited, GetBalance, Note, Open

from hexkernel.adapters.memory import InMemoryRepository, InMemoryStore, InMemoryUnitOfWorkFactory
from hexkernel.application import (
    CommandBus,
    EventDispatcher,
    HandlerAlreadyRegistered,
    LoggingMiddleware,
    MessageMetric,
    MetricsMiddleware,
    NoHandler,
    QueryBus,
    UnitOfWorkMiddleware,
    current_unit_of_work,
)
from hexkernel.core.correlation import correlated, correlation_id
from hexkernel.core.errors import ConcurrencyConflict
from hexkernel.core.messages import Command, Event, message
from hexkernel.core.query import Query as Find

pytestmark = pytest.mark.anyio


@message("hk_test.WriteNote")
class WriteNote(Command):
    text: str
    fail: bool = False


@message("hk_test.NoteWritten")
class NoteWritten(Event):
    text: str


class Boom(Exception):
    pass


def make_bus(store, dispatcher=None, **options):
    return CommandBus(
        middleware=[
            LoggingMiddleware(),
            UnitOfWorkMiddleware(InMemoryUnitOfWorkFactory(store), dispatcher, **options),
        ]
    )


async def write_note(command: WriteNote) -> str:
    uow = current_unit_of_work()
    assert uow is not None
    note = await uow.repository(Note).insert(Note(text=command.text))
    uow.collect(NoteWritten(text=command.text))
    if command.fail:
        raise Boom
    return note.id


# ----------------------------------------------------------------- routing
async def test_a_command_reaches_its_one_handler_and_returns_its_result():
    bus = CommandBus()
    seen = []

    async def handler(command: Open) -> str:
        seen.append(command)
        return command.account_id

    bus.register(Open, handler)
    command = Open(account_id="acc_1", owner="Ada")

    assert await bus.dispatch(command) == "acc_1"
    assert seen == [command]
    assert bus.handles(Open)
    assert not bus.handles(Deposit)


async def test_a_second_handler_for_a_command_is_refused():
    async def handler(_command: Open) -> None:
        return None

    bus = CommandBus({Open: handler})
    with pytest.raises(HandlerAlreadyRegistered):
        bus.register(Open, handler)


async def test_a_command_without_a_handler_raises_no_handler():
    with pytest.raises(NoHandler) as caught:
        await CommandBus().dispatch(Open(account_id="a", owner="b"))
    assert caught.value.message_type is Open
    assert isinstance(caught.value, LookupError)


async def test_the_buses_refuse_the_other_kinds_of_message():
    with pytest.raises(TypeError):
        await CommandBus().dispatch(GetBalance(account_id="a"))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        await QueryBus().ask(Open(account_id="a", owner="b"))  # type: ignore[arg-type]


async def test_a_query_is_answered_by_its_handler():
    async def balance(query: GetBalance) -> Decimal:
        return Decimal("12.50") if query.account_id == "acc_1" else Decimal(0)

    bus = QueryBus({GetBalance: balance})

    assert await bus.ask(GetBalance(account_id="acc_1")) == Decimal("12.50")
    with pytest.raises(NoHandler):
        await QueryBus().ask(GetBalance(account_id="acc_1"))


async def test_middleware_runs_outermost_first_around_the_handler():
    calls = []

    def step(name):
        async def run(message, call_next):
            calls.append(f"{name} in")
            result = await call_next(message)
            calls.append(f"{name} out")
            return f"{name}({result})"

        return run

    async def handler(_command: Open) -> str:
        calls.append("handler")
        return "done"

    bus = CommandBus({Open: handler}, middleware=[step("outer"), step("inner")])

    assert await bus.dispatch(Open(account_id="a", owner="b")) == "outer(inner(done))"
    assert calls == ["outer in", "inner in", "handler", "inner out", "outer out"]


# -------------------------------------------------------- logging, metrics
async def test_logging_binds_a_correlation_id_and_never_logs_message_data(caplog):
    seen = []

    async def handler(_command: Open) -> None:
        seen.append(correlation_id())

    bus = CommandBus({Open: handler}, middleware=[LoggingMiddleware()])
    with caplog.at_level(logging.DEBUG, logger="hexkernel.messages"):
        await bus.dispatch(Open(account_id="acc_1", owner="secret-owner-name"))
        with correlated("given-id"):
            await bus.dispatch(Open(account_id="acc_2", owner="secret-owner-name"))

    assert seen[0] is not None
    assert len(seen[0]) == 32
    assert seen[1] == "given-id"
    assert correlation_id() is None
    assert "hk_test.Open" in caplog.text
    assert "given-id" in caplog.text
    assert "secret-owner-name" not in caplog.text


async def test_a_failure_is_logged_by_type_and_raised(caplog):
    async def handler(_command: Open) -> None:
        raise Boom("secret detail")

    bus = CommandBus({Open: handler}, middleware=[LoggingMiddleware()])
    with caplog.at_level(logging.INFO, logger="hexkernel.messages"), pytest.raises(Boom):
        await bus.dispatch(Open(account_id="a", owner="b"))
    assert "failed with Boom" in caplog.text
    assert "secret detail" not in caplog.text


async def test_the_metrics_hook_sees_every_message_and_its_outcome():
    metrics: list[MessageMetric] = []

    async def ok(_command: Open) -> None:
        return None

    async def bad(_query: GetBalance) -> Decimal:
        raise Boom

    commands = CommandBus({Open: ok}, middleware=[MetricsMiddleware(metrics.append)])
    queries = QueryBus({GetBalance: bad}, middleware=[MetricsMiddleware(metrics.append)])
    await commands.dispatch(Open(account_id="a", owner="b"))
    with pytest.raises(Boom):
        await queries.ask(GetBalance(account_id="a"))

    assert [(m.kind, m.type, m.outcome, m.error) for m in metrics] == [
        ("command", "hk_test.Open", "ok", None),
        ("query", "hk_test.GetBalance", "error", "Boom"),
    ]
    assert all(m.seconds >= 0 for m in metrics)


# ------------------------------------------------------------ unit of work
async def test_a_command_commits_its_writes_and_then_publishes_its_events():
    store = InMemoryStore()
    dispatcher = EventDispatcher()
    observed = []

    async def on_written(event: NoteWritten) -> None:
        # Published after the commit: the note is visible outside the unit.
        notes = await InMemoryRepository(Note, store).find(Find(Note))
        observed.append((event.text, [n.text for n in notes], current_unit_of_work()))

    dispatcher.subscribe(NoteWritten, on_written)
    bus = make_bus(store, dispatcher)
    bus.register(WriteNote, write_note)

    note_id = await bus.dispatch(WriteNote(text="hello"))

    assert (await InMemoryRepository(Note, store).get(note_id)).text == "hello"
    assert observed == [("hello", ["hello"], None)]


async def test_a_failed_command_writes_nothing_and_publishes_nothing():
    store = InMemoryStore()
    dispatcher = EventDispatcher()
    published = []
    dispatcher.subscribe(Event, _collector(published))
    bus = make_bus(store, dispatcher)
    bus.register(WriteNote, write_note)

    with pytest.raises(Boom):
        await bus.dispatch(WriteNote(text="lost", fail=True))

    assert await InMemoryRepository(Note, store).find(Find(Note)) == []
    assert published == []


def _collector(into):
    async def collect(event):
        into.append(event)

    return collect


async def test_a_conflicting_command_is_run_again_and_publishes_only_its_last_attempt():
    store = InMemoryStore()
    published: list[Event] = []
    dispatcher = EventDispatcher()
    dispatcher.subscribe(Event, _collector(published))
    attempts = []

    async def flaky(_command: WriteNote) -> None:
        uow = current_unit_of_work()
        attempts.append(uow)
        await uow.repository(Note).insert(Note(text=f"attempt {len(attempts)}"))
        uow.collect(NoteWritten(text=f"attempt {len(attempts)}"))
        if len(attempts) < 3:
            raise ConcurrencyConflict("Note", "x", 1, 2)

    bus = make_bus(store, dispatcher, attempts=5)
    bus.register(WriteNote, flaky)

    await bus.dispatch(WriteNote(text="x"))

    assert len(attempts) == 3
    assert len({id(u) for u in attempts}) == 3
    assert [n.text for n in await InMemoryRepository(Note, store).find(Find(Note))] == ["attempt 3"]
    assert published == [NoteWritten(text="attempt 3")]


async def test_conflicts_beyond_the_attempts_reach_the_caller():
    async def always(_command: WriteNote) -> None:
        raise ConcurrencyConflict("Note", "x", 1, 2)

    bus = make_bus(InMemoryStore(), attempts=2)
    bus.register(WriteNote, always)
    with pytest.raises(ConcurrencyConflict):
        await bus.dispatch(WriteNote(text="x"))


async def test_a_command_dispatched_by_a_handler_joins_its_unit_of_work():
    store = InMemoryStore()
    published: list[Event] = []
    dispatcher = EventDispatcher()
    dispatcher.subscribe(Event, _collector(published))
    bus = make_bus(store, dispatcher)
    units = []

    async def outer(command: Open) -> None:
        units.append(current_unit_of_work())
        await bus.dispatch(WriteNote(text=f"for {command.owner}", fail=command.owner == "fail"))

    async def inner(command: WriteNote) -> str:
        units.append(current_unit_of_work())
        return await write_note(command)

    bus.register(Open, outer)
    bus.register(WriteNote, inner)

    await bus.dispatch(Open(account_id="a", owner="Ada"))
    with pytest.raises(Boom):
        await bus.dispatch(Open(account_id="b", owner="fail"))

    assert units[0] is units[1]
    assert [n.text for n in await InMemoryRepository(Note, store).find(Find(Note))] == ["for Ada"]
    assert published == [NoteWritten(text="for Ada")]


# ------------------------------------------------------------- dispatcher
async def test_every_subscribed_handler_gets_each_event_in_order():
    dispatcher = EventDispatcher()
    calls = []

    def handler(name):
        async def run(event):
            calls.append((name, type(event).__name__))

        return run

    dispatcher.subscribe(AccountOpened, handler("first"))
    dispatcher.subscribe(AccountOpened, handler("second"))
    dispatcher.subscribe(Event, handler("all"))
    opened = AccountOpened(account_id="a", owner="b")
    deposited = Deposited(account_id="a", amount=Decimal(1), memo="")

    await dispatcher.publish([opened, deposited])

    assert calls == [
        ("first", "AccountOpened"),
        ("second", "AccountOpened"),
        ("all", "AccountOpened"),
        ("all", "Deposited"),
    ]


async def test_a_failing_handler_does_not_stop_the_others(caplog):
    errors = []
    dispatcher = EventDispatcher(on_error=lambda event, exc: errors.append((event, exc)))
    reached = []

    async def failing(_event):
        raise Boom

    dispatcher.subscribe(AccountOpened, failing)
    dispatcher.subscribe(AccountOpened, _collector(reached))
    opened = AccountOpened(account_id="a", owner="b")

    with caplog.at_level(logging.ERROR, logger="hexkernel.events"):
        await dispatcher.publish([opened])

    assert reached == [opened]
    assert [(e, type(x)) for e, x in errors] == [(opened, Boom)]
    assert "hk_test.AccountOpened" in caplog.text
