"""Field validators.

A validator checks one field value that already has the field's type (the
type check runs first) and is not ``None`` (nullability is the type's
business). It raises :class:`Invalid` to reject the value. Besides checking,
each built-in validator knows how it shows up in JSON Schema and in the
``/meta`` description, so the rules are declared once and published
everywhere.

Any callable ``value -> bool | None`` can be a validator too: returning
``False`` or raising :class:`ValueError` rejects the value (see
:class:`Check`).

Example::

    class Task(Model):
        title: str = Field(validators=[NotEmpty(), Length(max=200)])
        tags: list[str] = Field(factory=list, validators=[UniqueItems(), Each(Length(max=20))])
"""

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

import attrs

from hexkernel.core.model._types import Invalid, Kind, TypeNode

__all__ = (
    "Check",
    "Each",
    "Email",
    "Future",
    "Invalid",
    "Length",
    "NotEmpty",
    "OneOf",
    "Past",
    "Pattern",
    "Range",
    "UniqueItems",
    "Url",
    "Validator",
    "as_validator",
)

_NUMERIC = (Kind.INT, Kind.FLOAT, Kind.DECIMAL)
_SIZED = {Kind.STR: "Length", Kind.LIST: "Items", Kind.SET: "Items", Kind.DICT: "Properties"}


