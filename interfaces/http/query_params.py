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
from hexkernel.core.model import Kind, TypeNode
from hexkernel.core.model.marshallers import parse_datetime
from hexkernel.core.query import Expr, FieldRef, Projection, Query, SortKey

__all__ = ("InvalidQuery", "ListParams", "parse_list_params")

_OPERATOR = re.compile(r"^([A-Za-z_][A-Za-z0-9_.]*)\[([a-z]+)\]$")
_RESERVED = frozenset({"sort", "page", "page_size", "fields", "where", "q", "_"})
_INTEGER = re.compile(r"^[+-]?[0-9]+$")
_WHERE_OPERATORS = frozenset(
    {"$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$all", "$size", "$not"}
)
_WHERE_LOGICAL = frozenset({"$and", "$or", "$nor"})


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


def _field(model: type[Any], path: str, parameter: str) -> FieldRef:
    head, *rest = path.split(".")
    info = model.__model__
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


def _where_field(model: type[Any], path: str, spec: Any) -> Expr:
    parameter = f"where.{path}"
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
        _where_operator(parameter, ref, op, operand, node=node, scalar=scalar)
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
    parameter: str, ref: FieldRef, op: Any, operand: Any, *, node: TypeNode, scalar: TypeNode
) -> Expr:
    if op not in _WHERE_OPERATORS:
        raise _bad("where", f"operator {op} is not allowed")
    if op == "$not":
        if not isinstance(operand, dict) or not operand:
            raise _bad(parameter, "$not takes an operator expression")
        inner = [
            _where_operator(parameter, ref, k, v, node=node, scalar=scalar)
            for k, v in operand.items()
        ]
        return ~_all_of(inner)
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
    if op == "$size":
        raise _bad(parameter, "$size is not supported yet")
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


def where_expression(model: type[Any], document: Any, depth: int = 0) -> Expr:
    """Compile a ``where`` document (MongoDB filter syntax, restricted) into an expression."""
    if depth > 8:  # noqa: PLR2004 - nesting beyond this is an attack, not a query
        raise _bad("where", "is nested too deeply")
    if not isinstance(document, dict) or not document:
        raise _bad("where", "must be a non-empty JSON object")
    exprs: list[Expr] = []
    for key, spec in document.items():
        if key in _WHERE_LOGICAL:
            if not isinstance(spec, list) or not spec:
                raise _bad("where", f"{key} takes a non-empty array of conditions")
            parts = [where_expression(model, part, depth + 1) for part in spec]
            combined = _all_of(parts) if key == "$and" else _any_of(parts)
            exprs.append(~combined if key == "$nor" else combined)
        else:
            exprs.append(_where_field(model, str(key), spec))
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

    for step in (read_where, read_sort, read_fields, read_window, read_size):
        attempt(step)
    if errors:
        raise InvalidQuery(errors)
    if exprs:
        query = query.where(*exprs)
    search = params["q"][-1] if "q" in params else None
    page, page_size = sizes["page"], sizes["page_size"]
    return ListParams(query.page(page, page_size), page, page_size, search)


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise _bad("where", "is not valid JSON") from None
