"""The taskboard's domain: Users, Projects and Tasks, declared once.

Each Model states its rules, its wire format and who may do what with it
(``access=``); the REST resources, the OpenAPI document and the stores all
follow from these declarations.
"""

import datetime as dt
import enum

from hexkernel.core import Field, Model
from hexkernel.core import validators as v
from hexkernel.core.access import Access, Anyone, Authenticated, Owner, Role
from hexkernel.core.actions import action
from hexkernel.core.converters import HashPassword, lower, normalize_text, strip
from hexkernel.core.generators import CurrentUser

ADMIN = Role("admin")


class User(
    Model,
    prefix="usr",
    access=Access(
        create=Anyone(),  # sign-up
        list=ADMIN,
        read=Owner("id") | ADMIN,  # oneself, or an admin
        update=Owner("id") | ADMIN,
        delete=ADMIN,
        fields={"roles": ADMIN},  # only an admin may set roles
    ),
):
    """Somebody who signs in (with the e-mail address as user name)."""

    name: str = Field(
        converters=[normalize_text], validators=[v.Length(min=3, max=50)], unique=True
    )
    email: str = Field(converters=[strip, lower], validators=[v.Email()], unique=True)
    password: str = Field(
        exclude=True, converters=[HashPassword()], validators=[v.Length(min=8, max=128)]
    )
    roles: list[str] = Field(factory=lambda: ["user"], validators=[v.UniqueItems()])


class Project(
    Model,
    prefix="prj",
    access=Access(
        read=Authenticated(),
        create=Authenticated(),
        update=Owner("owner") | ADMIN,
        delete=Owner("owner") | ADMIN,
    ),
):
    """A group of tasks with a common goal."""

    name: str = Field(
        converters=[normalize_text], validators=[v.Length(min=1, max=100)], unique=True
    )
    description: str | None = Field(default=None, validators=[v.Length(max=2000)])
    owner: str | None = Field(factory=CurrentUser(), read_only=True)
    tags: list[str] = Field(factory=list)


class Status(enum.Enum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    DONE = "done"


class Task(
    Model,
    prefix="tsk",
    access=Access(
        rows=Owner("owner") | ADMIN,  # a user sees only their own tasks, everywhere
        read=Authenticated(),
        create=Authenticated(),
        update=Authenticated(),
        delete=Authenticated(),
    ),
):
    """A unit of work inside a project."""

    project: str = Field(reference=Project, index=True)
    title: str = Field(
        converters=[normalize_text], validators=[v.Length(min=1, max=200)], text=True
    )
    description: str | None = Field(default=None, validators=[v.Length(max=5000)], text=True)
    status: Status = Status.OPEN
    priority: int = Field(default=3, validators=[v.Range(min=1, max=5)])
    due: dt.date | None = None
    tags: list[str] = Field(factory=list)
    owner: str | None = Field(factory=CurrentUser(), read_only=True)
    completed_at: dt.datetime | None = Field(default=None, read_only=True)

    @action(available=lambda task: task.status is not Status.DONE, idempotent=True)
    async def complete(self) -> None:
        """Mark the task done, now (linked only while it is not done; calling it again is fine)."""
        self.status = Status.DONE
        self.completed_at = dt.datetime.now(dt.UTC)
