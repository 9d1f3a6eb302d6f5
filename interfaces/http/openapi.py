"""OpenAPI 3.1 documentation of the generated routes, from the Models' own schemas.

The handlers read raw requests (the contract's strict wire format is the
Model's business, not Litestar's), so Litestar cannot infer their bodies.
This module supplies them: every Model's Draft-04 wire schema becomes
component schemas in OpenAPI's JSON Schema 2020-12 dialect (``Task`` as
returned, ``TaskWrite`` for POST and PUT, ``TaskPatch`` for PATCH, ``TaskItem``
and ``TaskList`` with their links, and ``Problem``), and each route gets an
operation class that fills in its request body and responses, problem
responses included.
"""

import copy
from dataclasses import dataclass, field
from typing import Any

from litestar.openapi.spec import Components, Operation

from hexkernel.core.model import Kind

__all__ = (
    "DocumentedComponents",
    "action_component",
    "aggregate_component",
    "aggregate_parameters",
    "list_parameters",
    "model_components",
    "operation_class",
    "problem_component",
)

_REF = "#/components/schemas/"
PROBLEM = "application/problem+json"


@dataclass
class DocumentedComponents(Components):
    """Components that keep hexkernel's schemas next to the ones Litestar generates.

    Litestar replaces ``components.schemas`` with its own registry when it
    builds the document, so the Models' schemas are added when it is written.
    """

    documented: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def _exclude_fields(self) -> set[str]:
        return {"documented"}

    def to_schema(self) -> dict[str, Any]:
        """The components, the Models' schemas included."""
        out = super().to_schema()
        out["schemas"] = {**out.get("schemas", {}), **copy.deepcopy(self.documented)}
        return out


