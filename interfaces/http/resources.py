"""REST resources generated from Models, as ../HTTP contract describes them.

``Resource(Task, methods={"GET", "POST", "PATCH"})`` serves ``/tasks`` and
``/tasks/{id}``; reads are always on, every write method is opt-in and a
disabled one answers 405 with ``Allow``. Handlers are thin: they turn HTTP
into repository calls through the port and back, and every error goes through
:mod:`hexkernel.interfaces.http.problems`.
"""

import base64
import datetime as dt
import enum
import json
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import attrs
from litestar import Request, Response, Router, delete, get, patch, post, put
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath

from hexkernel.core.access import Rule, access_of
from hexkernel.core.actions import ActionSpec, actions_of
from hexkernel.core.converters import HashPassword, is_password_hash
from hexkernel.core.errors import (
    AccessDenied,
    AuthenticationRequired,
    ConcurrencyConflict,
    ErrorItem,
    ValidationError,
)
from hexkernel.core.ports.repository import Repository
from hexkernel.core.query import Expr
from hexkernel.core.security import Principal, current_principal
from hexkernel.interfaces.http.openapi import (
    action_component,
    aggregate_parameters,
    list_parameters,
    operation_class,
)
from hexkernel.interfaces.http.problems import Problem
from hexkernel.interfaces.http.query_params import ListParams, parse_list_params, parse_pipeline

__all__ = ("WRITE_METHODS", "Hooks", "Resource", "resource_router")

Hook = Callable[..., Awaitable[None]]


@attrs.frozen
class Hooks:
    """Async extension points around the generated writes (domain logic, side effects).

    ``before_*`` hooks may change the object or refuse the write by raising
    a hexkernel error (a ``ValidationError`` becomes 400, a ``DomainError``
    409); ``after_*`` hooks see the stored object. ``before_update`` and
    ``after_update`` also receive the object as it was before.
    """

    before_create: Hook | None = None
    after_create: Hook | None = None
    before_update: Hook | None = None
    after_update: Hook | None = None
    before_delete: Hook | None = None
    after_delete: Hook | None = None


async def _run(hook: Hook | None, *args: Any) -> None:
    if hook is not None:
        await hook(*args)


WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_JSON_TYPES = ("application/json",)
_PATCH_TYPES = ("application/json", "application/merge-patch+json")


@attrs.frozen
class Resource:
    """How one Model is exposed.

    Attributes:
        model: The document Model.
        methods: The write methods enabled (reads are always on).
        path: The collection path; by default ``/`` + the Model's collection.
        max_page_size: The largest ``page_size`` allowed (default from settings).
        hooks: Extension points around create, update and delete.
    """

    model: type[Any]
    methods: frozenset[str] = attrs.field(
        default=frozenset(), converter=lambda m: frozenset(x.upper() for x in m)
    )
    path: str | None = None
    max_page_size: int | None = None
    hooks: Hooks = attrs.field(factory=Hooks)

    def __attrs_post_init__(self) -> None:
        unknown = self.methods - WRITE_METHODS
        if unknown:
            raise ValueError(
                f"unknown write methods {sorted(unknown)}; choose from {sorted(WRITE_METHODS)}"
            )

    @property
    def collection_path(self) -> str:
        """The path of the collection."""
        return self.path or f"/{self.model.__model__.collection}"


def _etag(item: Any) -> str:
    return f'"{item.id}.{item.version}"'


def _expected_version(header: str | None, item_id: str) -> int | None:
    """The version named by an ``If-Match`` header, or None when absent or ``*``."""
    if header is None or header.strip() == "*":
        return None
    for tag in header.split(","):
        value = tag.strip().removeprefix("W/").strip('"')
        head, _, version = value.rpartition(".")
        if head == item_id and version.isdigit():
            return int(version)
    return -1  # names no current representation: the precondition fails


