"""Hypothesis strategies derived from a Model's own declarations.

The strategy for a field follows its type and its validators (lengths,
ranges, patterns, choices, uniqueness), so generated instances are valid by
construction; the rare value a custom rule still rejects is discarded.
"""

import datetime as dt
import string
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from hexkernel.core import ValidationError
from hexkernel.core.model import FieldInfo
from hexkernel.core.model._types import Kind, TypeNode
from hexkernel.core.model.validators import (
    Each,
    Email,
    Future,
    Length,
    NotEmpty,
    OneOf,
    Past,
    Pattern,
    Range,
    UniqueItems,
    Url,
    Validator,
)

_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
_NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _bounds(validators: tuple[Validator, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for check in validators:
        if isinstance(check, Length):
            out["min_size"], out["max_size"] = check.min or 0, check.max
        elif isinstance(check, NotEmpty):
            out["min_size"] = max(out.get("min_size", 0), 1)
        elif isinstance(check, Range):
            out["min_value"], out["max_value"] = check.min, check.max
            out["exclusive_min"], out["exclusive_max"] = check.exclusive_min, check.exclusive_max
        elif isinstance(check, UniqueItems):
            out["unique"] = True
    return out


def _scalar(node: TypeNode, validators: tuple[Validator, ...]) -> st.SearchStrategy[Any]:
    kinds = {type(c) for c in validators}
    for check in validators:
        if isinstance(check, OneOf):
            return st.sampled_from(check.choices)
        if isinstance(check, Pattern):
            return st.from_regex(check.regex, fullmatch=True).filter(lambda s: "\n" not in s)
    if Email in kinds:
        return st.emails().filter(lambda s: len(s) <= 254)
    if Url in kinds:
        return st.builds(
            "https://{}.example/{}".format,
            st.text(string.ascii_lowercase, min_size=1, max_size=10),
            st.text(string.ascii_lowercase, max_size=10),
        )
    b = _bounds(validators)
    kind = node.kind
    if kind is Kind.STR:
        text = st.text(
            st.characters(codec="utf-8", exclude_categories=("Cs",)),
            min_size=b.get("min_size", 0),
            max_size=b.get("max_size") or 30,
        )
        return text.filter(str.strip) if NotEmpty in kinds else text
    if kind is Kind.INT:
        low = b.get("min_value", -(2**63))
        high = b.get("max_value", 2**63 - 1)
        low = low + 1 if b.get("exclusive_min") else low
        high = high - 1 if b.get("exclusive_max") else high
        return st.integers(int(low), int(high))
    if kind is Kind.FLOAT:
        return st.floats(
            min_value=b.get("min_value"),
            max_value=b.get("max_value"),
            exclude_min=b.get("exclusive_min", False),
            exclude_max=b.get("exclusive_max", False),
            allow_nan=False,
            allow_infinity=False,
        )
    if kind is Kind.BOOL:
        return st.booleans()
    if kind is Kind.DECIMAL:
        return st.decimals(
            min_value=b.get("min_value", Decimal(-(10**12))),
            max_value=b.get("max_value", Decimal(10**12)),
            places=4,
            allow_nan=False,
            allow_infinity=False,
        )
    if kind is Kind.UUID:
        return st.uuids()
    if kind is Kind.DATETIME:
        low, high = dt.datetime(1900, 1, 1), dt.datetime(2200, 1, 1)  # noqa: DTZ001 - hypothesis bounds are naive
        if Past in kinds:
            high = dt.datetime(2000, 1, 1)  # noqa: DTZ001
        if Future in kinds:
            low = dt.datetime(2100, 1, 1)  # noqa: DTZ001
        return st.datetimes(low, high, timezones=st.just(dt.UTC))
    if kind is Kind.DATE:
        low_d, high_d = dt.date(1900, 1, 1), dt.date(2200, 1, 1)
        if Past in kinds:
            high_d = dt.date(2000, 1, 1)
        if Future in kinds:
            low_d = dt.date(2100, 1, 1)
        return st.dates(low_d, high_d)
    if kind is Kind.ENUM:
        return st.sampled_from(node.target)
    if kind is Kind.LITERAL:
        return st.sampled_from(node.choices)
    if kind is Kind.MODEL:
        return instances(node.target)
    raise NotImplementedError(kind)


def values(node: TypeNode, validators: tuple[Validator, ...] = ()) -> st.SearchStrategy[Any]:
    """A strategy for valid values of a type under some validators."""
    item_rules = tuple(c for v in validators if isinstance(v, Each) for c in v.validators)
    b = _bounds(validators)
    if node.kind in (Kind.LIST, Kind.SET, Kind.DICT):
        item = values(node.item, item_rules)
        size = {"min_size": b.get("min_size", 0), "max_size": b.get("max_size") or 5}
        if node.kind is Kind.LIST:
            base = st.lists(item, unique=b.get("unique", False), **size)
        elif node.kind is Kind.SET:
            base = st.sets(item, **size).map(node.target)
        else:
            base = st.dictionaries(_TEXT, item, **size)
    else:
        base = _scalar(node, validators)
    return st.one_of(st.none(), base) if node.nullable else base


def field_values(field: FieldInfo) -> st.SearchStrategy[Any]:
    """A strategy for one field."""
    return values(field.node, field.validators)


@st.composite
def _build(draw: st.DrawFn, cls: type[Any], skip: frozenset[str]) -> Any:
    info = cls.__model__
    kwargs = {f.name: draw(field_values(f)) for f in info.fields if f.name not in skip}
    try:
        return cls(**kwargs)
    except ValidationError:
        from hypothesis import reject

        reject()


def instances(cls: type[Any], *, skip: tuple[str, ...] = ()) -> st.SearchStrategy[Any]:
    """A strategy for valid instances of a Model; ``skip`` fields keep their defaults."""
    return _build(cls, frozenset(skip))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_TEXT, children, max_size=4),
    max_leaves=10,
)
"""Arbitrary JSON values."""
