"""The saga coordinator on the in-memory store.

Order, retries, timeouts, compensation, replies, resumption after a crash.
"""

import asyncio
import datetime as dt

import pytest

from hexkernel.adapters.memory import InMemoryStore, InMemoryUnitOfWorkFactory
from hexkernel.adapters.memory.saga_store import InMemorySagaStore
from hexkernel.application.middleware import using_unit_of_work
from hexkernel.application.sagas import SagaCoordinator, UnknownSagaType
from hexkernel.core.errors import DomainError, StoreUnavailable
from hexkernel.core.sagas import (
    RetryPolicy,
    SagaDefinition,
    SagaDefinitionError,
    SagaStatus,
    SagaStep,
    StepContext,
    StepStatus,
    StepTimedOut,
)

pytestmark = pytest.mark.anyio

FAST = RetryPolicy(attempts=3, backoff=0.001, max_backoff=0.002)


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


class Journal:
    """Records every call of the steps' callables, and makes them fail on demand."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.keys: list[str] = []
        self.failures: dict[str, list[BaseException]] = {}
        self.contexts: list[StepContext] = []

    def fail(self, name: str, error: BaseException) -> None:
        self.failures[name] = [error]

    def action(self, name: str):
        async def run(ctx: StepContext) -> dict[str, str]:
            label = f"{name}:undo" if ctx.compensating else name
            self.calls.append(label)
            self.keys.append(ctx.idempotency_key)
            self.contexts.append(ctx)
            ctx.data.setdefault("trail", []).append(label)
            for error in self.failures.get(label, ()):
                raise error
            return {"done": label}

        return run


def saga(journal: Journal, names=("one", "two", "three"), **overrides) -> SagaDefinition:
    steps = []
    for name in names:
        options = {"retry": FAST, "compensation_retry": FAST}
        options.update(overrides.get(name, {}))
        steps.append(
            SagaStep(
                name,
                action=journal.action(name),
                compensation=journal.action(name),
                **options,
            )
        )
    return SagaDefinition("tests.Trip", steps)


def coordinator(definition, store=None, **options) -> SagaCoordinator:
    return SagaCoordinator(
        store if store is not None else InMemorySagaStore(), [definition], **options
    )


async def test_steps_run_in_order_and_each_outcome_is_saved():
    journal = Journal()
    store = InMemorySagaStore()
    state = await coordinator(saga(journal), store).start("tests.Trip", {"who": "ada"})
    assert journal.calls == ["one", "two", "three"]
    assert state.status is SagaStatus.COMPLETED
    assert state.wake_at is None
    assert state == await store.get(state.id)
    assert [s.status for s in state.steps] == [StepStatus.DONE] * 3
    assert [s.attempts for s in state.steps] == [1, 1, 1]
    assert state.results == {n: {"done": n} for n in ("one", "two", "three")}
    assert state.data == {"who": "ada", "trail": ["one", "two", "three"]}
    assert journal.keys == [f"{state.id}:{n}" for n in ("one", "two", "three")]
    # Each step sees the results of those before it.
    assert dict(journal.contexts[2].results) == {"one": {"done": "one"}, "two": {"done": "two"}}
    # created, then a claim and an outcome per step, then completed
    assert state.version == 1 + 3 * 2 + 1


async def test_a_transient_failure_is_retried_and_the_attempts_are_counted():
    journal = Journal()

    async def flaky(ctx: StepContext) -> str:
        journal.calls.append("two")
        if ctx.attempt < 3:
            raise StoreUnavailable("down")
        return "ok"

    definition = SagaDefinition(
        "tests.Trip",
        [
            SagaStep("one", action=journal.action("one"), retry=FAST),
            SagaStep("two", action=flaky, retry=FAST),
        ],
    )
    state = await coordinator(definition).start(definition, {})
    assert state.status is SagaStatus.COMPLETED
    assert journal.calls == ["one", "two", "two", "two"]
    assert state.steps[1].attempts == 3
    assert state.steps[1].error is None
    assert state.results["two"] == "ok"


async def test_a_failure_compensates_the_completed_steps_in_reverse_order():
    journal = Journal()
    journal.fail("three", DomainError("refused"))
    state = await coordinator(saga(journal, names=("one", "two", "three", "four"))).start(
        "tests.Trip", {}
    )
    # Not transient: one attempt only; the failed step did nothing, so it is not undone.
    assert journal.calls == ["one", "two", "three", "two:undo", "one:undo"]
    assert state.status is SagaStatus.COMPENSATED
    assert state.failed_step == "three"
    assert state.failure == "DomainError: refused"
    assert [s.status for s in state.steps] == [
        StepStatus.COMPENSATED,
        StepStatus.COMPENSATED,
        StepStatus.FAILED,
        StepStatus.PENDING,
    ]
    assert state.steps[2].attempts == 1
    undo = [c for c in journal.contexts if c.compensating]
    assert [c.idempotency_key for c in undo] == [
        f"{state.id}:two:compensation",
        f"{state.id}:one:compensation",
    ]
    assert {c.failure for c in undo} == {"DomainError: refused"}


async def test_spent_retries_fail_the_step():
    journal = Journal()
    journal.fail("two", StoreUnavailable("down"))
    state = await coordinator(saga(journal)).start("tests.Trip", {})
    assert journal.calls == ["one", "two", "two", "two", "one:undo"]
    assert state.status is SagaStatus.COMPENSATED
    assert state.steps[1].attempts == 3
    assert state.steps[1].error == "StoreUnavailable: down"


async def test_the_data_changes_of_a_failed_attempt_are_dropped():
    journal = Journal()
    journal.fail("two", DomainError("no"))
    state = await coordinator(saga(journal)).start("tests.Trip", {})
    # "two" appended to its copy of the data and failed; the undo of "one" saw the saved data.
    assert state.data["trail"] == ["one", "one:undo"]


async def test_a_step_that_takes_too_long_times_out_is_retried_and_then_undone():
    calls = []

    async def slow(ctx: StepContext) -> None:
        calls.append(("slow", ctx.attempt))
        await asyncio.sleep(5)

    async def undo_slow(ctx: StepContext) -> None:
        calls.append(("undo slow", ctx.attempt))

    journal = Journal()
    definition = SagaDefinition(
        "tests.Trip",
        [
            SagaStep("one", action=journal.action("one"), compensation=journal.action("one")),
            SagaStep("slow", action=slow, compensation=undo_slow, timeout=0.05, retry=FAST),
        ],
    )
    started = asyncio.get_running_loop().time()
    state = await coordinator(definition).start(definition, {})
    assert asyncio.get_running_loop().time() - started < 2
    assert calls == [("slow", 1), ("slow", 2), ("slow", 3), ("undo slow", 1)]
    # Its outcome is unknown (it may have taken effect), so it is undone too.
    assert journal.calls == ["one", "one:undo"]
    assert state.status is SagaStatus.COMPENSATED
    assert state.steps[1].status is StepStatus.COMPENSATED
    assert state.failure == "StepTimedOut: step 'slow' did not finish within 0.05 s"


async def test_a_timeout_is_not_retried_when_the_policy_leaves_it_out():
    attempts = []

    async def slow(ctx: StepContext) -> None:
        attempts.append(ctx.attempt)
        await asyncio.sleep(5)

    policy = RetryPolicy(attempts=5, backoff=0.001, transient=(StoreUnavailable,))
    definition = SagaDefinition(
        "tests.Once", [SagaStep("slow", action=slow, timeout=0.02, retry=policy)]
    )
    state = await coordinator(definition).start(definition, {})
    assert attempts == [1]
    assert state.status is SagaStatus.COMPENSATED


async def test_a_compensation_that_keeps_failing_leaves_the_saga_failed_for_an_operator():
    journal = Journal()
    journal.fail("three", DomainError("refused"))
    journal.fail("two:undo", StoreUnavailable("still down"))
    sagas = coordinator(saga(journal))
    state = await sagas.start("tests.Trip", {})
    assert journal.calls == ["one", "two", "three", "two:undo", "two:undo", "two:undo"]
    assert state.status is SagaStatus.FAILED
    assert state.finished
    assert state.wake_at is None  # never resumed by itself
    assert state.steps[1].status is StepStatus.COMPENSATION_FAILED
    assert state.steps[1].compensation_attempts == 3
    assert state.error == "compensation of two failed: StoreUnavailable: still down"
    assert state.failure == "DomainError: refused"
    assert [s.id for s in await sagas.find(status=SagaStatus.FAILED)] == [state.id]
    assert await sagas.resume_due() == 0

    # The operator fixes the cause and retries: the compensation goes on from there.
    del journal.failures["two:undo"]
    state = await sagas.retry(state.id)
    assert state.status is SagaStatus.COMPENSATED
    assert journal.calls[-2:] == ["two:undo", "one:undo"]
    assert state.error == "DomainError: refused"


async def test_a_transient_compensation_failure_is_retried():
    journal = Journal()
    journal.fail("two", DomainError("refused"))

    async def undo_once_flaky(ctx: StepContext) -> None:
        journal.calls.append(f"undo {ctx.attempt}")
        if ctx.attempt == 1:
            raise StoreUnavailable("blip")

    definition = SagaDefinition(
        "tests.Trip",
        [
            SagaStep(
                "one",
                action=journal.action("one"),
                compensation=undo_once_flaky,
                compensation_retry=FAST,
            ),
            SagaStep("two", action=journal.action("two")),
        ],
    )
    state = await coordinator(definition).start(definition, {})
    assert journal.calls == ["one", "two", "undo 1", "undo 2"]
    assert state.status is SagaStatus.COMPENSATED
    assert state.steps[0].compensation_attempts == 2


def reply_saga(journal: Journal, reply_timeout: float | None = 30.0) -> SagaDefinition:
    return SagaDefinition(
        "tests.Order",
        [
            SagaStep(
                "create", action=journal.action("create"), compensation=journal.action("create")
            ),
            SagaStep(
                "reserve",
                action=journal.action("reserve"),
                compensation=journal.action("reserve"),
                awaits_reply=True,
                reply_timeout=reply_timeout,
            ),
            SagaStep("approve", action=journal.action("approve")),
        ],
    )


async def test_a_step_can_await_a_reply_and_a_repeated_reply_changes_nothing():
    journal, clock = Journal(), Clock()
    sagas = coordinator(reply_saga(journal), clock=clock)
    state = await sagas.start("tests.Order", {}, saga_id="sag_order_1")
    assert state.status is SagaStatus.RUNNING
    assert state.current.status is StepStatus.AWAITING_REPLY
    assert state.wake_at == clock.now + dt.timedelta(seconds=30)
    assert journal.calls == ["create", "reserve"]
    assert await sagas.resume_due() == 0  # nothing to do before the deadline

    state = await sagas.reply("sag_order_1", "reserve", result={"reference": "r1"})
    assert state.status is SagaStatus.COMPLETED
    assert state.results["reserve"] == {"reference": "r1"}
    assert journal.calls == ["create", "reserve", "approve"]
    again = await sagas.reply("sag_order_1", "reserve", failure="insufficient_credit")
    assert again == state
    assert journal.calls == ["create", "reserve", "approve"]


async def test_a_failure_reply_compensates_the_steps_before_it():
    journal = Journal()
    sagas = coordinator(reply_saga(journal))
    state = await sagas.start("tests.Order", {})
    state = await sagas.reply(state.id, "reserve", failure="insufficient_credit")
    assert state.status is SagaStatus.COMPENSATED
    assert journal.calls == ["create", "reserve", "create:undo"]
    assert journal.contexts[-1].failure == "insufficient_credit"
    assert state.failed_step == "reserve"
    assert state.steps[1].error == "insufficient_credit"


async def test_an_overdue_reply_fails_the_step_and_undoes_it_too():
    journal, clock = Journal(), Clock()
    sagas = coordinator(reply_saga(journal, reply_timeout=10), clock=clock)
    state = await sagas.start("tests.Order", {})
    clock.advance(11)
    assert await sagas.resume_due() == 1
    state = await sagas.get(state.id)
    assert state.status is SagaStatus.COMPENSATED
    assert journal.calls == ["create", "reserve", "reserve:undo", "create:undo"]
    late = await sagas.reply(state.id, "reserve", result={})
    assert late.status is SagaStatus.COMPENSATED


async def test_a_saga_abandoned_mid_step_is_resumed_by_another_coordinator():
    clock, store = Clock(), InMemorySagaStore()
    runs: dict[str, int] = {}
    entered = asyncio.Event()

    def step(name: str, *, hang: bool = False):
        async def run(_ctx: StepContext) -> None:
            runs[name] = runs.get(name, 0) + 1
            if hang and runs[name] == 1:
                entered.set()
                await asyncio.sleep(60)  # the process dies here

        return run

    definition = SagaDefinition(
        "tests.Trip",
        [
            SagaStep("one", action=step("one")),
            SagaStep("two", action=step("two", hang=True)),
            SagaStep("three", action=step("three")),
        ],
    )
    first = coordinator(definition, store, clock=clock, owner="first", lease=5)
    running = asyncio.create_task(first.start(definition, {}, saga_id="sag_crash"))
    await entered.wait()
    running.cancel()  # a crash: nothing more is saved
    with pytest.raises(asyncio.CancelledError):
        await running
    state = await store.get("sag_crash")
    assert (state.status, state.step, state.owner) == (SagaStatus.RUNNING, 1, "first")
    assert state.steps[1].status is StepStatus.RUNNING

    second = coordinator(definition, store, clock=clock, owner="second", lease=5)
    assert await second.resume_due() == 0  # the first one's lease still holds
    clock.advance(9)  # the lease (5 s) plus the step's longest backoff (5 s) is not over yet
    assert await second.resume_due() == 0
    clock.advance(2)
    assert await second.resume_due() == 1
    state = await store.get("sag_crash")
    assert state.status is SagaStatus.COMPLETED
    assert state.owner == "second"
    assert runs == {"one": 1, "two": 2, "three": 1}
    assert state.steps[1].attempts == 2


async def test_two_coordinators_never_advance_one_saga_twice():
    store = InMemorySagaStore()
    runs: list[str] = []

    def step(name: str):
        async def run(_ctx: StepContext) -> None:
            runs.append(name)
            await asyncio.sleep(0.01)

        return run

    definition = SagaDefinition("tests.Race", [SagaStep(n, action=step(n)) for n in "abc"])
    one, two = coordinator(definition, store), coordinator(definition, store)
    states = [await one.begin(definition, {}) for _ in range(5)]
    await asyncio.gather(one.resume_due(), two.resume_due())
    for state in states:
        assert (await store.get(state.id)).status is SagaStatus.COMPLETED
    assert sorted(runs) == sorted(list("abc") * 5)


async def test_the_background_loop_runs_begun_sagas_until_stopped():
    journal = Journal()
    sagas = coordinator(saga(journal), poll_interval=0.01)
    await sagas.start_background()
    assert sagas.running
    try:
        state = await sagas.begin("tests.Trip", {})
        for _ in range(200):
            if (await sagas.get(state.id)).finished:
                break
            await asyncio.sleep(0.01)
        assert (await sagas.get(state.id)).status is SagaStatus.COMPLETED
    finally:
        await sagas.stop_background()
    assert not sagas.running


async def test_starting_twice_under_one_id_runs_the_saga_once():
    journal = Journal()
    sagas = coordinator(saga(journal))
    first = await sagas.start("tests.Trip", {"n": 1}, saga_id="sag_same")
    second = await sagas.start("tests.Trip", {"n": 2}, saga_id="sag_same")
    assert second == first
    assert (await sagas.begin("tests.Trip", {"n": 3}, saga_id="sag_same")) == first
    assert journal.calls == ["one", "two", "three"]


async def test_a_saga_type_must_be_registered():
    sagas = SagaCoordinator(InMemorySagaStore())
    with pytest.raises(UnknownSagaType):
        await sagas.start("tests.Nothing", {})


def test_definitions_are_checked():
    async def noop(_ctx: StepContext) -> None:
        return None

    with pytest.raises(SagaDefinitionError):
        SagaDefinition("tests.Empty", [])
    with pytest.raises(SagaDefinitionError):
        SagaDefinition("tests.Twice", [SagaStep("a", action=noop), SagaStep("a", action=noop)])
    with pytest.raises(SagaDefinitionError):
        SagaStep("a:b", action=noop)
    with pytest.raises(SagaDefinitionError):
        RetryPolicy(attempts=0)
    with pytest.raises(SagaDefinitionError):
        SagaStep("a", action=noop, timeout=0)
    registered = SagaCoordinator(
        InMemorySagaStore(), [SagaDefinition("t.A", [SagaStep("a", action=noop)])]
    )
    with pytest.raises(SagaDefinitionError):
        registered.register(SagaDefinition("t.A", [SagaStep("b", action=noop)]))


def test_a_step_timeout_is_a_timeout_error():
    error = StepTimedOut("reserve", 2.5)
    assert isinstance(error, TimeoutError)
    assert str(error) == "step 'reserve' did not finish within 2.5 s"


async def test_inside_a_unit_of_work_steps_are_left_to_the_background_loop():
    journal, clock = Journal(), Clock()
    sagas = coordinator(reply_saga(journal), clock=clock)
    units = InMemoryUnitOfWorkFactory(InMemoryStore())
    async with units() as uow:
        with using_unit_of_work(uow):  # as in a message consumer's handler
            state = await sagas.start("tests.Order", {}, saga_id="sag_in_unit")
    assert journal.calls == []
    assert (state.status, state.wake_at) == (SagaStatus.RUNNING, clock.now)
    assert await sagas.resume_due() == 1
    assert journal.calls == ["create", "reserve"]

    async with units() as uow:
        with using_unit_of_work(uow):
            state = await sagas.reply("sag_in_unit", "reserve", result={"ok": True})
            again = await sagas.reply("sag_in_unit", "reserve", result={"ok": True})
    assert journal.calls == ["create", "reserve"]  # the reply was only recorded
    assert state.steps[1].status is StepStatus.DONE
    assert (state.step, state.wake_at) == (2, clock.now)
    assert again == state
    assert await sagas.resume_due() == 1
    assert journal.calls == ["create", "reserve", "approve"]
    assert (await sagas.get("sag_in_unit")).status is SagaStatus.COMPLETED


@pytest.mark.parametrize(
    ("reply", "status", "calls"),
    [
        ({"result": {"reference": "r1"}}, SagaStatus.COMPLETED, ["create", "approve"]),
        ({"failure": "insufficient_credit"}, SagaStatus.COMPENSATED, ["create", "create:undo"]),
    ],
)
async def test_a_reply_that_overtakes_the_actions_own_save_is_kept_and_applied(
    reply, status, calls
):
    journal = Journal()
    holder: dict[str, SagaCoordinator] = {}

    async def ask_and_get_answered(ctx: StepContext) -> None:
        # The other service answers before this action has returned.
        early = await holder["sagas"].reply(ctx.saga_id, ctx.step, **reply)
        assert early.steps[1].early_reply == {"result": None, "failure": None, **reply}
        assert early.steps[1].status is StepStatus.RUNNING

    definition = SagaDefinition(
        "tests.Order",
        [
            SagaStep(
                "create", action=journal.action("create"), compensation=journal.action("create")
            ),
            SagaStep("reserve", action=ask_and_get_answered, awaits_reply=True),
            SagaStep("approve", action=journal.action("approve")),
        ],
    )
    sagas = holder["sagas"] = coordinator(definition)
    state = await sagas.start(definition, {})
    assert state.status is status
    assert journal.calls == calls
    assert state.steps[1].early_reply is None
    assert state.steps[1].attempts == 1
    if status is SagaStatus.COMPLETED:
        assert state.results["reserve"] == {"reference": "r1"}
    else:
        assert state.failure == "insufficient_credit"
