"""Analysis of field annotations into a small tree of :class:`TypeNode`.

Every other part of the Model machinery (the Python-side type checks, the wire
and storage codecs, both JSON Schema flavours, the metadata description) reads
this tree instead of re-parsing ``typing`` objects, so the set of supported
types is defined in exactly one place.
"""

import datetime as dt
import enum
import math
import types
import typing
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Literal

import attrs

from hexkernel.core.errors import ModelDefinitionError
from hexkernel.core.geo import is_geometry_type

__all__ = ("Invalid", "Kind", "TypeNode", "analyse", "coerce", "coercer", "problems_of", "to_utc")


class Invalid(Exception):
    """Raised by validators, converters and codecs for a value that is not acceptable.

    It is always caught by the Model machinery and turned into an
    :class:`~hexkernel.core.errors.ErrorItem`; callers of the Model only ever
    see :class:`~hexkernel.core.errors.ValidationError`.

    Args:
        code: Stable snake_case code.
        message: Human-readable explanation; must not quote the value.
        field: Path relative to the value being checked (``"[2]"``, ``"city"``).
    """

    def __init__(self, code: str, message: str, field: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


class Kind(enum.Enum):
    """The shapes of value a Model field can hold."""

    STR = "string"
    INT = "integer"
    FLOAT = "number"
    BOOL = "boolean"
    DECIMAL = "decimal"
    UUID = "uuid"
    DATETIME = "datetime"
    DATE = "date"
    ENUM = "enum"
    LITERAL = "literal"
    LIST = "list"
    SET = "set"
    DICT = "dict"
    MODEL = "model"
    GEOMETRY = "geometry"


_SCALARS: dict[Any, Kind] = {
    str: Kind.STR,
    int: Kind.INT,
    float: Kind.FLOAT,
    bool: Kind.BOOL,
    Decimal: Kind.DECIMAL,
    uuid.UUID: Kind.UUID,
    dt.datetime: Kind.DATETIME,
    dt.date: Kind.DATE,
}


@attrs.frozen
class TypeNode:
    """One level of a field's type.

    Attributes:
        kind: The shape of the value.
        annotation: The annotation without ``None`` (what cattrs is asked for).
        nullable: Whether ``None`` is allowed.
        args: Item type of a list or set; value type of a dict.
        target: The Enum or Model class for those kinds.
        choices: The allowed values of a ``Literal``.
    """

    kind: Kind
    annotation: Any
    nullable: bool = False
    args: tuple["TypeNode", ...] = ()
    target: Any = None
    choices: tuple[Any, ...] = ()

    @property
    def item(self) -> "TypeNode":
        """The element (list, set) or value (dict) type."""
        return self.args[0]

    def describe(self) -> str:
        """Return a short human-readable name, such as ``list[string]``."""
        if self.kind in (Kind.LIST, Kind.SET, Kind.DICT):
            name = f"{self.kind.value}[{self.item.describe()}]"
        elif self.kind in (Kind.ENUM, Kind.MODEL, Kind.GEOMETRY):
            name = self.target.__name__
        else:
            name = self.kind.value
        return f"{name} | null" if self.nullable else name


def analyse(annotation: Any, is_model: Callable[[Any], bool], where: str) -> TypeNode:
    """Turn a field annotation into a :class:`TypeNode`.

    Args:
        annotation: The resolved annotation.
        is_model: Tells whether a class is a hexkernel Model (passed in to
            avoid an import cycle with the Model module).
        where: ``Class.field``, for error messages.

    Raises:
        ModelDefinitionError: For an annotation hexkernel cannot map.
    """
    nullable = False
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        nullable = len(members) < len(typing.get_args(annotation))
        if len(members) != 1:
            raise ModelDefinitionError(
                f"{where}: unions other than `X | None` are not supported ({annotation!r})"
            )
        annotation = members[0]
        origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)

    if annotation in _SCALARS:
        return TypeNode(_SCALARS[annotation], annotation, nullable)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return TypeNode(Kind.ENUM, annotation, nullable, target=annotation)
    if isinstance(annotation, type) and is_model(annotation):
        return TypeNode(Kind.MODEL, annotation, nullable, target=annotation)
    if is_geometry_type(annotation):
        return TypeNode(Kind.GEOMETRY, annotation, nullable, target=annotation)
    if origin is Literal:
        return TypeNode(Kind.LITERAL, annotation, nullable, choices=args)
    if origin is list and len(args) == 1:
        return TypeNode(Kind.LIST, annotation, nullable, (analyse(args[0], is_model, where),))
    if origin in (set, frozenset) and len(args) == 1:
        item = analyse(args[0], is_model, where)
        if item.kind in (Kind.LIST, Kind.SET, Kind.DICT, Kind.MODEL):
            raise ModelDefinitionError(f"{where}: set items must be hashable scalars")
        return TypeNode(Kind.SET, annotation, nullable, (item,), target=origin)
    if origin is dict and len(args) == 2:  # noqa: PLR2004 - key and value
        if args[0] is not str:
            raise ModelDefinitionError(f"{where}: dict keys must be str (they are JSON keys)")
        return TypeNode(Kind.DICT, annotation, nullable, (analyse(args[1], is_model, where),))
    raise ModelDefinitionError(f"{where}: unsupported field type {annotation!r}")


