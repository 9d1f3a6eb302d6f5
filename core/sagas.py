"""Orchestrated sagas: declarative definitions and the persisted state of an instance.

A saga is a sequence of local steps, each with an *action* and, when the
action has an effect to undo, a *compensation*. The coordinator
(:class:`hexkernel.application.sagas.SagaCoordinator`) runs the actions in
order and, when one fails, runs the compensations of the completed steps in
reverse order. Everything the coordinator knows about an instance lives in a
:class:`SagaState`, saved through the
:class:`~hexkernel.core.ports.saga_store.SagaStore` port after every change, so
a coordinator started after a crash picks up where the dead one stopped::

    create_order = SagaDefinition(
        "orders.CreateOrder",
        [
            SagaStep("create_order", action=create_pending, compensation=reject),
            SagaStep("reserve_credit", action=ask_for_credit, awaits_reply=True,
                     reply_timeout=30.0),
            SagaStep("approve_order", action=approve),
        ],
    )

Actions and compensations run **at least once**: a coordinator that dies
while one runs cannot know whether its effect happened, so the next one runs
it again. Write them to be idempotent, keyed by :attr:`StepContext.idempotency_key`
(the saga id and the step's name), e.g. through the idempotent-consumer inbox
of the receiving service.

The module is pure: the retry policy is data that the coordinator turns into
tenacity calls, and no I/O happens here.
"""

import datetime as dt
import enum
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import attrs
import cattrs

from hexkernel.core.errors import HexkernelError, InfrastructureError

__all__ = (
    "FINAL_STATUSES",
    "RetryPolicy",
    "SagaAction",
    "SagaDefinition",
    "SagaDefinitionError",
    "SagaState",
    "SagaStatus",
    "SagaStep",
    "StepContext",
    "StepRecord",
    "StepStatus",
    "StepTimedOut",
    "describe_error",
    "step_index",
)


class SagaStatus(enum.StrEnum):
    """Where a saga instance stands."""

    RUNNING = "running"
    """Actions are being run (or a reply is awaited)."""
    COMPENSATING = "compensating"
    """A step failed; the completed steps are being undone, last first."""
    COMPLETED = "completed"
    """Every action succeeded (final)."""
    COMPENSATED = "compensated"
    """A step failed and every completed step was undone (final)."""
    FAILED = "failed"
    """A compensation kept failing: an operator must look (final until retried)."""


FINAL_STATUSES = frozenset({SagaStatus.COMPLETED, SagaStatus.COMPENSATED, SagaStatus.FAILED})
"""The statuses a coordinator does not advance by itself."""


class StepStatus(enum.StrEnum):
    """Where one step of a saga instance stands."""

    PENDING = "pending"
    RUNNING = "running"
    AWAITING_REPLY = "awaiting_reply"
    DONE = "done"
    FAILED = "failed"
    COMPENSATING = "compensating"
    COMPENSATED = "compensated"
    COMPENSATION_FAILED = "compensation_failed"


class SagaDefinitionError(HexkernelError, ValueError):
    """A saga definition is malformed (no steps, a duplicate step name, a bad policy)."""


class StepTimedOut(HexkernelError, TimeoutError):
    """A step's action or compensation, or the reply it awaited, took longer than allowed.

    Attributes:
        step: The step's name.
        seconds: The limit that was exceeded.
    """

    def __init__(self, step: str, seconds: float) -> None:
        self.step = step
        self.seconds = seconds
        super().__init__(f"step {step!r} did not finish within {seconds:g} s")


