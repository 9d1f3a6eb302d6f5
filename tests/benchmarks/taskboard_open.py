"""The authentication benchmark's open side: the taskboard's Task routes with no access rules.

``test_http_auth.py`` serves this app beside the taskboard example, on the
example's own database: ``OpenTask`` is the example's ``Task`` (same fields,
id prefix, action and collection, ``tasks``) with ``Access()``, every rule
open and no row filter, and the app is built by ``create_app`` without
``security=``, so no bearer token is read and no user is looked up. A
``GET /tasks/{id}`` here reads the same document as the example does for its
owner and answers the same JSON. Only reads are served: the benchmark needs
nothing else. Run it with the example's settings in the environment::

    PYTHONPATH=examples/taskboard uvicorn --app-dir tests/benchmarks taskboard_open:app
"""

from litestar import Litestar
from taskboard.models import Project, Task

from hexkernel.core.access import Access
from hexkernel.interfaces.bootstrap import RootContainer, Service
from hexkernel.interfaces.config import Settings, load_settings
from hexkernel.interfaces.http.app import create_app
from hexkernel.interfaces.http.resources import Resource


class OpenTask(Task, collection="tasks", access=Access()):
    """The example's Task on the same collection, readable by anybody."""


def build_open_app(settings: Settings) -> Litestar:
    """The open Task routes for ``settings`` (no security, no access rules)."""
    service = Service(RootContainer.from_settings(settings), [Project, OpenTask])
    return create_app(service, [Resource(OpenTask)], title="Taskboard, open tasks")


app = build_open_app(load_settings())
