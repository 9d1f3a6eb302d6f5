"""The taskboard's domain: Projects and Tasks, declared once."""

import datetime as dt
import enum

from hexkernel.core import Field, Model
from hexkernel.core import validators as v
from hexkernel.core.actions import action
from hexkernel.core.converters import normalize_text
from hexkernel.core.generators import CurrentUser


class Status(enum.Enum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    DONE = "done"


class Project(Model, prefix="prj"):
    """A group of tasks with a common goal."""

    name: str = Field(
        converters=[normalize_text], validators=[v.Length(min=1, max=100)], unique=True
    )
    description: str | None = Field(default=None, validators=[v.Length(max=2000)])
    owner: str | None = Field(factory=CurrentUser(), read_only=True)
    tags: list[str] = Field(factory=list)


class Task(Model, prefix="tsk"):
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
