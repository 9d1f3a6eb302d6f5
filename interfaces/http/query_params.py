"""The URL query grammar of a collection resource, compiled to the core query DSL.

``GET /tasks?status=open&priority[gte]=3&sort=-priority,title&page=2&page_size=50&fields=title``
becomes ``Query(Task).where(...).sort(...).page(2, 50).only(...)``: the same
value the Python API builds, so HTTP adds no query semantics of its own.
Anything that is not part of the grammar is an :class:`InvalidQuery` naming
the parameter; values are converted to the field's type, and one that does
not convert names the field.
"""

import datetime as dt
import json
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs

from hexkernel.core.errors import ErrorItem, HexkernelError, ValidationError
from hexkernel.core.geo import (
    EARTH_RADIUS_M,
    FlatCircle,
    FlatPolygon,
    Geometry,
    MultiPolygon,
    Point,
    Polygon,
    from_geojson,
)
from hexkernel.core.model import Kind, TypeNode
from hexkernel.core.model.marshallers import parse_datetime
from hexkernel.core.query import (
    Expr,
    FieldRef,
    Match,
    Pipeline,
    Projection,
    Query,
    RawStage,
    SortKey,
)

__all__ = ("InvalidQuery", "ListParams", "parse_list_params", "parse_pipeline")

_OPERATOR = re.compile(r"^([A-Za-z_][A-Za-z0-9_.]*)\[([a-z]+)\]$")
_RESERVED = frozenset({"sort", "page", "page_size", "fields", "where", "q", "_"})
_INTEGER = re.compile(r"^[+-]?[0-9]+$")
_WHERE_OPERATORS = frozenset(
    {
        "$eq",
        "$ne",
        "$gt",
        "$gte",
        "$lt",
        "$lte",
        "$in",
        "$nin",
        "$exists",
        "$all",
        "$size",
        "$not",
        "$elemMatch",
    }
)
_WHERE_LOGICAL = frozenset({"$and", "$or", "$nor"})
_GEO_OPERATORS = frozenset({"$geoWithin", "$geoIntersects", "$near", "$nearSphere"})
_GEO_WITHIN_SHAPES = ("$geometry", "$box", "$polygon", "$center", "$centerSphere")


class InvalidQuery(HexkernelError, ValueError):
    """A query string that the grammar does not allow; ``errors`` name each parameter."""

    def __init__(self, errors: Sequence[ErrorItem]) -> None:
        self.errors = tuple(errors)
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in self.errors))


def _bad(field: str, message: str, code: str = "invalid_query") -> InvalidQuery:
    return InvalidQuery([ErrorItem(field, code, message)])


@attrs.frozen
class ListParams:
    """A parsed collection request."""

    query: Query[Any]
    page: int
    page_size: int
    search: str | None = None


# ------------------------------------------------------------ value parsing
def _int(text: str) -> int:
    if _INTEGER.match(text):
        return int(text)
    raise ValueError("must be an integer")


def _float(text: str) -> float:
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):  # noqa: PLR0124 - NaN test
        raise ValueError("must be a finite number")
    return value


def _bool(text: str) -> bool:
    if text in ("true", "false"):
        return text == "true"
    raise ValueError("must be true or false")