def _positive(_: Any, attribute: "attrs.Attribute[Any]", value: float | None) -> None:
    if value is not None and value <= 0:
        raise SagaDefinitionError(f"{attribute.name} must be positive")


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How a step's action (or compensation) is retried after a transient failure.

    The delay before attempt ``n + 1`` grows exponentially from ``backoff``
    up to ``max_backoff``, with random jitter so that many sagas failing at
    once do not retry in step.

    Attributes:
        attempts: How many times the callable is run at most (1: never retried).
            An attempt interrupted by a crash counts.
        backoff: The first delay, in seconds.
        max_backoff: The longest delay, in seconds.
        transient: The exception types worth retrying; anything else fails
            the step at once. A step timeout (:class:`StepTimedOut`, a
            ``TimeoutError``) is retried when ``TimeoutError`` is listed.
    """

    attempts: int = attrs.field(default=3)
    backoff: float = attrs.field(default=0.1, validator=_positive)
    max_backoff: float = attrs.field(default=5.0, validator=_positive)
    transient: tuple[type[BaseException], ...] = (InfrastructureError, TimeoutError)

    @attempts.validator
    def _check_attempts(self, _: "attrs.Attribute[int]", value: int) -> None:
        if value < 1:
            raise SagaDefinitionError("attempts must be at least 1")

    def is_transient(self, error: BaseException) -> bool:
        """Whether ``error`` is worth another attempt."""
        return isinstance(error, self.transient)


@attrs.define(kw_only=True)
class StepContext:
    """What an action or compensation receives.

    Attributes:
        saga_id: The instance's id.
        saga_type: The definition's type name.
        step: The step's name.
        data: The saga's data, a copy: changes made by a successful action are
            saved with the step; those of a failed attempt are dropped.
        results: The results of the steps completed so far, by step name.
        attempt: 1 on the first run of this action or compensation, then 2, ...
        compensating: Whether this is the compensation.
        failure: While compensating, why the saga is compensating: the
            reason given to ``SagaCoordinator.reply(failure=...)``, or the
            failed step's error (``"ExceptionType: message"``).
    """

    saga_id: str
    saga_type: str
    step: str
    data: dict[str, Any]
    results: Mapping[str, Any]
    attempt: int
    compensating: bool = False
    failure: str | None = None

    @property
    def idempotency_key(self) -> str:
        """A key unique to this step of this saga (and to its compensation).

        Every attempt, in every coordinator, gets the same key: pass it with
        the command or message the step sends, so that the receiver can
        refuse a repetition (the inbox of an idempotent consumer).
        """
        suffix = ":compensation" if self.compensating else ""
        return f"{self.saga_id}:{self.step}{suffix}"


SagaAction = Callable[[StepContext], Awaitable[Any]]
"""An action or compensation: an async callable taking the step's context.