def to_utc(value: dt.datetime) -> dt.datetime:
    """Normalise an aware datetime to UTC with millisecond precision.

    Milliseconds are what MongoDB and epoch-millisecond wire formats hold, so
    a value truncated here survives every round trip unchanged.
    """
    if value.tzinfo is not dt.UTC:
        value = value.astimezone(dt.UTC)
    if value.microsecond % 1000:
        value = value.replace(microsecond=value.microsecond - value.microsecond % 1000)
    return value


def coercer(node: TypeNode) -> Callable[[Any], Any]:
    """Return ``coerce`` specialised for ``node`` (no per-call dispatch on the kind)."""
    check = _COERCERS[node.kind]
    nullable = node.nullable

    def run(value: Any) -> Any:
        if value is None:
            if nullable:
                return None
            raise Invalid("required", "must not be null")
        return check(node, value)

    return run


def coerce(node: TypeNode, value: Any) -> Any:
    """Check a Python value against ``node``, returning it in canonical form.

    Canonical form: datetimes in UTC at millisecond precision, floats as
    ``float``, enum members rather than their values, sets as ``set`` or
    ``frozenset`` as annotated. Nested Models are already validated by their
    own constructor, so only their class is checked.

    Raises:
        Invalid: With the path of the offending element.
    """
    if value is None:
        if node.nullable:
            return None
        raise Invalid("required", "must not be null")
    return _COERCERS[node.kind](node, value)


def _type_error(node: TypeNode) -> Invalid:
    return Invalid("invalid_type", f"must be {_article(node)}")


def _article(node: TypeNode) -> str:
    name = attrs.evolve(node, nullable=False).describe()
    return f"an {name}" if name[0] in "aeiou" else f"a {name}"


def _coerce_str(node: TypeNode, value: Any) -> Any:
    if isinstance(value, str):
        return value
    raise _type_error(node)


