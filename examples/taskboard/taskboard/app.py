"""The taskboard service: Users, Projects and Tasks over REST, on MongoDB or the embedded store.

Configuration comes from ``cfg.yml``, ``HEXKERNEL_...`` variables (set
``HEXKERNEL_MONGO__URI`` to run on MongoDB; ``HEXKERNEL_AUTH__ADMIN__EMAIL``
and ``HEXKERNEL_AUTH__ADMIN__PASSWORD`` create the administrator at start-up)
and the defaults. Run it with the README's command; users sign in at
``POST /auth/token`` with the ``password`` grant and their e-mail address.
"""

from litestar import Litestar

from hexkernel.core import NotFound, ValidationError
from hexkernel.interfaces.bootstrap import RootContainer, Service
from hexkernel.interfaces.config import Settings, load_settings
from hexkernel.interfaces.http.app import create_app
from hexkernel.interfaces.http.resources import Hooks, Resource
from taskboard.models import Project, Task, User

WRITES = {"POST", "PUT", "PATCH", "DELETE"}


async def check_project(*tasks: Task) -> None:
    """A task must belong to an existing project (a hook before create and update)."""
    task = tasks[-1]
    try:
        await Project.get(task.project)
    except NotFound:
        raise ValidationError.single("project", "unknown_reference", "names no project") from None


async def refuse_non_empty_project(project: Project) -> None:
    """A project with tasks, anybody's, cannot be deleted (a hook before delete)."""
    if await Task.find(Task.project == project.id).unfiltered().count():
        raise ValidationError.single("", "has_tasks", "the project still has tasks")


def build_app(settings: Settings) -> Litestar:
    """The taskboard app for ``settings`` (tests build their own)."""
    service = Service(RootContainer.from_settings(settings), [User, Project, Task])
    return create_app(
        service,
        [
            Resource(User, methods={"POST", "PATCH", "DELETE"}),
            Resource(Project, methods=WRITES, hooks=Hooks(before_delete=refuse_non_empty_project)),
            Resource(
                Task,
                methods=WRITES,
                hooks=Hooks(before_create=check_project, before_update=check_project),
            ),
        ],
        title="Taskboard",
        security=service.security(users=User),
    )


app = build_app(load_settings())
