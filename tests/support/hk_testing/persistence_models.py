"""Sample Models for the repository and unit-of-work contracts.

Each one exercises one side of persistence: ``Chore`` the query DSL and atomic
updates, ``Sample`` the storage form of every supported type, ``Memo`` a
predefined (soft-delete) filter, and ``Account`` declared indexes.
"""

import datetime as dt
import uuid
from decimal import Decimal

from hexkernel.core import Field, Model
from hexkernel.core import validators as v
from hexkernel.core.persistence import Index, predefined_filter
from hexkernel.core.query import Expr
from hk_testing.models import Address, Level, Line, Status


class Chore(Model, prefix="chr", collection="chores"):
    """A small document with something for every query operator."""

    title: str = Field(validators=[v.NotEmpty(), v.Length(max=80)])
    status: Status = Status.OPEN
    priority: int = Field(default=3, validators=[v.Range(min=1, max=5)])
    tags: list[str] = Field(factory=list)
    estimate: float | None = None
    due: dt.date | None = None
    home: Address | None = None
    note: str = ""


class Sample(Model, prefix="smp", collection="samples"):
    """One field of every type a document stores."""

    text: str
    quantity: int
    ratio: float
    flag: bool
    amount: Decimal
    ref: uuid.UUID
    moment: dt.datetime
    day: dt.date
    status: Status
    level: Level
    maybe: int | None = None
    names: list[str] = Field(factory=list)
    labels: set[str] = Field(factory=set)
    scores: dict[str, float] = Field(factory=dict)
    home: Address | None = None
    lines: list[Line] = Field(factory=list)


class Memo(Model, prefix="mem", collection="memos"):
    """A soft-deletable document: deleted memos are hidden from every operation."""

    body: str
    deleted: bool = False

    @predefined_filter
    def _live(cls) -> Expr:  # noqa: N805 - predefined_filter makes it a classmethod
        return cls.deleted == False  # noqa: E712 - builds a query condition


class Account(
    Model, prefix="acc", collection="accounts", indexes=[Index.of("project", "-priority")]
):
    """A document declaring a unique, a plain, a text and a compound index."""

    email: str = Field(unique=True)
    team: str = Field(index=True)
    bio: str = Field(default="", text=True)
    project: str = "core"
    priority: int = Field(default=3, validators=[v.Range(min=1, max=5)])


ACCOUNT_INDEXES = frozenset({"email_1", "team_1", "project_1_priority_-1", "accounts_text"})
"""The index names ``Account`` declares, as ``sync()`` reports them."""


class Article(Model, prefix="art", collection="articles"):
    """Text-indexed fields, lists of plain values and of embedded documents, a hidden field."""

    title: str = Field(text=True)
    body: str = Field(default="", text=True)
    section: str = "news"
    scores: list[int] = Field(factory=list)
    lines: list[Line] = Field(factory=list)
    secret: str = Field(default="hunter22", exclude=True)
    home: Address | None = None
