"""Sample Models used across the test suite; together they use every supported type."""

import datetime as dt
import enum
import uuid
from decimal import Decimal
from typing import Literal

import argon2

from hexkernel.core import Embedded, Field, Model
from hexkernel.core import validators as v
from hexkernel.core.actions import action
from hexkernel.core.converters import HashPassword, lower, normalize_text, strip
from hexkernel.core.generators import CurrentUser, Timestamp, Uuid4
from hexkernel.core.marshallers import DateAsDatetime, EpochMillis, EpochSeconds

# Cheap argon2 parameters keep the suite fast; production uses the defaults.
FAST_HASHER = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


class Status(enum.Enum):
    OPEN = "open"
    DOING = "doing"
    DONE = "done"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Address(Embedded):
    """A postal address."""

    street: str = Field(validators=[v.NotEmpty()])
    city: str = Field(validators=[v.NotEmpty(), v.Length(max=60)])
    zip: str | None = Field(default=None, validators=[v.Pattern(r"^[0-9]{5}$")])


class Line(Embedded):
    sku: str = Field(validators=[v.Pattern(r"^[A-Z]{3}-[0-9]{3}$")])
    quantity: int = Field(validators=[v.Range(min=1, max=1000)])
    price: Decimal = Field(validators=[v.Range(min=Decimal(0))])


class Task(Model, prefix="tsk"):
    """A unit of work on a board."""

    title: str = Field(converters=[normalize_text], validators=[v.NotEmpty(), v.Length(max=200)])
    status: Status = Status.OPEN
    priority: int = Field(default=3, validators=[v.Range(min=1, max=5)])
    tags: list[str] = Field(
        factory=list, validators=[v.UniqueItems(), v.Each(v.Length(min=1, max=20))]
    )
    due: dt.date | None = None
    estimate: float | None = Field(default=None, validators=[v.Range(min=0, exclusive_min=True)])
    owner: str | None = Field(factory=CurrentUser())

    @action(available=lambda task: task.status is not Status.DONE)
    async def complete(self) -> None:
        self.status = Status.DONE

    @action
    async def reprioritise(self, priority: int, reason: str = "") -> None:
        self.priority = priority
        if reason:
            self.tags = [*self.tags, reason]


class Everything(Model):
    """One field of every supported type (and a few marshallers)."""

    text: str
    count: int
    ratio: float
    flag: bool
    amount: Decimal
    ref: uuid.UUID
    moment: dt.datetime
    day: dt.date
    status: Status
    level: Level
    mode: Literal["fast", "slow"]
    maybe: int | None = None
    names: list[str] = Field(factory=list)
    labels: set[str] = Field(factory=set)
    frozen: frozenset[int] = Field(factory=frozenset)
    scores: dict[str, float] = Field(factory=dict)
    home: Address | None = None
    lines: list[Line] = Field(factory=list)
    stamp: dt.datetime | None = Field(default=None, marshaller=EpochSeconds())
    stamp_ms: dt.datetime | None = Field(default=None, marshaller=EpochMillis())
    birthday: dt.date | None = Field(default=None, marshaller=DateAsDatetime())


class User(Model, prefix="usr"):
    email: str = Field(converters=[strip, lower], validators=[v.Email()])
    name: str = Field(validators=[v.NotEmpty()])
    password: str = Field(
        exclude=True,
        converters=[HashPassword(FAST_HASHER)],
        validators=[v.Length(min=8, max=64)],
    )
    homepage: str | None = Field(default=None, validators=[v.Url()])
    roles: list[str] = Field(
        factory=lambda: ["user"], validators=[v.Each(v.OneOf(["user", "admin"])), v.UniqueItems()]
    )
    born: dt.date | None = Field(default=None, validators=[v.Past()])


class Audited(Model):
    ref: uuid.UUID = Field(factory=Uuid4())
    created: dt.datetime = Field(factory=Timestamp())
    changed: dt.datetime = Field(factory=Timestamp(on="update"))
    created_by: str | None = Field(factory=CurrentUser())
    changed_by: str | None = Field(factory=CurrentUser(on="update"))
    note: str = ""