def _decimal(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError("must be a decimal number") from None
    if not value.is_finite():
        raise ValueError("must be a finite number")
    return value


_PARSERS: dict[Kind, Callable[[str], Any]] = {
    Kind.STR: str,
    Kind.INT: _int,
    Kind.FLOAT: _float,
    Kind.BOOL: _bool,
    Kind.DECIMAL: _decimal,
    Kind.UUID: uuid.UUID,
    Kind.DATETIME: parse_datetime,
    Kind.DATE: dt.date.fromisoformat,
}


def _parse_scalar(node: TypeNode, text: str) -> Any:
    if node.nullable and text == "null":
        return None
    parser = _PARSERS.get(node.kind)
    if parser is not None:
        return parser(text)
    if node.kind in (Kind.ENUM, Kind.LITERAL):
        choices = [m.value for m in node.target] if node.kind is Kind.ENUM else list(node.choices)
        for choice in choices:
            if str(choice) == text or (isinstance(choice, bool) and text == str(choice).lower()):
                return choice
        raise ValueError(f"must be one of {', '.join(str(c) for c in choices)}")
    raise ValueError("cannot be compared in a query string")


def _convert(field: str, node: TypeNode, text: str) -> Any:
    try:
        return _parse_scalar(node, text)
    except ValidationError:
        raise _bad(field, "must be an RFC 3339 date-time", "invalid_value") from None
    except Exception as exc:  # noqa: BLE001 - every conversion failure names the field
        message = str(exc) if str(exc).startswith("must") else f"is not a valid {node.kind.value}"
        raise _bad(field, message, "invalid_value") from None


def _field(model: Any, path: str, parameter: str) -> FieldRef:
    """The reference to ``path`` under a Model class or a FieldRef to an embedded Model."""
    head, *rest = path.split(".")
    info = model.node.target.__model__ if isinstance(model, FieldRef) else model.__model__
    field = info.by_name.get(head)
    if field is None or field.exclude:
        raise _bad(parameter, f"{path} is not a field of {info.name}")
    ref: FieldRef = getattr(model, head)
    for part in rest:
        try:
            ref = getattr(ref, part)
        except AttributeError:
            raise _bad(parameter, f"{path} is not a field of {info.name}") from None
    return ref


def _guard(parameter: str, build: Callable[[], Expr]) -> Expr:
    try:
        return build()
    except ValidationError as exc:
        message = exc.errors[0].message
        raise _bad(parameter, message, "invalid_value") from None


# ------------------------------------------------------------ simple filters
def _filter(model: type[Any], name: str, values: list[str]) -> Expr:
    matched = _OPERATOR.match(name)
    path, op = (matched.group(1), matched.group(2)) if matched else (name, "eq")
    ref = _field(model, path, name)
    node = ref.node
    scalar = node.item if node.kind in (Kind.LIST, Kind.SET) else node
    if op == "eq" and not matched:
        parsed = [_convert(name, scalar, v) for v in values]
        if node.kind in (Kind.LIST, Kind.SET):
            return _guard(name, lambda: _any_of([ref.contains(v) for v in parsed]))
        return _guard(name, lambda: ref == parsed[0] if len(parsed) == 1 else ref.in_(parsed))
    if len(values) != 1:
        raise _bad(name, "may be given only once")
    text = values[0]
    builders: dict[str, Callable[[], Expr]] = {
        "eq": lambda: ref == _convert(name, scalar, text),
        "ne": lambda: ref != _convert(name, scalar, text),
        "gt": lambda: ref > _convert(name, scalar, text),
        "gte": lambda: ref >= _convert(name, scalar, text),
        "lt": lambda: ref < _convert(name, scalar, text),
        "lte": lambda: ref <= _convert(name, scalar, text),
        "in": lambda: ref.in_([_convert(name, scalar, v) for v in text.split(",")]),
        "nin": lambda: ref.not_in([_convert(name, scalar, v) for v in text.split(",")]),
        "contains": lambda: ref.contains(
            text if scalar.kind is Kind.STR else _convert(name, scalar, text)
        ),
        "startswith": lambda: ref.startswith(text),
        "exists": lambda: ref.exists(_convert(name, TypeNode(Kind.BOOL, bool), text)),
    }
    builder = builders.get(op)
    if builder is None:
        raise _bad(name, f"unknown operator [{op}]")
    return _guard(name, builder)


def _any_of(exprs: list[Expr]) -> Expr:
    result = exprs[0]
    for expr in exprs[1:]:
        result = result | expr
    return result


def _all_of(exprs: list[Expr]) -> Expr:
    result = exprs[0]
    for expr in exprs[1:]:
        result = result & expr
    return result


# ----------------------------------------------------------- where=<JSON>
def _where_value(parameter: str, node: TypeNode, value: Any) -> Any:
    """Convert a JSON operand: through the field's wire type, as the body of a request would."""
    if value is None:
        return None
    if node.kind in (Kind.STR, Kind.INT, Kind.FLOAT, Kind.BOOL) and isinstance(
        value, (str, int, float, bool)
    ):
        if node.kind is Kind.STR and not isinstance(value, str):
            raise _bad(parameter, "must be a string", "invalid_value")
        if node.kind is Kind.BOOL and not isinstance(value, bool):
            raise _bad(parameter, "must be true or false", "invalid_value")
        if node.kind in (Kind.INT, Kind.FLOAT) and isinstance(value, (bool, str)):
            raise _bad(parameter, "must be a number", "invalid_value")
        return value
    if isinstance(value, (dict, list)):
        raise _bad(parameter, "operators and values cannot be nested here")
    return _convert(parameter, node, str(value).lower() if isinstance(value, bool) else str(value))


def _where_field(model: Any, path: str, spec: Any, depth: int, prefix: str) -> Expr:
    parameter = f"where.{prefix}{path}"
    if path.startswith("$"):
        raise _bad("where", f"operator {path} is not allowed")
    ref = _field(model, path, parameter)
    node = ref.node
    scalar = node.item if node.kind in (Kind.LIST, Kind.SET) else node
    if not isinstance(spec, dict) or not any(str(k).startswith("$") for k in spec):
        if isinstance(spec, dict):
            raise _bad(parameter, "embedded documents are compared field by field (use a.b paths)")
        if node.kind in (Kind.LIST, Kind.SET) and not isinstance(spec, list):
            return _guard(parameter, lambda: ref.contains(_where_value(parameter, scalar, spec)))
        return _guard(parameter, lambda: ref == _where_list_or_value(parameter, node, spec))
    exprs = [
        _where_operator(parameter, ref, op, operand, node=node, scalar=scalar, depth=depth)
        for op, operand in spec.items()
    ]
    return _all_of(exprs)


def _where_list_or_value(parameter: str, node: TypeNode, spec: Any) -> Any:
    if isinstance(spec, list):
        if node.kind not in (Kind.LIST, Kind.SET):
            raise _bad(parameter, "is not a list")
        return [_where_value(parameter, node.item, v) for v in spec]
    return _where_value(parameter, node, spec)


def _where_operator(
    parameter: str,
    ref: FieldRef,
    op: Any,
    operand: Any,
    *,
    node: TypeNode,
    scalar: TypeNode,
    depth: int = 0,
) -> Expr:
    if op in _GEO_OPERATORS:
        if node.kind is not Kind.GEOMETRY:
            raise _bad(parameter, f"{op} applies to GeoJSON fields only")
        return _geo_operator(parameter, ref, op, operand)
    if op not in _WHERE_OPERATORS:
        raise _bad("where", f"operator {op} is not allowed")
    if depth > _MAX_DEPTH:
        raise _bad("where", "is nested too deeply")
    if op == "$not":
        if not isinstance(operand, dict) or not operand:
            raise _bad(parameter, "$not takes an operator expression")
        inner = [
            _where_operator(parameter, ref, k, v, node=node, scalar=scalar, depth=depth + 1)
            for k, v in operand.items()
        ]
        return _logic(parameter, lambda: ~_all_of(inner))
    if op == "$elemMatch":
        return _elem_match(parameter, ref, operand, node=node, depth=depth + 1)
    if op in ("$in", "$nin", "$all", "$exists", "$size"):
        return _set_operator(parameter, ref, op, operand, node=node, scalar=scalar)
    value = _where_value(parameter, scalar if node.kind in (Kind.LIST, Kind.SET) else node, operand)
    if node.kind in (Kind.LIST, Kind.SET) and op in ("$eq", "$ne"):
        contains = ref.contains(value)
        return contains if op == "$eq" else ~contains
    compare: dict[str, Callable[[], Expr]] = {
        "$eq": lambda: ref == value,
        "$ne": lambda: ref != value,
        "$gt": lambda: ref > value,
        "$gte": lambda: ref >= value,
        "$lt": lambda: ref < value,
        "$lte": lambda: ref <= value,
    }
    return _guard(parameter, compare[op])


def _set_operator(
    parameter: str, ref: FieldRef, op: str, operand: Any, *, node: TypeNode, scalar: TypeNode
) -> Expr:
    """``$in``, ``$nin``, ``$all``, ``$exists`` and ``$size``."""
    if op in ("$in", "$nin", "$all"):
        if not isinstance(operand, list) or not operand:
            raise _bad(parameter, f"{op} takes a non-empty array")
        values = [_where_value(parameter, scalar, v) for v in operand]
        if op == "$all":
            if node.kind not in (Kind.LIST, Kind.SET):
                raise _bad(parameter, "$all applies to lists")
            return _guard(parameter, lambda: _all_of([ref.contains(v) for v in values]))
        if node.kind in (Kind.LIST, Kind.SET):
            contains = _any_of([ref.contains(v) for v in values])
            return _guard(parameter, lambda: contains if op == "$in" else ~contains)
        return _guard(parameter, lambda: ref.in_(values) if op == "$in" else ref.not_in(values))
    if op == "$exists":
        if not isinstance(operand, bool):
            raise _bad(parameter, "$exists takes true or false")
        return ref.exists(operand)
    if node.kind not in (Kind.LIST, Kind.SET):
        raise _bad(parameter, "$size applies to lists")
    if type(operand) is not int or operand < 0:
        raise _bad(parameter, "$size takes a non-negative integer", "invalid_value")
    return ref.size(operand)


def _elem_match(parameter: str, ref: FieldRef, operand: Any, *, node: TypeNode, depth: int) -> Expr:
    """``$elemMatch``: conditions on the items of a list, which one item must meet together."""
    if node.kind not in (Kind.LIST, Kind.SET):
        raise _bad(parameter, "$elemMatch applies to lists")
    if not isinstance(operand, dict) or not operand:
        raise _bad(parameter, "$elemMatch takes a non-empty object")
    item = node.item
    if item.kind is Kind.MODEL:
        if any(str(key).startswith("$") and key not in _WHERE_LOGICAL for key in operand):
            raise _bad(parameter, "$elemMatch on documents takes conditions on their fields")

        def on_document(element: FieldRef) -> Expr:
            return where_expression(element, operand, depth + 1, prefix=f"{ref.path}.")

        return _guard(parameter, lambda: ref.elem_match(on_document))
    if not all(str(key).startswith("$") for key in operand):
        raise _bad(parameter, "$elemMatch on plain items takes operators ($gt, $in, ...)")
    if any(key in ("$not", "$elemMatch") for key in operand):
        raise _bad(parameter, "$elemMatch on plain items takes comparison operators")

    def on_item(element: FieldRef) -> Expr:
        return _all_of(
            [
                _where_operator(parameter, element, k, v, node=item, scalar=item, depth=depth)
                for k, v in operand.items()
            ]
        )

    return _guard(parameter, lambda: ref.elem_match(on_item))


def _logic(parameter: str, build: Callable[[], Expr]) -> Expr:
    """Combine expressions; a combination MongoDB refuses ($near in an $or) names the field."""
    try:
        return build()
    except ValidationError as exc:
        item = exc.errors[0]
        raise _bad(f"where.{item.field}" if item.field else parameter, item.message) from None


# --------------------------------------------------------------------- geo
def _geometry(parameter: str, op: str, value: Any, *allowed: type[Geometry]) -> Any:
    """A GeoJSON operand, checked like a field value; problems name their place in it."""
    try:
        geometry = from_geojson(value)
    except ValidationError as exc:
        raise InvalidQuery(
            [
                ErrorItem(
                    parameter, "invalid_geometry", f"{op} $geometry{_at(e.field)}: {e.message}"
                )
                for e in exc.errors
            ]
        ) from None
    if allowed and not isinstance(geometry, allowed):
        names = " or ".join(cls.__name__ for cls in allowed)
        raise _bad(parameter, f"{op} $geometry must be a {names}", "invalid_geometry")
    return geometry


def _at(path: str) -> str:
    return "" if not path else f"[{path}]" if path.startswith("[") else f".{path}"


def _pair(parameter: str, op: str, value: Any) -> Any:
    if not isinstance(value, list) or len(value) != 2:  # noqa: PLR2004 - two items
        raise _bad(parameter, f"{op} takes an array of two items", "invalid_geometry")
    return value


def _geo_within(parameter: str, ref: FieldRef, operand: dict[str, Any]) -> Expr:
    op = "$geoWithin"
    if len(operand) != 1 or next(iter(operand)) not in _GEO_WITHIN_SHAPES:
        raise _bad(parameter, f"$geoWithin takes one of {', '.join(_GEO_WITHIN_SHAPES)}")
    shape, value = next(iter(operand.items()))
    if shape == "$geometry":
        region = _geometry(parameter, op, value, Polygon, MultiPolygon)
        return _guard(parameter, lambda: ref.geo_within(region))
    if shape == "$box":
        low, high = _pair(parameter, shape, value)
        return _shape(parameter, lambda: ref.geo_within_box(low, high))
    if shape == "$polygon":
        if not isinstance(value, list):
            raise _bad(parameter, "$polygon takes an array of positions", "invalid_geometry")
        return _shape(parameter, lambda: ref.geo_within(FlatPolygon(value)))
    center, radius = _pair(parameter, shape, value)
    if shape == "$center":
        return _shape(parameter, lambda: ref.geo_within(FlatCircle(center, radius)))
    if isinstance(radius, bool) or not isinstance(radius, (int, float)):
        raise _bad(parameter, "$centerSphere takes a radius in radians", "invalid_geometry")
    return _shape(parameter, lambda: ref.geo_within_sphere(center, radius * EARTH_RADIUS_M))


def _shape(parameter: str, build: Callable[[], Expr]) -> Expr:
    try:
        return build()
    except ValidationError as exc:
        raise InvalidQuery(
            [ErrorItem(parameter, "invalid_geometry", _shape_message(e)) for e in exc.errors]
        ) from None
    except TypeError:
        raise _bad(parameter, "positions are [longitude, latitude]", "invalid_geometry") from None


def _shape_message(item: ErrorItem) -> str:
    # Region errors are built under the field's path: keep the operator's part only.
    where = item.field[item.field.find("$") :] if "$" in item.field else item.field
    return f"{where}: {item.message}" if where else item.message


def _near(parameter: str, ref: FieldRef, op: str, operand: dict[str, Any]) -> Expr:
    unknown = [k for k in operand if k not in ("$geometry", "$maxDistance", "$minDistance")]
    if unknown or "$geometry" not in operand:
        raise _bad(
            parameter,
            f"{op} takes $geometry (a GeoJSON Point) and optionally $maxDistance and "
            "$minDistance in metres",
        )
    point = _geometry(parameter, op, operand["$geometry"], Point)
    distances = {}
    for key in ("$maxDistance", "$minDistance"):
        value = operand.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0
        ):
            raise _bad(parameter, f"{key} takes a non-negative number of metres", "invalid_value")
        distances[key] = value
    return _guard(
        parameter,
        lambda: ref.near(
            point,
            max_distance_m=distances["$maxDistance"],
            min_distance_m=distances["$minDistance"],
        ),
    )