class _Handlers:
    """The request handlers of one resource."""

    def __init__(self, resource: Resource, repository: Repository[Any], settings: Any) -> None:
        self.resource = resource
        self.model = resource.model
        self.info = resource.model.__model__
        self.repository = repository
        self.api = _api_prefix(settings)
        self.base = f"{self.api}{resource.collection_path}"
        self.default_page_size = settings.http.default_page_size
        self.max_page_size = resource.max_page_size or settings.http.max_page_size
        self.max_aggregate_results = settings.http.max_aggregate_results
        self.aggregate_timeout_ms = settings.http.aggregate_timeout_ms
        self.hooks = resource.hooks
        self.access = access_of(resource.model)
        self.hashed = frozenset(
            f.name
            for f in self.info.fields
            if any(isinstance(c, HashPassword) for c in f.spec.converters)
        )
        self.actions = actions_of(resource.model)
        # The rule of every action, looked up once: _links asks them for every item.
        self.action_rules = tuple(
            (name, spec, self.access.action_rule(name)) for name, spec in self.actions.items()
        )
        self.list_params = _ListParamsCache(
            resource.model, self.default_page_size, self.max_page_size
        )
        self.references = tuple(
            (f.name, f.spec.reference.__model__.collection)
            for f in self.info.fields
            if f.spec.reference is not None
        )

    # ------------------------------------------------------------ shapes
    def _links(self, prefix: str, item: Any, principal: Principal) -> dict[str, Any]:
        href = f"{prefix}{self.base}/{item.id}"
        links: dict[str, Any] = {
            "self": {"href": href},
            "collection": {"href": f"{prefix}{self.base}"},
        }
        for field_name, target in self.references:
            value = getattr(item, field_name)
            if value is not None:
                links[field_name] = {"href": f"{prefix}{self.api}/{target}/{value}"}
        for name, spec, rule in self.action_rules:
            if spec.is_available(item) and rule.permits(principal, item):
                links[name] = {"href": f"{href}/{name}", "method": "POST"}
        return links

    def represent(self, request: Request[Any, Any, Any], item: Any) -> dict[str, Any]:
        """The wire form of an item with its links."""
        body = item.to_dict()
        body["_links"] = self._links(_prefix(request), item, current_principal())
        return body

    def represent_all(self, request: Request[Any, Any, Any], items: list[Any]) -> list[Any]:
        """The wire forms of items with their links (one caller, one prefix for all)."""
        prefix = _prefix(request)
        principal = current_principal()
        links = self._links
        model = self.model
        to_wire = self.info.codec.to_wire  # what item.to_dict() calls, for this Model
        out = []
        for item in items:
            body = to_wire(item) if type(item) is model else item.to_dict()
            body["_links"] = links(prefix, item, principal)
            out.append(body)
        return out

    def _item_response(
        self, request: Request[Any, Any, Any], item: Any, status: int = 200
    ) -> Response[Any]:
        headers = {"ETag": _etag(item)}
        if status == 201:  # noqa: PLR2004 - created
            headers["Location"] = f"{_prefix(request)}{self.base}/{item.id}"
        return Response(self.represent(request, item), status_code=status, headers=headers)

    # ------------------------------------------------------------ access
    def _refuse(self) -> AuthenticationRequired | AccessDenied:
        if not current_principal().is_authenticated:
            return AuthenticationRequired()
        return AccessDenied(f"you may not do this with {self.info.name} items")

    def _decide(self, rule: Rule) -> Expr | None:
        """Check ``rule`` before any document is read; return its row restriction, if any."""
        decision = rule.decide(self.model, current_principal())
        if not decision.allowed:
            raise self._refuse()
        return decision.where

    def _permit(self, rule: Rule, item: Any) -> None:
        if not rule.permits(current_principal(), item):
            raise self._refuse()

    def _no_hashes(self, body: Any) -> list[ErrorItem]:
        """Password fields take the password: a client may not send a ready-made hash.

        The Model keeps a value that already is a hash (that is how stored
        objects load), so without this check a client could store any
        password, bypassing the field's rules.
        """
        if not self.hashed or not isinstance(body, dict):
            return []
        return [
            ErrorItem(name, "invalid", "send the password itself, not a hash")
            for name in self.hashed
            if isinstance(body.get(name), str) and is_password_hash(body[name])
        ]

    def _refuse_hashes(self, body: Any) -> None:
        problems = self._no_hashes(body)
        if problems:
            raise ValidationError(problems, self.info.name)

    def _check_fields(self, sent: Any, item: Any, current: Any = None) -> None:
        """Refuse values of fields the caller may not set (unchanged values pass on updates)."""
        rules = self.access.fields
        if not rules:
            return
        principal = current_principal()
        refused = [
            name
            for name in sent
            if name in rules
            and not rules[name].permits(principal, item)
            and (current is None or getattr(current, name) != getattr(item, name))
        ]
        if refused:
            raise AccessDenied("you may not set these fields", fields=refused)

    # ------------------------------------------------------------- reads
    async def collection(self, request: Request[Any, Any, Any]) -> Response[Any]:
        restriction = self._decide(self.access.list_rule)
        parsed = self.list_params.parse(request)
        query = parsed.query if restriction is None else parsed.query.where(restriction)
        items = await self.repository.find(query)
        total = await self.repository.count(query.filter)
        last = max(1, -(-total // parsed.page_size))
        links = _page_links(self.list_params.link_start(request), parsed.page, last)
        body = {
            "_items": self.represent_all(request, items),
            "_meta": {"page": parsed.page, "page_size": parsed.page_size, "total": total},
            "_links": links,
        }
        return Response(body)

    async def aggregate(self, request: Request[Any, Any, Any]) -> Response[Any]:
        restriction = self._decide(self.access.list_rule)
        params = {key: request.query_params.getall(key) for key in request.query_params}
        pipeline = parse_pipeline(self.model, params)
        cap = self.max_aggregate_results
        results = await self.repository.aggregate(
            pipeline,
            where=restriction,
            max_results=cap + 1,
            max_time_ms=self.aggregate_timeout_ms,
        )
        truncated = len(results) > cap
        items = [_json_value(r) for r in results[:cap]]
        meta = {"count": len(items), "truncated": truncated, "max_results": cap}
        return Response({"_items": items, "_meta": meta})

    async def item(self, request: Request[Any, Any, Any], key: str) -> Response[Any]:
        self._decide(self.access.read)
        item = await self.repository.get(key)
        self._permit(self.access.read, item)
        etag = _etag(item)
        if_none_match = request.headers.get("if-none-match")
        if if_none_match and (
            if_none_match.strip() == "*" or etag in [t.strip() for t in if_none_match.split(",")]
        ):
            return Response(None, status_code=304, headers={"ETag": etag})
        return self._item_response(request, item)

    async def meta(self) -> Response[Any]:
        self._decide(self.access.list_rule)
        return Response(self.model.describe())

    async def schema(self) -> Response[Any]:
        self._decide(self.access.list_rule)
        return Response(self.model.json_schema())

    # ------------------------------------------------------------ writes
    async def _body(self, request: Request[Any, Any, Any], accepted: Sequence[str]) -> Any:
        media = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
        if media not in accepted:
            raise Problem(415, "unsupported_media_type", f"send {' or '.join(accepted)}")
        raw = await request.body()
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise Problem(400, "malformed_json", "the body is not valid JSON") from None

    async def create(self, request: Request[Any, Any, Any]) -> Response[Any]:
        self._decide(self.access.create)
        body = await self._body(request, _JSON_TYPES)
        if isinstance(body, list):
            return await self._create_many(request, body)
        self._refuse_hashes(body)
        item = self.model.from_dict(body, writable_only=True)
        self._permit(self.access.create, item)
        self._check_fields(body, item)
        await _run(self.hooks.before_create, item)
        await self.repository.insert(item)
        await _run(self.hooks.after_create, item)
        return self._item_response(request, item, 201)

    async def _create_many(
        self, request: Request[Any, Any, Any], bodies: list[Any]
    ) -> Response[Any]:
        items, errors = [], []
        for index, body in enumerate(bodies):
            hashes = self._no_hashes(body)
            if hashes:
                errors.extend({**e.as_dict(), "index": index} for e in hashes)
                continue
            try:
                items.append(self.model.from_dict(body, writable_only=True))
            except ValidationError as exc:
                errors.extend({**e, "index": index} for e in exc.as_list())
        if errors:
            raise Problem(
                400, "validation_error", "no item was stored: some are not valid", errors=errors
            )
        if not items:
            raise Problem(400, "validation_error", "the array holds no item")
        for item, body in zip(items, bodies, strict=True):
            self._permit(self.access.create, item)
            self._check_fields(body, item)
        for item in items:
            await _run(self.hooks.before_create, item)
        await self.repository.insert_many(items)
        for item in items:
            await _run(self.hooks.after_create, item)
        return Response({"_items": self.represent_all(request, items)}, status_code=201)

    def _expected(
        self, request: Request[Any, Any, Any], key: str, body: dict[str, Any]
    ) -> tuple[int | None, bool]:
        """The expected version and whether it came from ``If-Match`` (412) or the body (409)."""
        header = _expected_version(request.headers.get("if-match"), key)
        if header is not None:
            return header, True
        version = body.pop("version", None)
        if version is None:
            return None, False
        if type(version) is not int:
            raise ValidationError.single(
                "version", "invalid_type", "must be an integer", self.info.name
            )
        return version, False

    def _check_version(self, current: Any, expected: int | None, from_header: bool) -> None:  # noqa: FBT001
        if expected is None or expected == current.version:
            return
        if from_header:
            raise Problem(412, "precondition_failed", "If-Match does not name the current version")
        raise ConcurrencyConflict(self.info.name, current.id, expected, current.version)

    async def _store(self, current: Any, replacement: Any, from_header: bool) -> Any:  # noqa: FBT001
        for field in self.info.fields:
            if field.read_only:
                object.__setattr__(replacement, field.name, getattr(current, field.name))
        return await self._save(current, replacement, from_header)

    async def _save(self, previous: Any, item: Any, from_header: bool) -> Any:  # noqa: FBT001
        """Save an update between its hooks; a lost race is 412 for If-Match, else 409."""
        await _run(self.hooks.before_update, previous, item)
        try:
            stored = await self.repository.save(item)
        except ConcurrencyConflict:
            if from_header:
                raise Problem(412, "precondition_failed", "the item changed meanwhile") from None
            raise
        await _run(self.hooks.after_update, previous, stored)
        return stored

    async def replace(self, request: Request[Any, Any, Any], key: str) -> Response[Any]:
        body = await self._body(request, _JSON_TYPES)
        if not isinstance(body, dict):
            raise ValidationError.single(
                "", "invalid_type", "must be a JSON object", self.info.name
            )
        self._decide(self.access.update)
        self._refuse_hashes(body)
        expected, from_header = self._expected(request, key, body)
        current = await self.repository.get(key)
        self._permit(self.access.update, current)
        self._check_version(current, expected, from_header)
        replacement = self.model.from_dict(body, writable_only=True)
        self._check_fields(body, replacement, current)
        return self._item_response(request, await self._store(current, replacement, from_header))

    async def merge(self, request: Request[Any, Any, Any], key: str) -> Response[Any]:
        patch_body = await self._body(request, _PATCH_TYPES)
        if not isinstance(patch_body, dict):
            raise ValidationError.single(
                "", "invalid_type", "a merge patch is a JSON object", self.info.name
            )
        expected, from_header = self._expected(request, key, patch_body)
        problems = [
            ErrorItem(name, "read_only", "is read-only and cannot be set")
            for name in patch_body
            if name in self.info.by_name and self.info.by_name[name].read_only
        ]
        problems += self._no_hashes(patch_body)
        if problems:
            raise ValidationError(problems, self.info.name)
        self._decide(self.access.update)
        current = await self.repository.get(key)
        self._permit(self.access.update, current)
        self._check_version(current, expected, from_header)
        merged = _merge_patch(current.to_dict(), patch_body)
        for field in self.info.fields:
            if field.exclude and field.name not in patch_body:
                value = getattr(current, field.name)
                dump = field.wire_dump
                merged[field.name] = value if dump is None or value is None else dump(value)
        replacement = self.model.from_dict(merged)
        self._check_fields(patch_body, replacement, current)
        return self._item_response(request, await self._store(current, replacement, from_header))

    async def remove(self, request: Request[Any, Any, Any], key: str) -> Response[Any]:
        self._decide(self.access.delete)
        header = _expected_version(request.headers.get("if-match"), key)
        current = await self.repository.get(key)
        self._permit(self.access.delete, current)
        self._check_version(current, header, True)  # noqa: FBT003
        await _run(self.hooks.before_delete, current)
        try:
            await self.repository.delete(key, expected_version=current.version)
        except ConcurrencyConflict:
            if header is not None:
                raise Problem(412, "precondition_failed", "the item changed meanwhile") from None
            raise
        await _run(self.hooks.after_delete, current)
        return Response(None, status_code=204)

    async def act(
        self, request: Request[Any, Any, Any], key: str, spec: ActionSpec
    ) -> Response[Any]:
        raw = await request.body()
        body: Any = {}
        if raw.strip():
            body = await self._body(request, _JSON_TYPES)
        if not isinstance(body, dict):
            raise ValidationError.single("", "invalid_type", "must be a JSON object", spec.name)
        rule = self.access.action_rule(spec.name)
        self._decide(rule)
        expected, from_header = self._expected(request, key, body)
        arguments = spec.arguments_model().from_dict(body)
        current = await self.repository.get(key)
        self._permit(rule, current)
        self._check_version(current, expected, from_header)
        if not spec.is_available(current):
            if spec.idempotent:
                return self._item_response(request, current)
            raise Problem(409, "action_unavailable", f"{spec.name} does not apply to this item now")
        previous = self.model.from_document(current.to_document())
        kwargs = {f.name: getattr(arguments, f.name) for f in arguments.__model__.fields}
        await getattr(current, spec.method)(**kwargs)
        return self._item_response(request, await self._save(previous, current, from_header))

    async def not_allowed(self, allowed: str) -> Response[Any]:
        raise Problem(
            405, "method_not_allowed", "this method is not enabled here", headers={"Allow": allowed}
        )


def _json_value(value: Any) -> Any:
    """An aggregation result in the wire format of the Models (UTC ``Z`` times, decimal text)."""
    if isinstance(value, dict):
        return {str(key): _json_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_json_value(item) for item in value]
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None  # noqa: PLR0124
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
        text = moment.astimezone(dt.UTC).isoformat(timespec="milliseconds")
        return text.replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f") if value.is_finite() else None
    if isinstance(value, enum.Enum):
        return _json_value(value.value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, uuid.UUID):
        return str(value)
    return str(value)


def _merge_patch(target: Any, patch_value: Any) -> Any:
    """RFC 7396: objects merge recursively, null removes, anything else replaces."""
    if not isinstance(patch_value, dict):
        return patch_value
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch_value.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge_patch(result.get(key), value)
    return result


def _api_prefix(settings: Any) -> str:
    """The configured API prefix (``http.prefix``, e.g. ``/v1``), normalised."""
    prefix = str(settings.http.prefix or "").strip().rstrip("/")
    if prefix and not prefix.startswith("/"):
        prefix = f"/{prefix}"
    return prefix


def _prefix(request: Request[Any, Any, Any]) -> str:
    return str(request.scope.get("root_path", "") or "")


def _page_links(start: str, page: int, last: int) -> dict[str, Any]:
    """The page links of a collection; ``start`` is the URL up to the page number."""

    def href(number: int) -> dict[str, str]:
        return {"href": f"{start}{number}"}

    links = {"self": href(page), "first": href(1), "last": href(last)}
    if page > 1:
        links["prev"] = href(min(page - 1, last))
    if page < last:
        links["next"] = href(page + 1)
    return links


class _ListParamsCache:
    """Parsed collection queries, and the stem of their page links, by query string.

    The same text parses to the same value. Only successful parses are kept
    (a bad query is parsed again, to report it), and what is kept holds no
    caller's data: the row restriction of the access rules is applied by the
    handler after this step, per request.
    """

    _LIMIT = 256

    def __init__(self, model: type[Any], default_page_size: int, max_page_size: int) -> None:
        self.model = model
        self.default_page_size = default_page_size
        self.max_page_size = max_page_size
        self.parsed: dict[bytes, ListParams] = {}
        self.starts: dict[tuple[str, str, bytes], str] = {}

    def parse(self, request: Request[Any, Any, Any]) -> ListParams:
        """The parsed query of ``request`` (``InvalidQuery`` when it is not valid)."""
        key = request.scope.get("query_string", b"")
        found = self.parsed.get(key)
        if found is not None:
            return found
        query_params = request.query_params
        params = {name: query_params.getall(name) for name in query_params}
        parsed = parse_list_params(
            self.model,
            params,
            default_page_size=self.default_page_size,
            max_page_size=self.max_page_size,
        )
        if len(self.parsed) >= self._LIMIT:
            self.parsed.clear()  # a client cycling through many queries: start afresh
        self.parsed[key] = parsed
        return parsed

    def link_start(self, request: Request[Any, Any, Any]) -> str:
        """The URL of the page links up to the page number: path and the other parameters."""
        scope = request.scope
        key = (scope.get("root_path", ""), scope["path"], scope.get("query_string", b""))
        start = self.starts.get(key)
        if start is None:
            query_params = request.query_params
            kept = urlencode(
                [(k, v) for k in query_params for v in query_params.getall(k) if k != "page"]
            )
            path = request.url.path
            start = f"{path}?{kept}&page=" if kept else f"{path}?page="
            if len(self.starts) >= self._LIMIT:
                self.starts.clear()
            self.starts[key] = start
        return start


def resource_router(resource: Resource, repository: Repository[Any], settings: Any) -> Router:
    """Build the Litestar router of one resource."""
    h = _Handlers(resource, repository, settings)
    name = resource.model.__model__.collection
    enabled = resource.methods
    collection_allow = ", ".join(["GET", "HEAD", *(["POST"] if "POST" in enabled else [])])
    item_allow = ", ".join(["GET", "HEAD", *sorted(enabled & {"PUT", "PATCH", "DELETE"})])

    model_name = resource.model.__model__.name
    item_problems = ("400", "404", "409", "412", "413", "415", "503")

    @get(
        "/",
        name=f"{name}:list",
        operation_id=f"{name}-list",
        operation_class=operation_class(
            success=("200", "A page of the collection", f"{model_name}List"),
            problems=("400", "503"),
            parameters=list_parameters(resource.model, h.max_page_size),
        ),
    )
    async def list_items(request: Request[Any, Any, Any]) -> Response[Any]:
        return await h.collection(request)

    @get(
        "/aggregate",
        name=f"{name}:aggregate",
        operation_id=f"{name}-aggregate",
        operation_class=operation_class(
            success=("200", "The pipeline's results", "AggregateResult"),
            problems=("400", "503"),
            parameters=aggregate_parameters(),
        ),
    )
    async def aggregate(request: Request[Any, Any, Any]) -> Response[Any]:
        return await h.aggregate(request)

    @get(
        "/meta",
        name=f"{name}:meta",
        operation_id=f"{name}-meta",
        operation_class=operation_class(
            success=("200", "What the Model declares", None), problems=()
        ),
    )
    async def meta() -> Response[Any]:
        return await h.meta()

    @get(
        "/schema",
        name=f"{name}:schema",
        operation_id=f"{name}-schema",
        operation_class=operation_class(success=("200", "The wire JSON Schema", None), problems=()),
    )
    async def schema() -> Response[Any]:
        return await h.schema()

    @get(
        "/{key:str}",
        name=f"{name}:item",
        operation_id=f"{name}-item",
        operation_class=operation_class(
            success=("200", "The item", f"{model_name}Item"), problems=("404", "503")
        ),
    )
    async def get_item(request: Request[Any, Any, Any], key: FromPath[str]) -> Response[Any]:
        return await h.item(request, key)

    handlers: list[HTTPRouteHandler] = [list_items, aggregate, meta, schema, get_item]

    if "POST" in enabled:

        @post(
            "/",
            name=f"{name}:create",
            operation_id=f"{name}-create",
            operation_class=operation_class(
                request=[f"{model_name}Write", f"[]{model_name}Write"],
                success=("201", "The stored item (or items)", f"{model_name}Created"),
                problems=("400", "409", "413", "415", "503"),
            ),
        )
        async def create(request: Request[Any, Any, Any]) -> Response[Any]:
            return await h.create(request)

        handlers.append(create)
    else:

        @post(
            "/",
            name=f"{name}:create-disabled",
            operation_id=f"{name}-create-disabled",
            include_in_schema=False,
        )
        async def create_disabled() -> Response[Any]:
            return await h.not_allowed(collection_allow)

        handlers.append(create_disabled)

    for action_name, spec in h.actions.items():
        handlers.append(_action_handler(name, action_name, spec, h, item_problems))

    item_methods = {
        "PUT": (put, h.replace),
        "PATCH": (patch, h.merge),
        "DELETE": (delete, h.remove),
    }
    documented = {
        "PUT": operation_class(
            request=f"{model_name}Write",
            success=("200", "The stored item", f"{model_name}Item"),
            problems=item_problems,
        ),
        "PATCH": operation_class(
            request=f"{model_name}Patch",
            request_types=_PATCH_TYPES,
            success=("200", "The stored item", f"{model_name}Item"),
            problems=item_problems,
        ),
        "DELETE": operation_class(
            success=("204", "Deleted", None), problems=("404", "409", "412", "503")
        ),
    }
    for method, (decorator, action) in item_methods.items():
        handlers.append(
            _item_handler(
                name,
                method,
                decorator=decorator,
                action=action,
                enabled=enabled,
                allow=item_allow,
                h=h,
                operation=documented[method],
            )
        )
    return Router(path=h.base, route_handlers=handlers)


def _action_handler(
    name: str, action_name: str, spec: ActionSpec, h: _Handlers, problems: tuple[str, ...]
) -> HTTPRouteHandler:
    arguments, _ = action_component(h.model, spec)

    async def run_action(request: Request[Any, Any, Any], key: FromPath[str]) -> Response[Any]:
        return await h.act(request, key, spec)

    return post(  # type: ignore[no-any-return]
        f"/{{key:str}}/{action_name}",
        name=f"{name}:action:{action_name}",
        operation_id=f"{name}-action-{action_name}",
        status_code=200,
        operation_class=operation_class(
            request=arguments,
            success=("200", "The item after the action", f"{h.info.name}Item"),
            problems=problems,
        ),
    )(run_action)


def _item_handler(
    name: str,
    method: str,
    *,
    decorator: Any,
    action: Any,
    enabled: frozenset[str],
    allow: str,
    h: _Handlers,
    operation: Any,
) -> HTTPRouteHandler:
    if method == "DELETE" and method in enabled:

        async def delete_item(request: Request[Any, Any, Any], key: FromPath[str]) -> None:
            await action(request, key)

        return decorator(  # type: ignore[no-any-return]
            "/{key:str}",
            name=f"{name}:delete",
            operation_id=f"{name}-delete",
            status_code=204,
            operation_class=operation,
        )(delete_item)
    if method in enabled:

        async def handler(request: Request[Any, Any, Any], key: FromPath[str]) -> Response[Any]:
            return await action(request, key)

        return decorator(
            "/{key:str}",
            name=f"{name}:{method.lower()}",
            operation_id=f"{name}-{method.lower()}",
            status_code=200,
            operation_class=operation,
        )(handler)  # type: ignore[no-any-return]

    async def disabled(key: FromPath[str]) -> Response[Any]:  # noqa: ARG001 - the path names it
        return await h.not_allowed(allow)

    return decorator(
        "/{key:str}",
        name=f"{name}:{method.lower()}-disabled",
        operation_id=f"{name}-{method.lower()}-disabled",
        include_in_schema=False,
        status_code=405,
    )(disabled)  # type: ignore[no-any-return]


def resources_from(
    models: Sequence[Any], overrides: Mapping[type[Any], Resource] | None = None
) -> list[Resource]:
    """Resources for Models, given as classes (read-only) or :class:`Resource` objects."""
    out = []
    for entry in models:
        if isinstance(entry, Resource):
            out.append(entry)
        else:
            out.append((overrides or {}).get(entry) or Resource(entry))
    return out
