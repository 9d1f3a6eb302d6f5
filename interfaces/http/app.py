"""The Litestar application factory of a hexkernel service."""

import gc
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from litestar import Litestar, get
from litestar.datastructures import MutableScopeHeaders
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from hexkernel.core.actions import actions_of
from hexkernel.interfaces.bootstrap import Security, Service
from hexkernel.interfaces.http.auth import (
    BearerAuthentication,
    auth_components,
    auth_routes,
    security_schemes,
)
from hexkernel.interfaces.http.openapi import (
    DocumentedComponents,
    action_component,
    aggregate_component,
    model_components,
    problem_component,
)
from hexkernel.interfaces.http.problems import exception_handlers
from hexkernel.interfaces.http.resources import Resource, resource_router, resources_from

__all__ = ("create_app", "request_id_middleware")

_REQUEST_ID = "x-request-id"


def request_id_middleware(app: ASGIApp) -> ASGIApp:
    """Give every request an id (the client's ``X-Request-ID``, or a new one) and echo it."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        given = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), "")
        value = given if 0 < len(given) <= 200 and given.isprintable() else uuid.uuid4().hex  # noqa: PLR2004
        scope.setdefault("state", {})["request_id"] = value

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableScopeHeaders.from_message(message)[_REQUEST_ID] = value
            await send(message)

        await app(scope, receive, send_with_id)

    return middleware


@asynccontextmanager
async def _frozen_start_up_objects(_: Litestar) -> AsyncIterator[None]:
    """Keep what start-up built out of the garbage collector's later passes.

    The app, its routes, Models, compiled codecs and clients live as long as
    the process; frozen (``gc.freeze``, after one last collection of start-up
    garbage), they are no longer traversed by the collections that requests
    trigger. Shutdown gives them back to the collector.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def create_app(
    service: Service,
    models: Sequence[type[Any] | Resource],
    *,
    title: str | None = None,
    version: str = "1.0.0",
    security: Security | None = None,
    route_handlers: Sequence[Any] = (),
    lifespan: Sequence[Callable[[Litestar], AbstractAsyncContextManager[None]]] = (),
) -> Litestar:
    """Build the Litestar app serving ``models`` from a wired service.

    Start-up binds the repositories, synchronises indexes and schemas and
    starts the outbox relay, the message consumers and the saga
    coordinator's resume loop; shutdown stops them and closes the clients.
    Reads are on for every Model; give a :class:`Resource` to enable writes.
    With ``security`` (from ``service.security(users=...)``) bearer tokens are
    authenticated on every route and the token endpoint and key documents are
    served.

    ``route_handlers`` adds the service's own Litestar handlers (routes that
    are not a Model's resource, such as command endpoints); ``lifespan`` adds
    context managers entered once the service and its background work have
    started, and left before they stop (to run a projection, for instance).
    """
    settings = service.container.settings()
    resources = resources_from(models)
    lifespan_hooks = list(lifespan)

    @get("/health", name="health", sync_to_thread=False)
    def health() -> dict[str, str]:
        return {"status": "ok", "storage": service.storage}

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        await service.startup()
        try:
            await service.start_background()  # outbox relay, consumers, saga coordinator
            try:
                yield
            finally:
                await service.stop_background()
        finally:
            await service.shutdown()

    unknown = [r.model.__name__ for r in resources if r.model not in service.repositories]
    if unknown:
        raise ValueError(
            f"the service does not store {', '.join(unknown)}: add them to Service(...)"
        )
    routers = [resource_router(r, service.repositories[r.model], settings) for r in resources]
    schemas: dict[str, Any] = {
        "Problem": problem_component(),
        "AggregateResult": aggregate_component(),
    }
    for resource in resources:
        schemas.update(model_components(resource.model))
        for spec in actions_of(resource.model).values():
            action_name, action_schema = action_component(resource.model, spec)
            schemas[action_name] = action_schema
    middleware: list[Any] = [request_id_middleware]
    handlers: list[Any] = [health, *routers, *route_handlers]
    schemes = {}
    if security is not None:
        middleware.append(BearerAuthentication(security))
        handlers.extend(auth_routes(security))
        schemas.update(auth_components())
        schemes = security_schemes()
    return Litestar(
        route_handlers=handlers,
        # Last, so that everything the other start-up steps build is frozen too.
        lifespan=[lifespan, *lifespan_hooks, _frozen_start_up_objects],
        exception_handlers=exception_handlers(),
        middleware=middleware,
        request_max_body_size=settings.http.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title=title or settings.service,
            version=version,
            path="/schema",
            render_plugins=[SwaggerRenderPlugin(path="/swagger")],
            components=DocumentedComponents(documented=schemas, security_schemes=schemes or None),
        ),
        debug=False,
    )
