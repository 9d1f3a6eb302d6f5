"""The saga coordinator: runs orchestrated sagas step by step, and resumes them after a crash.

The coordinator keeps nothing in memory that matters: before each attempt
of an action or compensation it *claims* the instance (saves it with the
attempt counted, its own name as ``owner`` and a lease in ``wake_at``), and
after each step it saves the outcome. A save names the version it read, so
if two coordinators reach one instance, the second save fails with
:class:`~hexkernel.core.errors.ConcurrencyConflict` and that coordinator
lets go: no instance is ever advanced twice. A coordinator that dies leaves
its claim behind; once the lease is over the instance is *due* and any
coordinator's resume loop (:meth:`SagaCoordinator.resume_due`, run in the
background by :meth:`SagaCoordinator.start_background`) carries on from the
saved state, running the interrupted action again. That is why actions and
compensations must be idempotent (see :attr:`StepContext.idempotency_key`).

Failures:

* An exception listed as transient by the step's :class:`RetryPolicy` is
  retried with exponential backoff and jitter (tenacity); so is a timeout
  (:class:`StepTimedOut`, a ``TimeoutError``) unless the policy leaves
  ``TimeoutError`` out.
* When the attempts are spent, or the error is not transient, the step fails
  and the completed steps are compensated in reverse order. The failed step is
  compensated as well when its outcome is unknown: it timed out, or its reply
  never came.
* A compensation that still fails after its retries leaves the saga
  ``failed``, with the error on the instance, for an operator; once the cause
  is fixed, :meth:`SagaCoordinator.retry` resumes the compensation.

Steps that ask another service for something (through the broker) declare
``awaits_reply=True``: the saga then waits, without holding a task, until the
service's answer is handed to :meth:`SagaCoordinator.reply`.

Steps never run inside someone else's transaction: called while a unit of
work is open (in a command or message handler), :meth:`SagaCoordinator.start`
and :meth:`SagaCoordinator.reply` only save the instance, due at once, and
wake the background loop, which runs the steps.
"""

import asyncio
import contextlib
import copy
import datetime as dt
import logging
import os
import socket
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import tenacity

from hexkernel.application._background import raise_if_stopping
from hexkernel.application.middleware import current_unit_of_work
from hexkernel.core.errors import ConcurrencyConflict, DuplicateKey, HexkernelError
from hexkernel.core.ids import new_id
from hexkernel.core.ports.saga_store import SagaStore
from hexkernel.core.sagas import (
    RetryPolicy,
    SagaAction,
    SagaDefinition,
    SagaDefinitionError,
    SagaState,
    SagaStatus,
    SagaStep,
    StepContext,
    StepStatus,
    StepTimedOut,
    describe_error,
)

__all__ = ("SagaCoordinator", "UnknownSagaType")

log = logging.getLogger("hexkernel.sagas")

Clock = Callable[[], dt.datetime]

# Steps in these states have (or may have) taken effect, so they are compensated.
_UNDOABLE = frozenset(
    {StepStatus.DONE, StepStatus.FAILED, StepStatus.AWAITING_REPLY, StepStatus.COMPENSATING}
)


# Saves lost in a row before a reply gives up looking (the instance keeps moving).
_REPLY_RACES = 20


class UnknownSagaType(HexkernelError, LookupError):
    """No definition is registered under a saga type name."""

    def __init__(self, saga_type: str) -> None:
        self.saga_type = saga_type
        super().__init__(f"no saga definition is registered as {saga_type!r}")


class _Lost(Exception):
    """Another coordinator saved the instance first: let go of it."""


def _early(definition: SagaDefinition, state: SagaState) -> bool:
    """Whether the current step awaits a reply, is under way and has none kept yet."""
    record = state.steps[state.step]
    return (
        definition.steps[state.step].awaits_reply
        and record.status in (StepStatus.PENDING, StepStatus.RUNNING)
        and record.early_reply is None
    )


def _inline() -> bool:
    """Whether steps may run in the caller's task: not inside a unit of work.

    A step run inside a command's or a message's unit of work would write in
    that transaction, which commits (or not) after the saga saved the step as
    done; so there the coordinator leaves the work to its background loop.
    """
    return current_unit_of_work() is None


