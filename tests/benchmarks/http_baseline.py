"""The HTTP benchmark's baseline: the taskboard's task routes written by hand.

A Litestar + pymongo service with no hexkernel in it, as a developer would
write it for this one resource, serving the three routes that
``test_http.py`` loads, with the example service's JSON shapes and rules:

- every route needs ``Authorization: Bearer <token>``: an RS256 access token
  of the example's issuer, checked with pyjwt (signature, ``iss``, ``aud``,
  expiry; verified claims are kept for a minute, as hexkernel's token cache
  does), then the user is read (so a deleted user is refused at once and the
  roles are current, as in the example); a user sees only their own tasks,
  an admin every task;
- ``GET /tasks/{id}``: ``find_one`` by id (and owner); the item with ``id``,
  audit fields, ``_links`` (``self``, ``collection``, ``project``, the action
  offered in the task's state) and an ``ETag``; 304 for a matching
  ``If-None-Match``; 404 as problem details;
- ``GET /tasks?status=...&sort=...&page=...&page_size=...``: the typed query
  parameters a hand-written endpoint declares, ``find`` (sorted, ``_id`` as
  the tiebreak, skip and limit) and ``count_documents``; the page as
  ``_items``, ``_meta`` (page, page size, total) and ``_links``;
- ``POST /tasks``: the body decoded and validated by a ``msgspec.Struct``
  (Litestar's own way; unknown fields refused), the title normalised and
  checked, the project looked up (the example's hook does the same read), the
  stored document built (ULID-suffixed id, audit fields, version, owner),
  ``insert_one``, then 201 with ``Location``, ``ETag`` and the item.

Every response carries ``X-Request-ID``, as the example's do. The app stores
and reads the same document shape as the example (``_id``, audit fields,
dates as midnight UTC datetimes), so the benchmark seeds both databases with
the same documents. It reads its settings from ``HK_BASELINE_MONGO_URI``,
``HK_BASELINE_DATABASE``, ``HK_BASELINE_PUBLIC_KEY_FILE`` (PEM) and, optionally,
``HK_BASELINE_ISSUER`` and ``HK_BASELINE_AUDIENCE`` (default ``hexkernel``);
run it with::

    uvicorn --app-dir tests/benchmarks http_baseline:app --no-access-log

Only what these routes need is here: the other routes of the HTTP contract
(``where``, projections, updates, ...) are not.
"""

import datetime as dt
import enum
import os
import time
import unicodedata
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import jwt
import msgspec
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from litestar import Litestar, Request, Response, get, post
from litestar.datastructures import MutableScopeHeaders
from litestar.params import Parameter
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from pymongo import AsyncMongoClient

COLLECTION = "tasks"
PROJECTS = "projects"
USERS = "users"
ADMIN_ROLE = "admin"
ID_PREFIX = "tsk"
DATE_FIELDS = frozenset({"due"})
"""Stored as midnight UTC datetimes, sent as ``YYYY-MM-DD``; every other datetime is RFC 3339."""
REFERENCES = {"project": PROJECTS}
SORTABLE = frozenset({"id", "title", "status", "priority", "due", "inserted", "updated"})
MAX_PAGE_SIZE = 100
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class Status(enum.Enum):
    """The states of a task."""

    OPEN = "open"
    IN_PROGRESS = "in_progress"
    DONE = "done"


class TaskWrite(msgspec.Struct, forbid_unknown_fields=True):
    """The body of ``POST /tasks``: what a client may set."""

    project: str
    title: str
    description: Annotated[str, msgspec.Meta(max_length=5000)] | None = None
    status: Status = Status.OPEN
    priority: Annotated[int, msgspec.Meta(ge=1, le=5)] = 3
    due: dt.date | None = None
    tags: list[str] = msgspec.field(default_factory=list)


class ProblemError(Exception):
    """An error answered as RFC 9457 problem details."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        errors: list[Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.errors = status, code, detail, errors
        self.headers = headers


def problem_response(request: Request[Any, Any, Any], error: ProblemError) -> Response[Any]:
    """Render a :class:`ProblemError`."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": error.code.replace("_", " "),
        "status": error.status,
        "detail": error.detail,
        "instance": request.url.path,
        "code": error.code,
    }
    if error.errors:
        body["errors"] = error.errors
    return Response(
        body,
        status_code=error.status,
        media_type="application/problem+json",
        headers=error.headers,
    )


