"""The taskboard service: Projects and Tasks over REST, on MongoDB or the embedded store.

Configuration comes from ``cfg.yml``, ``HEXKERNEL_...`` variables (set
``HEXKERNEL_MONGO__URI`` to run on MongoDB) and the defaults. Run it with the
README's command.
"""

from hexkernel.interfaces.bootstrap import RootContainer, Service
from hexkernel.interfaces.config import load_settings
from hexkernel.interfaces.http.app import create_app
from hexkernel.interfaces.http.resources import Resource
from taskboard.models import Project, Task

WRITES = {"POST", "PUT", "PATCH", "DELETE"}

settings = load_settings()
service = Service(RootContainer.from_settings(settings), [Project, Task])
app = create_app(
    service,
    [Resource(Project, methods=WRITES), Resource(Task, methods=WRITES)],
    title="Taskboard",
)
