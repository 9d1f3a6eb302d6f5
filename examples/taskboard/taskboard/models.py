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
    DOING = "doing"
    DONE = "done"


class Project(Model, prefix="prj"):
    """A group of tasks with a common goal."""

    name: str = Field(converters=[normalize_text], validators=[v.NotEmpty(), v.Length(max=100)])
    description: str = Field(default="", validators=[v.Length(max=2000)])
    owner: str | None = Field(factory=CurrentUser())


class Task(Model, prefix="tsk"):
    """A unit of work inside a project."""

    project: str = Field(validators=[v.Pattern(r"^prj_[0-9A-Z]{26}$")], reference=Project)
    title: str = Field(converters=[normalize_text], validators=[v.NotEmpty(), v.Length(max=200)])
    status: Status = Status.OPEN
    priority: int = Field(default=3, validators=[v.Range(min=1, max=5)])
    tags: list[str] = Field(factory=list, validators=[v.UniqueItems(), v.Each(v.Length(max=30))])
    due: dt.date | None = None
    owner: str | None = Field(factory=CurrentUser())

    @action(available=lambda task: task.status is not Status.DONE)
    async def complete(self) -> None:
        """Mark the task done (offered only while it is not)."""
        self.status = Status.DONE

    @action(available=lambda task: task.status is Status.DONE)
    async def reopen(self) -> None:
        """Open a finished task again."""
        self.status = Status.OPEN