@attrs.frozen
class Validator:
    """Base class of the built-in validators.

    Subclasses implement :meth:`__call__` and, where JSON Schema can express
    the rule, :meth:`json_schema`.
    """

    name: ClassVar[str] = "validator"

    def __call__(self, value: Any) -> None:
        """Check ``value``; raise :class:`Invalid` to reject it."""
        raise NotImplementedError

    def json_schema(self, node: TypeNode) -> dict[str, Any]:  # noqa: ARG002 - for subclasses
        """Return the JSON Schema keywords expressing this rule for ``node``."""
        return {}

    def bson_schema(self, node: TypeNode) -> dict[str, Any]:
        """Return the MongoDB ``$jsonSchema`` keywords for this rule."""
        return {k: v for k, v in self.json_schema(node).items() if k != "format"}

    def describe(self) -> dict[str, Any]:
        """Return the name and parameters, as published by ``/meta``."""
        params = {
            a.name: _plain(getattr(self, a.name))
            for a in attrs.fields(type(self))
            if getattr(self, a.name) is not None and not a.name.startswith("_")
        }
        return {"name": self.name, **params}


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple, frozenset, set)):
        return [_plain(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, Validator):
        return value.describe()
    if hasattr(value, "value") and hasattr(type(value), "__members__"):
        return value.value
    return value


@attrs.frozen
class NotEmpty(Validator):
    """Reject empty strings (also whitespace only), lists, sets and dicts."""

    name: ClassVar[str] = "not_empty"

    def __call__(self, value: Any) -> None:
        """Check the value."""
        empty = not value.strip() if isinstance(value, str) else len(value) == 0
        if empty:
            raise Invalid("empty", "must not be empty")

    def json_schema(self, node: TypeNode) -> dict[str, Any]:
        """Express the rule in JSON Schema."""
        if node.kind is Kind.STR:
            return {"minLength": 1, "pattern": r"\S"}
        suffix = _SIZED.get(node.kind)
        return {f"min{suffix}": 1} if suffix else {}


@attrs.frozen
class Length(Validator):
    """Bound the length of a string, list, set or dict (inclusive)."""

    name: ClassVar[str] = "length"
    min: int | None = None
    max: int | None = None

    def __attrs_post_init__(self) -> None:
        if self.min is None and self.max is None:
            raise ValueError("Length needs min, max or both")

    def __call__(self, value: Any) -> None:
        """Check the value."""
        size = len(value)
        unit = "characters" if isinstance(value, str) else "items"
        if self.min is not None and size < self.min:
            raise Invalid("too_short", f"must have at least {self.min} {unit}")
        if self.max is not None and size > self.max:
            raise Invalid("too_long", f"must have at most {self.max} {unit}")

    def json_schema(self, node: TypeNode) -> dict[str, Any]:
        """Express the rule in JSON Schema."""
        suffix = _SIZED.get(node.kind)
        if suffix is None:
            return {}
        out: dict[str, Any] = {}
        if self.min is not None:
            out[f"min{suffix}"] = self.min
        if self.max is not None:
            out[f"max{suffix}"] = self.max
        return out


@attrs.frozen
class Range(Validator):
    """Bound a number, date or datetime; inclusive unless told otherwise."""

    name: ClassVar[str] = "range"
    min: Any = None
    max: Any = None
    exclusive_min: bool = False
    exclusive_max: bool = False

    def __attrs_post_init__(self) -> None:
        if self.min is None and self.max is None:
            raise ValueError("Range needs min, max or both")

    def __call__(self, value: Any) -> None:
        """Check the value."""
        if self.min is not None:
            low = value <= self.min if self.exclusive_min else value < self.min
            if low:
                word = "greater than" if self.exclusive_min else "at least"
                raise Invalid("too_small", f"must be {word} {self.min}")
        if self.max is not None:
            high = value >= self.max if self.exclusive_max else value > self.max
            if high:
                word = "less than" if self.exclusive_max else "at most"
                raise Invalid("too_large", f"must be {word} {self.max}")

    def json_schema(self, node: TypeNode) -> dict[str, Any]:
        """Express the rule in JSON Schema (numbers only; Draft-04 booleans)."""
        if node.kind not in _NUMERIC or node.kind is Kind.DECIMAL:
            return {}
        out: dict[str, Any] = {}
        if self.min is not None:
            out["minimum"] = self.min
            if self.exclusive_min:
                out["exclusiveMinimum"] = True
        if self.max is not None:
            out["maximum"] = self.max
            if self.exclusive_max:
                out["exclusiveMaximum"] = True
        return out


@attrs.frozen
class Pattern(Validator):
    """Require a regular-expression match somewhere in the string.

    The semantics are JSON Schema's (a search, not a full match), so the rule
    means the same in Python and in every published schema: anchor it with
    ``^...$`` to constrain the whole value.
    """

    name: ClassVar[str] = "pattern"
    regex: str
    message: str | None = None
    _compiled: re.Pattern[str] = attrs.field(init=False, repr=False, eq=False)

    @_compiled.default
    def _compile(self) -> re.Pattern[str]:
        return re.compile(self.regex)

    def __call__(self, value: Any) -> None:
        """Check the value."""
        if self._compiled.search(value) is None:
            raise Invalid("pattern_mismatch", self.message or f"must match {self.regex}")

    def json_schema(self, node: TypeNode) -> dict[str, Any]:
        """Express the rule in JSON Schema."""
        return {"pattern": self.regex} if node.kind is Kind.STR else {}

    def describe(self) -> dict[str, Any]:
        """Return the name and parameters."""
        return {"name": self.name, "regex": self.regex}


# A pragmatic address check: one "@", no spaces, a dotted domain of sane labels.
# Deliverability is not decidable offline; this rejects what is clearly wrong.
_EMAIL = re.compile(
    r"^[^@\s\"(),:;<>\[\\\]]{1,64}@(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"[A-Za-z]{2,63}$"
)


@attrs.frozen
class Email(Validator):
    """Require a plausible e-mail address (``local@domain.tld``)."""

    name: ClassVar[str] = "email"

    def __call__(self, value: Any) -> None:
        """Check the value."""
        if len(value) > 254 or _EMAIL.match(value) is None:  # noqa: PLR2004 - RFC 5321 limit
            raise Invalid("invalid_email", "must be a valid e-mail address")

    def json_schema(self, node: TypeNode) -> dict[str, Any]:
        """Express the rule in JSON Schema."""
        return {"format": "email"} if node.kind is Kind.STR else {}


@attrs.frozen
class Url(Validator):
    """Require an absolute URL with one of the allowed schemes and a host."""

    name: ClassVar[str] = "url"
    schemes: tuple[str, ...] = ("http", "https")

    def __call__(self, value: Any) -> None:
        """Check the value."""
        from urllib.parse import urlsplit  # noqa: PLC0415 - only needed here

        try:
            parts = urlsplit(value)
            host = parts.hostname
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            host = None
            parts = None
        if parts is None or parts.scheme.lower() not in self.schemes or not host or " " in value:
            raise Invalid("invalid_url", f"must be a {' or '.join(self.schemes)} URL")

    def json_schema(self, node: TypeNode) -> dict[str, Any]:
        """Express the rule in JSON Schema."""
        return {"format": "uri"} if node.kind is Kind.STR else {}


@attrs.frozen
class OneOf(Validator):
    """Require the value to be one of a fixed set (enums need no such validator)."""

    name: ClassVar[str] = "one_of"
    choices: tuple[Any, ...] = attrs.field(converter=tuple)

    def __call__(self, value: Any) -> None:
        """Check the value."""
        if value not in self.choices:
            allowed = ", ".join(repr(c) for c in self.choices)
            raise Invalid("invalid_choice", f"must be one of {allowed}")

    def json_schema(self, node: TypeNode) -> dict[str, Any]:
        """Express the rule in JSON Schema."""
        if node.kind in (Kind.STR, Kind.INT, Kind.FLOAT, Kind.BOOL):
            return {"enum": list(self.choices)}
        return {}


@attrs.frozen
class UniqueItems(Validator):
    """Reject a list holding the same item twice; names each repeated index."""

    name: ClassVar[str] = "unique_items"

    def __call__(self, value: Any) -> None:
        """Check the value."""
        try:
            if len(set(value)) == len(value):
                return
        except TypeError:
            pass  # unhashable items: compare pairwise below
        seen: list[Any] = []
        for index, item in enumerate(value):
            if item in seen:
                raise Invalid("duplicate_item", "repeats an earlier item", f"[{index}]")
            seen.append(item)

    def json_schema(self, node: TypeNode) -> dict[str, Any]:
        """Express the rule in JSON Schema."""
        return {"uniqueItems": True} if node.kind in (Kind.LIST, Kind.SET) else {}


def _now_for(value: Any) -> Any:
    now = dt.datetime.now(dt.UTC)
    return now if isinstance(value, dt.datetime) else now.date()


@attrs.frozen
class Past(Validator):
    """Require a date or datetime before now (today, for dates)."""

    name: ClassVar[str] = "past"

    def __call__(self, value: Any) -> None:
        """Check the value."""
        if not value < _now_for(value):
            raise Invalid("not_past", "must be in the past")


@attrs.frozen
class Future(Validator):
    """Require a date or datetime after now (today, for dates)."""

    name: ClassVar[str] = "future"

    def __call__(self, value: Any) -> None:
        """Check the value."""
        if not value > _now_for(value):
            raise Invalid("not_future", "must be in the future")


def _as_validators(candidates: Iterable[Any]) -> tuple[Validator, ...]:
    return tuple(as_validator(v) for v in candidates)


@attrs.frozen
class Each(Validator):
    """Apply validators to every item of a list or set, or every value of a dict."""

    name: ClassVar[str] = "each"
    validators: tuple[Validator, ...] = attrs.field(converter=_as_validators)

    def __init__(self, *validators: "Validator | Callable[[Any], object]") -> None:
        self.__attrs_init__(validators)  # type: ignore[attr-defined]

    def __call__(self, value: Any) -> None:
        """Check every item; reports the first problem of each item."""
        from hexkernel.core.model._types import _Several  # noqa: PLC0415 - private helper

        items: Iterable[tuple[str, Any]]
        if isinstance(value, Mapping):
            items = ((f".{k}", v) for k, v in value.items())
        else:
            items = ((f"[{i}]", v) for i, v in enumerate(value))
        problems: list[Invalid] = []
        for path, item in items:
            if item is None:
                continue
            for check in self.validators:
                try:
                    check(item)
                except Invalid as exc:
                    sub = (
                        exc.field if exc.field.startswith("[") or not exc.field else f".{exc.field}"
                    )
                    problems.append(Invalid(exc.code, exc.message, f"{path}{sub}".lstrip(".")))
                    break
        if problems:
            raise _Several(problems)

    def json_schema(self, node: TypeNode) -> dict[str, Any]:
        """Express the item rules under ``items`` / ``additionalProperties``."""
        if node.kind not in (Kind.LIST, Kind.SET, Kind.DICT):
            return {}
        inner: dict[str, Any] = {}
        for check in self.validators:
            inner.update(check.json_schema(node.item))
        if not inner:
            return {}
        return {"items" if node.kind is not Kind.DICT else "additionalProperties": inner}

    def describe(self) -> dict[str, Any]:
        """Return the name and the item validators."""
        return {"name": self.name, "validators": [v.describe() for v in self.validators]}


@attrs.frozen
class Check(Validator):
    """Wrap any callable as a validator.

    The callable receives the value. Returning ``False`` rejects it with
    ``code`` and ``message``; raising :class:`ValueError` rejects it with the
    error's text as the message; raising :class:`Invalid` is passed through.
    Anything else (``None``, ``True``) accepts the value.
    """

    name: ClassVar[str] = "custom"
    function: Callable[[Any], object]
    code: str = "invalid"
    message: str = "is not valid"

    def __call__(self, value: Any) -> None:
        """Check the value."""
        try:
            outcome = self.function(value)
        except Invalid:
            raise
        except ValueError as exc:
            raise Invalid(self.code, str(exc) or self.message) from None
        if outcome is False:
            raise Invalid(self.code, self.message)

    def describe(self) -> dict[str, Any]:
        """Return the name of the function and the code it reports."""
        label = getattr(self.function, "__name__", type(self.function).__name__)
        return {"name": self.name, "function": label, "code": self.code}


def as_validator(candidate: "Validator | Callable[[Any], object]") -> Validator:
    """Return ``candidate`` as a :class:`Validator`, wrapping plain callables in :class:`Check`."""
    if isinstance(candidate, Validator):
        return candidate
    if callable(candidate):
        return Check(candidate)
    raise TypeError(f"{candidate!r} is not a validator")