def _coerce_int(node: TypeNode, value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise _type_error(node)


def _coerce_float(node: TypeNode, value: Any) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = float(value)
        if math.isfinite(value):
            return value
        raise Invalid("invalid_number", "must be a finite number")
    raise _type_error(node)


def _coerce_bool(node: TypeNode, value: Any) -> Any:
    if isinstance(value, bool):
        return value
    raise _type_error(node)


def _coerce_decimal(node: TypeNode, value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    if isinstance(value, Decimal):
        if value.is_finite():
            return value
        raise Invalid("invalid_number", "must be a finite number")
    raise _type_error(node)


def _coerce_uuid(node: TypeNode, value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return value
    raise _type_error(node)


def _coerce_datetime(node: TypeNode, value: Any) -> Any:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise Invalid("naive_datetime", "must carry a time zone (UTC is stored)")
        return to_utc(value)
    raise _type_error(node)


def _coerce_date(node: TypeNode, value: Any) -> Any:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    raise _type_error(node)


def _coerce_enum(node: TypeNode, value: Any) -> Any:
    if isinstance(value, node.target):
        return value
    try:
        return node.target(value)
    except (ValueError, TypeError):
        allowed = ", ".join(repr(m.value) for m in node.target)
        raise Invalid("invalid_choice", f"must be one of {allowed}") from None


def _coerce_literal(node: TypeNode, value: Any) -> Any:
    for choice in node.choices:
        if value == choice and type(value) is type(choice):
            return choice
    allowed = ", ".join(repr(c) for c in node.choices)
    raise Invalid("invalid_choice", f"must be one of {allowed}")


def _coerce_items(node: TypeNode, items: Any) -> list[Any]:
    out: list[Any] = []
    problems: list[Invalid] = []
    item = node.item
    for index, value in enumerate(items):
        try:
            out.append(coerce(item, value))
        except Invalid as exc:
            problems.append(Invalid(exc.code, exc.message, f"[{index}]{_join(exc.field)}"))
    if problems:
        raise _Several(problems)
    return out


def _join(field: str) -> str:
    if not field or field.startswith("["):
        return field
    return f".{field}"


def _coerce_list(node: TypeNode, value: Any) -> Any:
    if isinstance(value, list):
        return _coerce_items(node, value)
    raise _type_error(node)


def _coerce_set(node: TypeNode, value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return node.target(_coerce_items(node, value))
    raise _type_error(node)


def _coerce_dict(node: TypeNode, value: Any) -> Any:
    if not isinstance(value, dict):
        raise _type_error(node)
    out: dict[str, Any] = {}
    problems: list[Invalid] = []
    for key, item in value.items():
        if not isinstance(key, str):
            problems.append(Invalid("invalid_type", "keys must be strings"))
            continue
        try:
            out[key] = coerce(node.item, item)
        except Invalid as exc:
            problems.append(Invalid(exc.code, exc.message, f"{key}{_join(exc.field)}"))
    if problems:
        raise _Several(problems)
    return out


def _coerce_model(node: TypeNode, value: Any) -> Any:
    if isinstance(value, node.target):
        return value
    raise _type_error(node)


def _coerce_geometry(node: TypeNode, value: Any) -> Any:
    if isinstance(value, node.target):
        return value
    raise _type_error(node)


class _Several(Invalid):
    """Several problems inside one container value."""

    def __init__(self, problems: list[Invalid]) -> None:
        super().__init__(problems[0].code, problems[0].message, problems[0].field)
        self.problems = problems


def problems_of(exc: Invalid) -> list[Invalid]:
    """Flatten an :class:`Invalid` that may stand for several problems."""
    return exc.problems if isinstance(exc, _Several) else [exc]


_COERCERS: dict[Kind, Callable[[TypeNode, Any], Any]] = {
    Kind.STR: _coerce_str,
    Kind.INT: _coerce_int,
    Kind.FLOAT: _coerce_float,
    Kind.BOOL: _coerce_bool,
    Kind.DECIMAL: _coerce_decimal,
    Kind.UUID: _coerce_uuid,
    Kind.DATETIME: _coerce_datetime,
    Kind.DATE: _coerce_date,
    Kind.ENUM: _coerce_enum,
    Kind.LITERAL: _coerce_literal,
    Kind.LIST: _coerce_list,
    Kind.SET: _coerce_set,
    Kind.DICT: _coerce_dict,
    Kind.MODEL: _coerce_model,
    Kind.GEOMETRY: _coerce_geometry,
}