def _utcnow() -> dt.datetime:
    now = dt.datetime.now(dt.UTC)
    # Millisecond precision, as MongoDB keeps datetimes: the state reads back equal.
    return now.replace(microsecond=now.microsecond - now.microsecond % 1000)


def _default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{new_id('crd')[-8:]}"


class SagaCoordinator:
    """Starts, runs, resumes and reports saga instances.

    Args:
        store: Where instances are kept (``SagaStore`` port).
        definitions: The saga types this coordinator runs.
        clock: The current time (UTC, aware); a seam for tests.
        owner: This coordinator's name in the instances it claims (default:
            host, process id and a random suffix).
        lease: Seconds a claim lasts beyond a step's timeout and backoff;
            after that, another coordinator may take the instance over. Keep
            step timeouts set, or make the lease longer than any step takes.
        poll_interval: Seconds between two looks for due instances in the
            background loop (:meth:`notify` wakes it early).
        batch_size: Due instances taken per look.
        concurrency: Instances advanced at the same time by the resume loop.
    """

    def __init__(
        self,
        store: SagaStore,
        definitions: Iterable[SagaDefinition] = (),
        *,
        clock: Clock | None = None,
        owner: str | None = None,
        lease: float = 30.0,
        poll_interval: float = 1.0,
        batch_size: int = 50,
        concurrency: int = 10,
    ) -> None:
        self._store = store
        self._definitions: dict[str, SagaDefinition] = {}
        self._clock = clock or _utcnow
        self.owner = owner or _default_owner()
        self._lease = lease
        self._poll_interval = poll_interval
        self._batch_size = batch_size
        self._concurrency = concurrency
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        for definition in definitions:
            self.register(definition)

    def __repr__(self) -> str:
        return f"<SagaCoordinator {self.owner} {sorted(self._definitions)}>"

    # ------------------------------------------------------------ definitions
    def register(self, definition: SagaDefinition) -> None:
        """Run instances of ``definition`` (its type name must be new to this coordinator).

        Raises:
            SagaDefinitionError: Another definition has the same type name.
        """
        known = self._definitions.get(definition.type)
        if known is not None and known is not definition:
            raise SagaDefinitionError(f"saga type {definition.type!r} is registered twice")
        self._definitions[definition.type] = definition

    @property
    def definitions(self) -> Mapping[str, SagaDefinition]:
        """The registered definitions, by type name."""
        return dict(self._definitions)

    def _definition(self, saga_type: str | SagaDefinition) -> SagaDefinition:
        name = saga_type.type if isinstance(saga_type, SagaDefinition) else saga_type
        try:
            return self._definitions[name]
        except KeyError:
            raise UnknownSagaType(name) from None

    # ---------------------------------------------------------------- starting
    async def begin(
        self,
        saga_type: str | SagaDefinition,
        data: Mapping[str, Any],
        *,
        saga_id: str | None = None,
    ) -> SagaState:
        """Store a new instance, due at once, and wake the background loop to run it.

        Args:
            saga_type: A registered definition, or its type name.
            data: The saga's initial data (JSON-like values).
            saga_id: The instance's id; give one derived from the request
                (an order id, a message id) and a repeated ``begin`` returns
                the existing instance instead of starting a second one.

        Returns:
            The stored instance (the existing one, for an id already used).

        Raises:
            UnknownSagaType: The type is not registered.
        """
        state = await self._create(saga_type, data, saga_id, claim=False)
        self.notify()
        return state

    async def start(
        self,
        saga_type: str | SagaDefinition,
        data: Mapping[str, Any],
        *,
        saga_id: str | None = None,
    ) -> SagaState:
        """Store a new instance and run it now, until it finishes or awaits a reply.

        Same arguments as :meth:`begin`. An id already used returns that
        instance as it is, without running it. Called inside a unit of work
        (a command or message handler), it only does what :meth:`begin` does:
        steps never run inside another transaction.

        Returns:
            The instance as this call left it.
        """
        definition = self._definition(saga_type)
        if not _inline():
            return await self.begin(definition, data, saga_id=saga_id)
        state = await self._create(definition, data, saga_id, claim=True)
        if state.owner != self.owner or state.version != 1:
            return state
        return await self._advance(definition, state)

    async def _create(
        self,
        saga_type: str | SagaDefinition,
        data: Mapping[str, Any],
        saga_id: str | None,
        *,
        claim: bool,
    ) -> SagaState:
        definition = self._definition(saga_type)
        now = self._clock()
        state = SagaState.begin(definition, saga_id or new_id("sag"), data, now)
        if claim:
            state.owner = self.owner
            state.wake_at = now + dt.timedelta(seconds=self._lease)
        try:
            created = await self._store.create(state)
        except DuplicateKey:
            return await self._store.get(state.id)
        log.info("saga %s %s begun", definition.type, created.id)
        return created

    # ------------------------------------------------------------- inspection
    async def get(self, saga_id: str) -> SagaState:
        """The instance ``saga_id``, as last saved.

        Raises:
            NotFound: No instance has that id.
        """
        return await self._store.get(saga_id)

    async def find(
        self,
        *,
        status: SagaStatus | Iterable[SagaStatus] | None = None,
        saga_type: str | None = None,
        limit: int = 100,
    ) -> list[SagaState]:
        """Instances by status and type, oldest first (for inspection endpoints)."""
        return await self._store.find(status=status, saga_type=saga_type, limit=limit)

    # ----------------------------------------------------------------- replies
    async def reply(
        self,
        saga_id: str,
        step: str,
        *,
        result: Any = None,
        failure: str | None = None,
        advance: bool = True,
    ) -> SagaState:
        """Hand in the answer a step awaits, then run the saga on.

        Idempotent: a reply for a step that is not (or no longer) awaiting one,
        a repeated delivery for instance, changes nothing and returns the
        instance as it is. The outcome is saved at once; the following steps
        run in this call when ``advance`` is true and no unit of work is open
        (not inside a message handler), otherwise in the background loop, which
        this call wakes. Either way the saga's own writes are not part of the
        caller's transaction: a redelivered reply is simply ignored.

        Args:
            saga_id: The instance.
            step: The name of the step that awaits the reply.
            result: The step's result when it succeeded.
            failure: A reason when it did not: the saga compensates the steps
                before this one (this one is taken as not done).
            advance: Run the following steps in this call (when allowed).

        Returns:
            The instance as this call left it.

        Raises:
            NotFound: No instance has that id.
        """
        for _ in range(_REPLY_RACES):
            state = await self._store.get(saga_id)
            record = state.current
            if state.status is not SagaStatus.RUNNING or record is None or record.name != step:
                log.info("saga %s: reply to %s ignored (not awaited)", saga_id, step)
                return state
            definition = self._definition(state.type)
            if record.status is not StepStatus.AWAITING_REPLY:
                if not _early(definition, state):
                    log.info("saga %s: reply to %s ignored (not awaited)", saga_id, step)
                    return state
                # The answer overtook the action's own save: keep it for the
                # coordinator running the action, which applies it (see _run_action).
                record.early_reply = {"result": result, "failure": failure}
                state.updated_at = self._clock()
                try:
                    return await self._store.save(state)
                except ConcurrencyConflict:
                    continue
            inline = advance and _inline()
            try:
                state = await self._apply_reply(state, result, failure, claim=inline)
            except _Lost:
                continue  # someone else moved it meanwhile: look again
            if not inline:
                self.notify()
                return state
            return await self._advance(definition, state)
        return await self._store.get(saga_id)

    async def _apply_reply(
        self, state: SagaState, result: Any, failure: str | None, *, claim: bool = True
    ) -> SagaState:
        """Settle the awaiting current step with a reply and save (``_Lost`` on a conflict)."""
        record = state.steps[state.step]
        record.early_reply = None
        if failure is not None:
            return await self._fail(state, state.step, failure, undo_failed=False, claim=claim)
        now = self._clock()
        record.status = StepStatus.DONE
        record.result = result
        record.finished_at = now
        record.deadline = None
        state.step += 1
        state.wake_at = now + dt.timedelta(seconds=self._lease if claim else 0)
        return await self._save(state)

    # ------------------------------------------------------------- operators
    async def retry(self, saga_id: str) -> SagaState:
        """Resume the compensation of a ``failed`` instance (after its cause was fixed).

        The compensation that kept failing gets a fresh set of attempts.

        Returns:
            The instance as this call left it (unchanged unless it had failed).

        Raises:
            NotFound: No instance has that id.
        """
        state = await self._store.get(saga_id)
        record = state.current
        if state.status is not SagaStatus.FAILED or record is None:
            return state
        definition = self._definition(state.type)
        record.status = StepStatus.DONE
        record.compensation_attempts = 0
        state.status = SagaStatus.COMPENSATING
        state.error = state.failure
        state.wake_at = self._clock() + dt.timedelta(seconds=self._lease if _inline() else 0)
        try:
            state = await self._save(state)
        except _Lost:
            return await self._store.get(saga_id)
        if not _inline():
            self.notify()
            return state
        return await self._advance(definition, state)

    async def resume(self, saga_id: str) -> SagaState:
        """Advance one unfinished instance now, as the resume loop would once it is due.

        Returns:
            The instance as this call left it.

        Raises:
            NotFound: No instance has that id.
            UnknownSagaType: Its type is not registered here.
        """
        state = await self._store.get(saga_id)
        if state.finished or not _inline():
            self.notify()
            return state
        return await self._advance(self._definition(state.type), state)

    # ------------------------------------------------------------- the loop
    async def resume_due(self) -> int:
        """Advance every instance that is due now (new, abandoned by a dead coordinator, overdue).

        Returns:
            How many due instances were found.
        """
        due = await self._store.due(self._clock(), limit=self._batch_size)
        runnable = [s for s in due if s.type in self._definitions]
        if len(runnable) < len(due):
            log.warning("due sagas of types this coordinator does not run were left alone")
        limit = asyncio.Semaphore(self._concurrency)

        async def advance(state: SagaState) -> None:
            async with limit:
                try:
                    await self._advance(self._definitions[state.type], state)
                except Exception:
                    log.exception("saga %s %s could not be advanced", state.type, state.id)

        async with asyncio.TaskGroup() as group:
            for state in runnable:
                group.create_task(advance(state))
        return len(runnable)

    async def run_forever(self) -> None:
        """Resume due instances until cancelled; a failing look is logged and retried later."""
        # A fresh event for each run: an asyncio.Event belongs to the loop that first waits on it.
        self._wake = asyncio.Event()
        pause = self._poll_interval
        while True:
            try:
                found = await self.resume_due()
                pause = self._poll_interval
            except Exception:
                raise_if_stopping()
                log.exception("looking for due sagas failed")
                found, pause = 0, min(pause * 2, 30.0)
            if found >= self._batch_size:
                continue  # more may be waiting
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), pause)

    def notify(self) -> None:
        """Wake the background loop now (a new instance is due)."""
        self._wake.set()

    async def start_background(self) -> None:
        """Run :meth:`run_forever` as a background task (call from the app's start-up)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run_forever(), name="hexkernel-sagas")

    async def stop_background(self) -> None:
        """Cancel the background task and wait for it (call from the app's shutdown).

        Instances it was advancing keep their claim until the lease ends; the
        next coordinator resumes them.
        """
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @property
    def running(self) -> bool:
        """Whether the background loop runs."""
        return self._task is not None and not self._task.done()

    # ------------------------------------------------------------- stepping
    async def _advance(self, definition: SagaDefinition, state: SagaState) -> SagaState:
        """Run ``state`` on until it is final, awaits a reply, or another coordinator has it."""
        try:
            while not state.finished:
                if state.status is SagaStatus.RUNNING:
                    record = state.current
                    if record is None:
                        state.status = SagaStatus.COMPLETED
                        state.wake_at = None
                        state = await self._save(state)
                        log.info("saga %s %s completed", state.type, state.id)
                    elif record.status is StepStatus.AWAITING_REPLY and record.early_reply:
                        state = await self._apply_reply(state, **record.early_reply)
                    elif record.status is StepStatus.AWAITING_REPLY:
                        if record.deadline is None or self._clock() < record.deadline:
                            return state
                        seconds = definition.steps[state.step].reply_timeout or 0.0
                        timed_out = describe_error(StepTimedOut(record.name, seconds))
                        state = await self._fail(state, state.step, timed_out, undo_failed=True)
                    else:
                        state = await self._run_action(definition, state)
                elif state.step < 0:
                    state.status = SagaStatus.COMPENSATED
                    state.wake_at = None
                    state = await self._save(state)
                    log.info("saga %s %s compensated", state.type, state.id)
                else:
                    state = await self._run_compensation(definition, state)
        except _Lost:
            log.info("saga %s %s was advanced by another coordinator", state.type, state.id)
            return await self._store.get(state.id)
        return state

    async def _save(self, state: SagaState) -> SagaState:
        state.updated_at = self._clock()
        state.owner = self.owner
        try:
            return await self._store.save(state)
        except ConcurrencyConflict:
            raise _Lost from None

    def _claim_until(self, step: SagaStep, policy: RetryPolicy) -> dt.datetime:
        seconds = self._lease + (step.timeout or 0.0) + policy.max_backoff
        return self._clock() + dt.timedelta(seconds=seconds)

    async def _attempts(
        self,
        definition: SagaDefinition,
        state: SagaState,
        *,
        compensating: bool,
    ) -> tuple[SagaState, StepContext, Any, BaseException | None]:
        """Run the current step's action or compensation with retries.

        Each attempt is claimed (counted and saved) before it runs, so a crash
        counts it too. Returns the latest saved state, the last attempt's
        context, its result, and the error if no attempt succeeded.
        """
        index = state.step
        step = definition.steps[index]
        policy = step.compensation_retry if compensating else step.retry
        function = step.compensation if compensating else step.action
        if function is None:  # pragma: no cover - callers check
            raise AssertionError("no callable to run")
        used = (
            state.steps[index].compensation_attempts
            if compensating
            else state.steps[index].attempts
        )
        remaining = policy.attempts - used
        context = self._context(definition, state, compensating=compensating)
        if remaining <= 0:
            error = state.steps[index].error or "interrupted"
            return state, context, None, _Exhausted(step.name, policy.attempts, error)
        retrying = tenacity.AsyncRetrying(
            stop=tenacity.stop_after_attempt(remaining),
            wait=tenacity.wait_exponential(multiplier=policy.backoff, max=policy.max_backoff)
            + tenacity.wait_random(0, policy.backoff),
            retry=tenacity.retry_if_exception(
                lambda exc: not isinstance(exc, _Lost) and policy.is_transient(exc)
            ),
            reraise=True,
        )
        result: Any = None
        try:
            async for attempt in retrying:
                with attempt:
                    state = await self._claim(state, step, policy, compensating=compensating)
                    context = self._context(definition, state, compensating=compensating)
                    try:
                        result = await _call(function, context, step)
                    except Exception as exc:
                        state.steps[index].error = describe_error(exc)
                        log.warning(
                            "saga %s %s: %s%s attempt %d failed: %s",
                            state.type,
                            state.id,
                            step.name,
                            " compensation" if compensating else "",
                            context.attempt,
                            type(exc).__name__,
                        )
                        raise
        except _Lost:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure of user code fails the step
            return state, context, None, exc
        return state, context, result, None

    async def _claim(
        self, state: SagaState, step: SagaStep, policy: RetryPolicy, *, compensating: bool
    ) -> SagaState:
        record = state.steps[state.step]
        now = self._clock()
        if compensating:
            record.compensation_attempts += 1
            record.status = StepStatus.COMPENSATING
        else:
            record.attempts += 1
            record.status = StepStatus.RUNNING
            record.started_at = record.started_at or now
        state.wake_at = self._claim_until(step, policy)
        return await self._save(state)

    def _context(
        self, definition: SagaDefinition, state: SagaState, *, compensating: bool
    ) -> StepContext:
        record = state.steps[state.step]
        return StepContext(
            saga_id=state.id,
            saga_type=definition.type,
            step=record.name,
            data=copy.deepcopy(state.data),
            results=state.results,
            attempt=record.compensation_attempts if compensating else record.attempts,
            compensating=compensating,
            failure=state.failure if compensating else None,
        )

    async def _run_action(self, definition: SagaDefinition, state: SagaState) -> SagaState:
        index = state.step
        step = definition.steps[index]
        state, context, result, error = await self._attempts(definition, state, compensating=False)
        if error is not None:
            # A timed-out action may have taken effect after all: undo it too.
            unknown = isinstance(error, (TimeoutError, _Exhausted))
            return await self._fail(state, index, describe_error(error), undo_failed=unknown)
        now = self._clock()
        record = state.steps[index]
        record.result = result
        record.error = None
        record.finished_at = now
        state.data = context.data
        if step.awaits_reply:
            record.status = StepStatus.AWAITING_REPLY
            if step.reply_timeout is not None:
                record.deadline = now + dt.timedelta(seconds=step.reply_timeout)
            state.wake_at = record.deadline
            try:
                return await self._save(state)
            except _Lost:
                return await self._keep_early_reply(state, index)
        else:
            record.status = StepStatus.DONE
            state.step += 1
            state.wake_at = now + dt.timedelta(seconds=self._lease)
        return await self._save(state)

    async def _keep_early_reply(self, state: SagaState, index: int) -> SagaState:
        """Save the action's outcome on top of a reply that came in meanwhile.

        The reply's save moved the version under this coordinator; anything
        else that moved it (another coordinator's claim) still means letting go.
        """
        stored = await self._store.get(state.id)
        mine = state.steps[index]
        theirs = stored.steps[index]
        if (
            stored.status is not SagaStatus.RUNNING
            or stored.step != index
            or stored.owner != self.owner
            or theirs.attempts != mine.attempts
            or theirs.early_reply is None
        ):
            raise _Lost
        mine.early_reply = theirs.early_reply
        state.version = stored.version
        return await self._save(state)

    async def _fail(
        self, state: SagaState, index: int, reason: str, *, undo_failed: bool, claim: bool = True
    ) -> SagaState:
        record = state.steps[index]
        record.status = StepStatus.FAILED
        record.error = reason
        record.finished_at = self._clock()
        record.deadline = None
        state.status = SagaStatus.COMPENSATING
        state.failed_step = record.name
        state.failure = state.error = reason
        state.step = index if undo_failed else index - 1
        state.wake_at = self._clock() + dt.timedelta(seconds=self._lease if claim else 0)
        log.warning("saga %s %s: step %s failed; compensating", state.type, state.id, record.name)
        return await self._save(state)

    async def _run_compensation(self, definition: SagaDefinition, state: SagaState) -> SagaState:
        index = state.step
        step = definition.steps[index]
        record = state.steps[index]
        if step.compensation is None or record.status not in _UNDOABLE:
            state.step -= 1  # nothing to undo here; saved with the next change
            return state
        state, context, _, error = await self._attempts(definition, state, compensating=True)
        record = state.steps[index]
        if error is not None:
            record.status = StepStatus.COMPENSATION_FAILED
            record.error = describe_error(error)
            state.status = SagaStatus.FAILED
            state.error = f"compensation of {step.name} failed: {record.error}"
            state.wake_at = None
            log.error("saga %s %s: compensation of %s failed", state.type, state.id, step.name)
            return await self._save(state)
        record.status = StepStatus.COMPENSATED
        record.error = None
        state.data = context.data
        state.step -= 1
        state.wake_at = self._clock() + dt.timedelta(seconds=self._lease)
        return await self._save(state)


class _Exhausted(HexkernelError):
    """A step's attempts were all used up before this coordinator got to it (crashes)."""

    def __init__(self, step: str, attempts: int, last_error: str) -> None:
        super().__init__(f"step {step!r} used its {attempts} attempts; last: {last_error}")


async def _call(function: SagaAction, context: StepContext, step: SagaStep) -> Any:
    if step.timeout is None:
        return await function(context)
    try:
        async with asyncio.timeout(step.timeout):
            return await function(context)
    except TimeoutError:
        raise StepTimedOut(step.name, step.timeout) from None
