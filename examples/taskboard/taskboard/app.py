"""A minimal taskboard service: health, and each Model's metadata and JSON Schema.

The REST resources generated from the Models arrive with the REST interface;
until then this service publishes what the Models already know about
themselves. Run it with the README's command.
"""

from typing import Any

from litestar import Litestar, get

from taskboard.models import Project, Task

MODELS = (Project, Task)


@get("/health", sync_to_thread=False)
def health() -> dict[str, str]:
    """Report that the service is up."""
    return {"status": "ok"}


def _meta_routes(model: type[Any]) -> list[Any]:
    path = f"/{model.__model__.collection}"

    @get(f"{path}/meta", name=f"{path}-meta", sync_to_thread=False)
    def meta() -> dict[str, Any]:
        return model.describe()

    @get(f"{path}/schema", name=f"{path}-schema", sync_to_thread=False)
    def schema() -> dict[str, Any]:
        return model.json_schema()

    return [meta, schema]


app = Litestar(route_handlers=[health, *(r for m in MODELS for r in _meta_routes(m))])