def request_ids(app: ASGIApp) -> ASGIApp:
    """Echo the client's ``X-Request-ID`` (or a new one) on every response."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        given = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), "")
        value = given if 0 < len(given) <= 200 and given.isprintable() else uuid.uuid4().hex

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableScopeHeaders.from_message(message)["x-request-id"] = value
            await send(message)

        await app(scope, receive, send_with_id)

    return middleware


ACTIONS: dict[str, Callable[[Any], bool]] = {
    "complete": lambda status: status != Status.DONE.value,
}
"""The task's actions, each offered (linked) while its test on the status holds."""


def new_id() -> str:
    """``tsk_`` and a ULID: 48 bits of Unix milliseconds, 80 random bits, Crockford base 32."""
    number = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[number & 31])
        number >>= 5
    return f"{ID_PREFIX}_{''.join(reversed(chars))}"


def now_ms() -> dt.datetime:
    """Now in UTC, to the millisecond (what MongoDB keeps)."""
    now = dt.datetime.now(dt.UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def to_wire(document: dict[str, Any]) -> dict[str, Any]:
    """A stored task as JSON-ready data, with its links."""
    body: dict[str, Any] = {}
    for name, value in document.items():
        if name == "_id":
            body["id"] = value
        elif isinstance(value, dt.datetime):
            if name in DATE_FIELDS:
                body[name] = value.date().isoformat()
            else:
                text = value.isoformat(timespec="milliseconds")  # stored in UTC
                body[name] = text.replace("+00:00", "Z")
        else:
            body[name] = value
    href = f"/{COLLECTION}/{document['_id']}"
    links: dict[str, Any] = {"self": {"href": href}, "collection": {"href": f"/{COLLECTION}"}}
    for field, target in REFERENCES.items():
        if document.get(field) is not None:
            links[field] = {"href": f"/{target}/{document[field]}"}
    status = document.get("status")
    for action, offered in ACTIONS.items():
        if offered(status):
            links[action] = {"href": f"{href}/{action}", "method": "POST"}
    body["_links"] = links
    return body


def etag(document: dict[str, Any]) -> str:
    """The entity tag of a stored task: its id and version."""
    return f'"{document["_id"]}.{document["version"]}"'


@asynccontextmanager
async def database(app: Litestar) -> AsyncIterator[None]:
    """Open the client at start-up and close it at shutdown."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        os.environ["HK_BASELINE_MONGO_URI"], tz_aware=True
    )
    app.state.db = client[os.environ["HK_BASELINE_DATABASE"]]
    pem = Path(os.environ["HK_BASELINE_PUBLIC_KEY_FILE"]).read_bytes()  # noqa: ASYNC240 - start-up
    app.state.public_key = load_pem_public_key(pem)
    app.state.issuer = os.environ.get("HK_BASELINE_ISSUER", "hexkernel")
    app.state.audience = os.environ.get("HK_BASELINE_AUDIENCE", "hexkernel")
    app.state.verified = {}
    try:
        yield
    finally:
        await client.close()


def _unauthorized(detail: str) -> ProblemError:
    return ProblemError(
        401, "unauthorized", detail, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
    )


async def authenticate(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """The caller's row filter on tasks (``{}`` for an admin) and id, from a bearer token.

    The token's RS256 signature and claims are checked with pyjwt; verified
    claims are kept for up to a minute (hexkernel's default token cache does
    the same). The user is read on every request, so a deleted user is
    refused at once and role changes apply at once, as in the example.
    """
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise _unauthorized("send 'Authorization: Bearer <token>'")
    state = request.app.state
    now = time.time()
    entry = state.verified.get(token)
    if entry is None or entry[0] <= now:
        try:
            claims = jwt.decode(
                token,
                state.public_key,
                algorithms=["RS256"],
                audience=state.audience,
                issuer=state.issuer,
                leeway=5,
                options={"require": ["exp", "iat", "sub"]},
            )
        except jwt.InvalidTokenError:
            raise _unauthorized("the token is not valid") from None
        if len(state.verified) >= 10_000:
            state.verified.clear()
        entry = state.verified[token] = (min(claims["exp"], now + 60), claims)
    subject = entry[1]["sub"]
    user = await state.db[USERS].find_one({"_id": subject}, {"roles": 1})
    if user is None:
        raise _unauthorized("the token's user no longer exists")
    return {"subject": subject, "rows": {} if ADMIN_ROLE in user["roles"] else {"owner": subject}}


@get("/tasks/{task_id:str}")
async def get_task(request: Request[Any, Any, Any], task_id: str) -> Response[Any]:
    """One task, or 404 (also for another user's task)."""
    caller = await authenticate(request)
    document = await request.app.state.db[COLLECTION].find_one({"_id": task_id, **caller["rows"]})
    if document is None:
        raise ProblemError(404, "not_found", f"no task {task_id}")
    tag = etag(document)
    if_none_match = request.headers.get("if-none-match")
    if if_none_match and tag in [t.strip() for t in if_none_match.split(",")]:
        return Response(None, status_code=304, headers={"ETag": tag})
    return Response(to_wire(document), headers={"ETag": tag})


def _sort_spec(sort: str | None) -> list[tuple[str, int]]:
    spec = []
    for part in (sort or "").split(","):
        name = part.strip().removeprefix("-")
        if not name:
            continue
        if name not in SORTABLE:
            raise ProblemError(400, "invalid_query", f"cannot sort by {name!r}")
        spec.append(("_id" if name == "id" else name, -1 if part.strip()[0] == "-" else 1))
    if not any(name == "_id" for name, _ in spec):
        spec.append(("_id", 1))
    return spec


@get("/tasks")
async def list_tasks(
    request: Request[Any, Any, Any],
    status: Status | None = None,
    sort: str | None = None,
    page: Annotated[int, Parameter(ge=1)] = 1,
    page_size: Annotated[int, Parameter(ge=1, le=MAX_PAGE_SIZE)] = 20,
) -> dict[str, Any]:
    """A page of the caller's tasks, filtered by status and sorted."""
    caller = await authenticate(request)
    query: dict[str, Any] = dict(caller["rows"])
    if status is not None:
        query["status"] = status.value
    tasks = request.app.state.db[COLLECTION]
    cursor = tasks.find(query, sort=_sort_spec(sort), skip=(page - 1) * page_size, limit=page_size)
    documents = await cursor.to_list()
    total = await tasks.count_documents(query)
    last = max(1, -(-total // page_size))
    kept = [(k, v) for k in request.query_params for v in request.query_params.getall(k)]
    kept = [(k, v) for k, v in kept if k != "page"]

    def link(number: int) -> dict[str, str]:
        return {"href": f"{request.url.path}?{urlencode([*kept, ('page', str(number))])}"}

    links = {"self": link(page), "first": link(1), "last": link(last)}
    if page > 1:
        links["prev"] = link(min(page - 1, last))
    if page < last:
        links["next"] = link(page + 1)
    return {
        "_items": [to_wire(d) for d in documents],
        "_meta": {"page": page, "page_size": page_size, "total": total},
        "_links": links,
    }


@post("/tasks")
async def create_task(request: Request[Any, Any, Any], data: TaskWrite) -> Response[Any]:
    """Validate, check the project exists, store; 201 with the item."""
    caller = await authenticate(request)
    title = unicodedata.normalize("NFC", data.title).strip()
    if not 1 <= len(title) <= 200:
        raise ProblemError(400, "validation_error", "title must be 1 to 200 characters")
    db = request.app.state.db
    if await db[PROJECTS].find_one({"_id": data.project}, {"_id": 1}) is None:
        errors = [{"field": "project", "code": "unknown_reference", "message": "names no project"}]
        raise ProblemError(400, "validation_error", "the task is not valid", errors)
    now = now_ms()
    due = data.due
    document = {
        "_id": new_id(),
        "inserted": now,
        "updated": now,
        "version": 1,
        "project": data.project,
        "title": title,
        "description": data.description,
        "status": data.status.value,
        "priority": data.priority,
        "tags": data.tags,
        "due": None if due is None else dt.datetime(due.year, due.month, due.day, tzinfo=dt.UTC),
        "owner": caller["subject"],
        "completed_at": None,
    }
    await db[COLLECTION].insert_one(document)
    headers = {"ETag": etag(document), "Location": f"/{COLLECTION}/{document['_id']}"}
    return Response(to_wire(document), status_code=201, headers=headers)


app = Litestar(
    route_handlers=[get_task, list_tasks, create_task],
    lifespan=[database],
    middleware=[request_ids],
    exception_handlers={ProblemError: problem_response},
    debug=False,
)