def _geo_operator(parameter: str, ref: FieldRef, op: str, operand: Any) -> Expr:
    """``$geoWithin``, ``$geoIntersects``, ``$near`` and ``$nearSphere`` on a GeoJSON field."""
    if not isinstance(operand, dict) or not operand:
        raise _bad(parameter, f"{op} takes an object")
    if op == "$geoWithin":
        return _geo_within(parameter, ref, operand)
    if op == "$geoIntersects":
        if list(operand) != ["$geometry"]:
            raise _bad(parameter, "$geoIntersects takes $geometry (a GeoJSON geometry)")
        geometry = _geometry(parameter, op, operand["$geometry"])
        return _guard(parameter, lambda: ref.geo_intersects(geometry))
    return _near(parameter, ref, op, operand)


_MAX_DEPTH = 8


def where_expression(model: Any, document: Any, depth: int = 0, prefix: str = "") -> Expr:
    """Compile a ``where`` document (MongoDB filter syntax, restricted) into an expression.

    ``model`` is the Model class, or a reference to an embedded Model whose
    fields ``document`` names (inside ``$elemMatch``).
    """
    if depth > _MAX_DEPTH:  # nesting beyond this is an attack, not a query
        raise _bad("where", "is nested too deeply")
    if not isinstance(document, dict) or not document:
        raise _bad("where", "must be a non-empty JSON object")
    exprs: list[Expr] = []
    for key, spec in document.items():
        if key in _WHERE_LOGICAL:
            if not isinstance(spec, list) or not spec:
                raise _bad("where", f"{key} takes a non-empty array of conditions")
            parts = [where_expression(model, part, depth + 1, prefix) for part in spec]
            combined = _logic(
                "where",
                lambda parts=parts, key=key: _all_of(parts) if key == "$and" else _any_of(parts),
            )
            exprs.append(_logic("where", lambda c=combined: ~c) if key == "$nor" else combined)
        else:
            exprs.append(_where_field(model, str(key), spec, depth, prefix))
    return _all_of(exprs)