What an action returns is kept as the step's result (it must be a JSON-like
value: dicts, lists, strings, numbers, booleans, ``None``).
"""


@attrs.frozen
class SagaStep:
    """One step of a saga: ``SagaStep("reserve_credit", action=..., compensation=...)``.

    Attributes:
        name: Unique in its saga; part of the idempotency key, so never rename
            a step while instances of the saga are unfinished.
        action: Runs the step.
        compensation: Undoes a completed action; ``None`` when there is
            nothing to undo (a read, the last step).
        retry: Retries of the action.
        compensation_retry: Retries of the compensation; it must eventually
            succeed, so by default it is tried more often.
        timeout: Seconds one attempt of the action or compensation may take
            (``None``: no limit).
        awaits_reply: After the action (which typically sends a command to
            another service), the saga waits until
            ``SagaCoordinator.reply(...)`` reports the outcome.
        reply_timeout: Seconds to wait for that reply; past it the step fails
            and the saga compensates, this step included (its outcome is
            unknown). ``None`` waits forever.
    """

    name: str = attrs.field()
    action: SagaAction = attrs.field(kw_only=True)
    compensation: SagaAction | None = attrs.field(default=None, kw_only=True)
    retry: RetryPolicy = attrs.field(default=RetryPolicy(), kw_only=True)
    compensation_retry: RetryPolicy = attrs.field(
        default=RetryPolicy(attempts=10, max_backoff=30.0), kw_only=True
    )
    timeout: float | None = attrs.field(default=None, validator=_positive, kw_only=True)
    awaits_reply: bool = attrs.field(default=False, kw_only=True)
    reply_timeout: float | None = attrs.field(default=None, validator=_positive, kw_only=True)

    @name.validator
    def _check_name(self, _: "attrs.Attribute[str]", value: str) -> None:
        if not value or ":" in value:
            raise SagaDefinitionError("a step needs a name without ':'")


def _step_tuple(steps: Iterable[SagaStep]) -> tuple[SagaStep, ...]:
    return tuple(steps)


@attrs.frozen
class SagaDefinition:
    """A saga type: a stable type name and its steps, in order.

    Attributes:
        type: The stable name stored with each instance (never change it while
            instances are unfinished): the coordinator finds the steps by it.
        steps: The steps, run in this order and compensated in reverse.
    """

    type: str
    steps: tuple[SagaStep, ...] = attrs.field(converter=_step_tuple)

    def __attrs_post_init__(self) -> None:
        if not self.type:
            raise SagaDefinitionError("a saga definition needs a type name")
        if not self.steps:
            raise SagaDefinitionError(f"saga {self.type!r} has no steps")
        names = [s.name for s in self.steps]
        if len(set(names)) != len(names):
            raise SagaDefinitionError(f"saga {self.type!r} repeats a step name")

    @property
    def step_names(self) -> tuple[str, ...]:
        """The names of the steps, in order."""
        return tuple(s.name for s in self.steps)


@attrs.define(kw_only=True)
class StepRecord:
    """The persisted progress of one step.

    Attributes:
        name: The step's name.
        status: Where it stands.
        attempts: Runs of the action so far (including any a crash cut short).
        compensation_attempts: Runs of the compensation so far.
        result: What the action returned, or the reply's result.
        error: The last error, as ``"ExceptionType: message"``.
        started_at: When the first attempt started.
        finished_at: When the action (or reply) last settled.
        deadline: When an awaited reply is due.
        early_reply: A reply that came while the action was still running
            (``{"result": ..., "failure": ...}``); it is applied as soon as
            the action's outcome is saved.
    """

    name: str
    status: StepStatus = StepStatus.PENDING
    attempts: int = 0
    compensation_attempts: int = 0
    result: Any = None
    error: str | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    deadline: dt.datetime | None = None
    early_reply: dict[str, Any] | None = None


@attrs.define(kw_only=True)
class SagaState:
    """One saga instance, as the store keeps it.

    Attributes:
        id: The instance's id (given by the caller, or ``sag_<ULID>``).
        type: The definition's type name.
        status: Where the instance stands.
        step: The index of the current step: the next to run (running) or to
            compensate (compensating).
        data: The saga's data (JSON-like values).
        steps: One record per step of the definition, in order.
        version: Increased by each save; a save at an outdated version raises
            :class:`~hexkernel.core.errors.ConcurrencyConflict`.
        created_at: When the instance began.
        updated_at: When it was last saved.
        wake_at: When a coordinator should next look at it: the end of the
            current coordinator's lease, a reply's deadline, or ``None`` (final,
            or waiting for a reply without a deadline).
        owner: The coordinator that last claimed it.
        failed_step: The step whose failure started the compensation.
        failure: Why it compensates: the failed step's error, or the reason
            a reply gave.
        error: The last error met: the failure, or once failed, the error of
            the compensation that kept failing.
    """

    id: str
    type: str
    status: SagaStatus = SagaStatus.RUNNING
    step: int = 0
    data: dict[str, Any] = attrs.Factory(dict)
    steps: list[StepRecord] = attrs.Factory(list)
    version: int = 0
    created_at: dt.datetime
    updated_at: dt.datetime
    wake_at: dt.datetime | None = None
    owner: str | None = None
    failed_step: str | None = None
    failure: str | None = None
    error: str | None = None

    @classmethod
    def begin(
        cls, definition: SagaDefinition, saga_id: str, data: Mapping[str, Any], now: dt.datetime
    ) -> "SagaState":
        """A new instance of ``definition``, at its first step, due at ``now``."""
        return cls(
            id=saga_id,
            type=definition.type,
            data=dict(data),
            steps=[StepRecord(name=n) for n in definition.step_names],
            created_at=now,
            updated_at=now,
            wake_at=now,
        )

    @property
    def finished(self) -> bool:
        """Whether the status is final (completed, compensated or failed)."""
        return self.status in FINAL_STATUSES

    @property
    def current(self) -> StepRecord | None:
        """The record of the current step, if the index points at one."""
        return self.steps[self.step] if 0 <= self.step < len(self.steps) else None

    @property
    def results(self) -> dict[str, Any]:
        """The results of the completed steps, by name."""
        done = {StepStatus.DONE, StepStatus.COMPENSATING, StepStatus.COMPENSATED}
        return {s.name: s.result for s in self.steps if s.status in done}

    def to_document(self) -> dict[str, Any]:
        """The state as a document of plain values (datetimes stay datetimes)."""
        document: dict[str, Any] = _CONVERTER.unstructure(self)
        return document

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> "SagaState":
        """Rebuild a state from :meth:`to_document`'s form (extra keys, such as ``_id``, ignored).

        Naive datetimes (a driver that drops the zone) are read as UTC.
        """
        known = {f.name for f in attrs.fields(cls)}
        fields = {k: v for k, v in document.items() if k in known}
        if "id" not in fields and "_id" in document:
            fields["id"] = document["_id"]
        return _CONVERTER.structure(fields, cls)


def _structure_datetime(value: Any, _: type[Any]) -> dt.datetime:
    if not isinstance(value, dt.datetime):
        raise TypeError("expected a datetime")
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _copy_value(value: Any, _: type[Any]) -> Any:
    return value


# The state's own converter: datetimes pass through unchanged in both
# directions (the stores keep them natively), data and results as they are.
_CONVERTER = cattrs.Converter()
_CONVERTER.register_structure_hook(dt.datetime, _structure_datetime)
_CONVERTER.register_structure_hook(Any, _copy_value)


def step_index(definition: SagaDefinition, name: str) -> int:
    """The position of the step called ``name`` in ``definition``.

    Raises:
        SagaDefinitionError: The definition has no such step.
    """
    for index, step in enumerate(definition.steps):
        if step.name == name:
            return index
    raise SagaDefinitionError(f"saga {definition.type!r} has no step {name!r}")


def describe_error(error: BaseException) -> str:
    """``"ExceptionType: message"``, the form kept in the saga's state."""
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
