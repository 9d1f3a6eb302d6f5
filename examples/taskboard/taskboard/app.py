"""The taskboard service: Projects and Tasks over REST, on MongoDB or the embedded store.

Configuration comes from ``cfg.yml``, ``HEXKERNEL_...`` variables (set
``HEXKERNEL_MONGO__URI`` to run on MongoDB) and the defaults. Run it with the
README's command.
"""

from hexkernel.core import NotFound, ValidationError
from hexkernel.interfaces.bootstrap import RootContainer, Service
from hexkernel.interfaces.config import load_settings
from hexkernel.interfaces.http.app import create_app
from hexkernel.interfaces.http.resources import Hooks, Resource
from taskboard.models import Project, Task

WRITES = {"POST", "PUT", "PATCH", "DELETE"}


async def check_project(*tasks: Task) -> None:
    """A task must belong to an existing project (a hook before create and update)."""
    task = tasks[-1]
    try:
        await Project.get(task.project)
    except NotFound:
        raise ValidationError.single("project", "unknown_reference", "names no project") from None


async def refuse_non_empty_project(project: Project) -> None:
    """A project with tasks cannot be deleted (a hook before delete)."""
    if await Task.count(Task.project == project.id):
        raise ValidationError.single("", "has_tasks", "the project still has tasks")


settings = load_settings()
service = Service(RootContainer.from_settings(settings), [Project, Task])
app = create_app(
    service,
    [
        Resource(Project, methods=WRITES, hooks=Hooks(before_delete=refuse_non_empty_project)),
        Resource(
            Task,
            methods=WRITES,
            hooks=Hooks(before_create=check_project, before_update=check_project),
        ),
    ],
    title="Taskboard",
)