# ------------------------------------------------------------------ entry
def _int_param(
    params: Mapping[str, list[str]], name: str, default: int, low: int, high: int
) -> int:
    values = params.get(name)
    if not values:
        return default
    if len(values) != 1 or not _INTEGER.match(values[0]):
        raise _bad(name, "must be an integer")
    value = int(values[0])
    if not low <= value <= high:
        raise _bad(name, f"must be between {low} and {high}")
    return value


def _sort(model: type[Any], text: str) -> list[SortKey]:
    keys = []
    for part in text.split(","):
        name = part.strip()
        descending = name.startswith("-")
        name = name.lstrip("-+")
        if not name:
            raise _bad("sort", "has an empty key")
        ref = _field(model, name, "sort")
        keys.append(ref.desc() if descending else ref.asc())
    return keys


def _fields(model: type[Any], text: str) -> Projection:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise _bad("fields", "names no field")
    exclude = names[0].startswith("-")
    if any(n.startswith("-") != exclude for n in names):
        raise _bad("fields", "lists fields to include or, with -, to exclude; not both")
    refs = frozenset(_field(model, n.lstrip("-"), "fields").path for n in names)
    return Projection(exclude=refs) if exclude else Projection(include=refs)


def _single(params: Mapping[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    if values is None:
        return None
    if len(values) != 1:
        raise _bad(name, "may be given only once")
    return values[0]


def parse_list_params(
    model: type[Any],
    params: Mapping[str, list[str]],
    *,
    default_page_size: int = 20,
    max_page_size: int = 100,
) -> ListParams:
    """Parse the query parameters of ``GET /<collection>``.

    Raises:
        InvalidQuery: Naming every parameter that is not allowed or does not convert.
    """
    errors: list[ErrorItem] = []
    exprs: list[Expr] = []
    query: Query[Any] = Query(model)

    def attempt(step: Callable[[], None]) -> None:
        try:
            step()
        except InvalidQuery as exc:
            errors.extend(exc.errors)

    for name, values in params.items():
        if name not in _RESERVED:
            attempt(lambda name=name, values=values: exprs.append(_filter(model, name, values)))

    def read_where() -> None:
        text = _single(params, "where")
        if text is not None:
            exprs.append(where_expression(model, _json(text)))

    def read_sort() -> None:
        nonlocal query
        text = _single(params, "sort")
        if text is not None:
            query = query.sort(*_sort(model, text))

    def read_fields() -> None:
        nonlocal query
        text = _single(params, "fields")
        if text is not None:
            query = attrs.evolve(query, projection=_fields(model, text))

    sizes = {"page": 1, "page_size": default_page_size}

    def read_window() -> None:
        sizes["page"] = _int_param(params, "page", 1, 1, 10**9)

    def read_size() -> None:
        sizes["page_size"] = _int_param(params, "page_size", default_page_size, 1, max_page_size)

    search: list[str] = []

    def read_search() -> None:
        text = _single(params, "q")
        if text is not None:
            try:
                Query(model).search(text)
            except ValidationError as exc:
                raise _bad("q", exc.errors[0].message) from None
            search.append(text)

    for step in (read_where, read_sort, read_fields, read_window, read_size, read_search):
        attempt(step)
    if errors:
        raise InvalidQuery(errors)
    try:
        if search:
            query = query.search(search[0])
        if exprs:
            query = query.where(*exprs)
    except ValidationError as exc:  # rules on the whole query ($near with a sort, say)
        raise InvalidQuery(
            [attrs.evolve(e, field=f"where.{e.field}") for e in exc.errors]
        ) from None
    page, page_size = sizes["page"], sizes["page_size"]
    return ListParams(query.page(page, page_size), page, page_size, search[0] if search else None)


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise _bad("where", "is not valid JSON") from None


# ------------------------------------------------------------- aggregation
_STAGES = frozenset(
    {
        "$match",
        "$group",
        "$sort",
        "$limit",
        "$skip",
        "$project",
        "$unwind",
        "$count",
        "$bucket",
        "$bucketAuto",
        "$sortByCount",
        "$addFields",
        "$set",
        "$facet",
    }
)
_FORBIDDEN_ANYWHERE = frozenset({"$function", "$accumulator", "$where"})
_KEEPS_SHAPE = frozenset({"$match", "$sort", "$limit", "$skip"})
_MAX_STAGES = 20
_MAX_NESTING = 32


def _forbidden_keys(value: Any, location: str, depth: int = 0) -> None:
    """Refuse server-side JavaScript and stages that read or write other collections."""
    if depth > _MAX_NESTING:
        raise _bad(location, "is nested too deeply")
    if isinstance(value, dict):
        for key, item in value.items():
            if key in _FORBIDDEN_ANYWHERE or key in ("$out", "$merge", "$lookup", "$graphLookup"):
                raise _bad(location, f"{key} is not allowed")
            if key == "$unionWith":
                raise _bad(location, f"{key} is not allowed")
            _forbidden_keys(item, location, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _forbidden_keys(item, location, depth + 1)


def _raw_match(location: str, spec: Any, depth: int = 0) -> None:
    """A ``$match`` after the documents changed shape: only the ``where`` operators."""
    if depth > _MAX_NESTING:
        raise _bad(location, "is nested too deeply")
    if isinstance(spec, dict):
        for key, value in spec.items():
            if str(key).startswith("$") and key not in _WHERE_OPERATORS | _WHERE_LOGICAL:
                raise _bad(location, f"operator {key} is not allowed")
            _raw_match(location, value, depth + 1)
    elif isinstance(spec, list):
        for value in spec:
            _raw_match(location, value, depth + 1)


def _match_stage(model: type[Any], spec: Any, here: str, *, model_shape: bool) -> Match | RawStage:
    if model_shape:
        try:
            return Match(where_expression(model, spec))
        except ValidationError as exc:
            raise _bad(here, exc.errors[0].message) from None
        except InvalidQuery as exc:
            raise InvalidQuery(
                [attrs.evolve(e, field=f"{here}.{e.field}") for e in exc.errors]
            ) from None
    if not isinstance(spec, dict):
        raise _bad(here, "$match takes an object")
    _raw_match(here, spec)
    return RawStage("$match", spec)


def _check_window_and_sort(name: str, spec: Any, here: str) -> None:
    if name == "$limit" and (type(spec) is not int or spec < 1):
        raise _bad(here, "$limit takes a positive integer")
    if name == "$skip" and (type(spec) is not int or spec < 0):
        raise _bad(here, "$skip takes a non-negative integer")
    if name == "$sort" and (
        not isinstance(spec, dict)
        or not spec
        or any(type(v) is not int or v not in (1, -1) for v in spec.values())
    ):
        raise _bad(here, "$sort takes an object of field: 1 or -1")


def _stages(
    model: type[Any], stages: Any, location: str, *, model_shape: bool, in_facet: bool
) -> list[Match | RawStage]:
    if not isinstance(stages, list) or not stages:
        raise _bad(location, "must be a non-empty JSON array of stages")
    if len(stages) > _MAX_STAGES:
        raise _bad(location, f"has more than {_MAX_STAGES} stages")
    out: list[Match | RawStage] = []
    for position, stage in enumerate(stages):
        here = f"{location}[{position}]"
        if not isinstance(stage, dict) or len(stage) != 1:
            raise _bad(here, "a stage is an object with exactly one key")
        ((name, spec),) = stage.items()
        if name not in _STAGES:
            raise _bad(here, f"stage {name} is not allowed")
        _forbidden_keys(spec, here)
        _check_window_and_sort(name, spec, here)
        if name == "$match":
            out.append(_match_stage(model, spec, here, model_shape=model_shape))
            continue
        if name == "$facet":
            if in_facet:
                raise _bad(here, "$facet cannot hold another $facet")
            if not isinstance(spec, dict) or not spec:
                raise _bad(here, "$facet takes an object of pipelines")
            spec = {
                str(facet): _stages(
                    model, pipeline, f"{here}.{facet}", model_shape=model_shape, in_facet=True
                )
                for facet, pipeline in spec.items()
            }
        out.append(RawStage(name, spec))
        model_shape = model_shape and name in _KEEPS_SHAPE
    return out


def parse_pipeline(model: type[Any], params: Mapping[str, list[str]]) -> Pipeline:
    """Parse the query of ``GET /<collection>/aggregate``: one ``pipeline`` JSON array.

    Stages are limited to a fixed list; server-side JavaScript and stages
    that reach other collections are refused wherever they appear. A
    ``$match`` on the Model's documents follows the ``where`` rules (model
    fields, the same operators, values converted); once a stage has changed
    the documents' shape, a ``$match`` may use the same operators on any name.

    Raises:
        InvalidQuery: Naming the stage at fault.
    """
    unknown = [name for name in params if name not in ("pipeline", "_")]
    if unknown:
        raise InvalidQuery(
            [ErrorItem(name, "invalid_query", "is not a parameter here") for name in unknown]
        )
    text = _single(params, "pipeline")
    if text is None:
        raise _bad("pipeline", "is required")
    try:
        document = json.loads(text)
    except ValueError:
        raise _bad("pipeline", "is not valid JSON") from None
    return Pipeline(tuple(_stages(model, document, "pipeline", model_shape=True, in_facet=False)))