def _convert(node: Any) -> Any:
    """Draft-04 -> 2020-12: boolean exclusive bounds become numbers, refs point at components."""
    if isinstance(node, list):
        return [_convert(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _convert(v) for k, v in node.items() if k not in ("$schema", "definitions")}
    if out.get("exclusiveMinimum") is True:
        out["exclusiveMinimum"] = out.pop("minimum")
    elif out.get("exclusiveMinimum") is False:
        out.pop("exclusiveMinimum")
    if out.get("exclusiveMaximum") is True:
        out["exclusiveMaximum"] = out.pop("maximum")
    elif out.get("exclusiveMaximum") is False:
        out.pop("exclusiveMaximum")
    ref = out.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/definitions/"):
        out["$ref"] = _REF + ref.removeprefix("#/definitions/")
    return out


_LINK = {"type": "object", "properties": {"href": {"type": "string"}, "method": {"type": "string"}}}


def model_components(model: type[Any]) -> dict[str, dict[str, Any]]:
    """The component schemas of one Model (and of the Models nested in it)."""
    info = model.__model__
    name = info.name
    wire = model.json_schema()
    out = {key: _convert(value) for key, value in wire.get("definitions", {}).items()}
    base = _convert(wire)
    out[name] = base
    writable = {k: v for k, v in base["properties"].items() if not info.by_name[k].read_only}
    write_only = {f.name: {"writeOnly": True} for f in info.fields if f.exclude and not f.read_only}
    write_props = {**writable, **write_only}
    required = [f.name for f in info.fields if f.required and not f.read_only]
    write = {"type": "object", "properties": write_props, "additionalProperties": False}
    if required:
        write["required"] = required
    out[f"{name}Write"] = write
    patch_props = {**write_props, "version": {"type": "integer"}}
    out[f"{name}Patch"] = {
        "type": "object",
        "properties": patch_props,
        "additionalProperties": False,
    }
    item = copy.deepcopy(base)
    item["properties"]["_links"] = {"type": "object", "additionalProperties": _LINK}
    item.pop("required", None)
    item["required"] = ["id", "_links"]
    out[f"{name}Item"] = item
    out[f"{name}Created"] = {
        "oneOf": [
            {"$ref": f"{_REF}{name}Item"},
            {
                "type": "object",
                "required": ["_items"],
                "properties": {"_items": {"type": "array", "items": {"$ref": f"{_REF}{name}Item"}}},
            },
        ]
    }
    out[f"{name}List"] = {
        "type": "object",
        "required": ["_items", "_meta", "_links"],
        "properties": {
            "_items": {"type": "array", "items": {"$ref": f"{_REF}{name}Item"}},
            "_meta": {
                "type": "object",
                "properties": {
                    "page": {"type": "integer"},
                    "page_size": {"type": "integer"},
                    "total": {"type": "integer"},
                },
            },
            "_links": {"type": "object", "additionalProperties": _LINK},
        },
    }
    return out


def action_component(model: type[Any], spec: Any) -> tuple[str, dict[str, Any]]:
    """The name and schema of an action's arguments."""
    arguments = spec.arguments_model()
    schema = _convert(arguments.json_schema())
    schema.pop("title", None)
    properties = dict(schema.get("properties", {}))
    properties["version"] = {"type": "integer"}
    schema["properties"] = properties
    return f"{model.__model__.name}{arguments.__name__}", schema


def _query(name: str, description: str, schema: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "description": description, "schema": schema, **extra}


_GEO_WHERE = (
    "; on GeoJSON fields also $geoWithin ($geometry Polygon or MultiPolygon, $box, $polygon, "
    "$center, $centerSphere with a radius in radians), $geoIntersects ($geometry) and $near or "
    "$nearSphere ($geometry Point, $maxDistance and $minDistance in metres; nearest first, so "
    "not with sort, $or, $nor or $not). Positions are [longitude, latitude]"
)


def list_parameters(model: type[Any], max_page_size: int) -> list[dict[str, Any]]:
    """The documented query parameters of ``GET /<collection>``.

    Field filters (``field=value``, ``field[op]=value``) are open-ended and
    described in the operation's text rather than listed one by one.
    """
    text_index = any(f.spec.text for f in model.__model__.fields)
    geo_fields = [f.name for f in model.__model__.fields if f.node.kind is Kind.GEOMETRY]
    parameters = [
        _query("page", "Page number, from 1", {"type": "integer", "minimum": 1}),
        _query(
            "page_size",
            "Items per page",
            {"type": "integer", "minimum": 1, "maximum": max_page_size},
        ),
        _query(
            "sort",
            "Fields to sort by, comma-separated; prefix - for descending",
            {"type": "string"},
        ),
        _query(
            "fields", "Fields to return (or, prefixed with -, to leave out)", {"type": "string"}
        ),
        _query(
            "where",
            "A MongoDB-style filter as JSON, restricted to the Model's fields and to "
            "$and $or $nor $not $eq $ne $gt $gte $lt $lte $in $nin $exists $all $elemMatch $size"
            + (_GEO_WHERE if geo_fields else ""),
            {"type": "string"},
        ),
    ]
    if text_index:
        parameters.append(_query("q", "Words to search for in the text index", {"type": "string"}))
    return parameters


def aggregate_parameters() -> list[dict[str, Any]]:
    """The documented query parameter of ``GET /<collection>/aggregate``."""
    return [
        _query(
            "pipeline",
            "A JSON array of stages: $match $group $sort $limit $skip $project $unwind $count "
            "$bucket $bucketAuto $sortByCount $addFields $set $facet",
            {"type": "string"},
            required=True,
        )
    ]


def aggregate_component() -> dict[str, Any]:
    """The body of an aggregation's answer."""
    return {
        "type": "object",
        "required": ["_items", "_meta"],
        "properties": {
            "_items": {"type": "array", "items": {"type": "object"}},
            "_meta": {
                "type": "object",
                "properties": {
                    "count": {"type": "integer"},
                    "truncated": {"type": "boolean"},
                    "max_results": {"type": "integer"},
                },
            },
        },
    }


def problem_component() -> dict[str, Any]:
    """RFC 9457 problem details as hexkernel writes them."""
    error = {
        "type": "object",
        "properties": {
            "field": {"type": "string"},
            "code": {"type": "string"},
            "message": {"type": "string"},
            "index": {"type": "integer"},
        },
    }
    return {
        "type": "object",
        "required": ["type", "title", "status", "detail", "instance", "code"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "instance": {"type": "string"},
            "code": {"type": "string"},
            "errors": {"type": "array", "items": error},
            "request_id": {"type": "string"},
        },
    }


_PROBLEM_TEXT = {
    "400": "The request or its query is not valid",
    "401": "Credentials are missing or were refused (see WWW-Authenticate)",
    "403": "The caller may not do this",
    "404": "No such item",
    "409": "A version conflict, a duplicate or a refused domain rule",
    "412": "If-Match names another version",
    "413": "The body is too large",
    "415": "The body is not JSON",
    "503": "The store is unavailable",
}


def operation_class(
    *,
    request: str | list[str] | None = None,
    request_types: tuple[str, ...] = ("application/json",),
    success: tuple[str, str, str | None],
    problems: tuple[str, ...],
    parameters: list[dict[str, Any]] | None = None,
) -> type[Operation]:
    """An Operation class whose request body and responses are the given components.

    Args:
        request: A component name for the body; a list of names means any of
            them (an object or an array of objects for a bulk create).
        request_types: Accepted media types of the body.
        success: ``(status, description, component or None)``.
        problems: The problem statuses the route may answer.
        parameters: Query parameters to document (OpenAPI parameter objects).
    """
    responses: dict[str, Any] = {}
    status, description, component = success
    responses[status] = {"description": description}
    if component is not None:
        responses[status]["content"] = {"application/json": {"schema": {"$ref": _REF + component}}}
    for problem in sorted({*problems, "401", "403"}):
        responses[problem] = {
            "description": _PROBLEM_TEXT.get(problem, "An error"),
            "content": {PROBLEM: {"schema": {"$ref": f"{_REF}Problem"}}},
        }
    body: dict[str, Any] | None = None
    if request is not None:
        names = [request] if isinstance(request, str) else request
        schemas: list[dict[str, Any]] = []
        for n in names:
            if n.startswith("[]"):
                schemas.append({"type": "array", "items": {"$ref": _REF + n[2:]}, "minItems": 1})
            else:
                schemas.append({"$ref": _REF + n})
        schema = schemas[0] if len(schemas) == 1 else {"oneOf": schemas}
        body = {"required": True, "content": {t: {"schema": schema} for t in request_types}}

    @dataclass
    class GeneratedOperation(Operation):
        def to_schema(self) -> dict[str, Any]:
            out = super().to_schema()
            out["responses"] = copy.deepcopy(responses)
            if body is not None:
                out["requestBody"] = copy.deepcopy(body)
            if parameters:
                out["parameters"] = [*out.get("parameters", []), *copy.deepcopy(parameters)]
            return out

    return GeneratedOperation
