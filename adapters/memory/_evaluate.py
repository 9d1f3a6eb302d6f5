"""Evaluation of query expressions, sorts and updates on storage documents in memory.

Written here because the query DSL is small and its MongoDB semantics are
exact to state (null and missing values, array elements, literal
case-insensitive ``contains``); evaluating it directly is simpler and faster
than translating to a MongoDB filter for an emulator. Aggregation pipelines,
which are a language of their own, are left to a maintained engine.
"""

import math
import re
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any

from hexkernel.adapters._documents import StorageOp, condition_value, storage_path
from hexkernel.core.errors import ValidationError
from hexkernel.core.model import Kind
from hexkernel.core.query import (
    And,
    Condition,
    ElemMatch,
    Expr,
    GeoIntersects,
    GeoWithin,
    Near,
    Not,
    Op,
    Or,
    SortKey,
    TextSearch,
)

__all__ = ("apply_ops", "compile_filter", "near_distance", "resolve", "sort_documents")


def resolve(document: dict[str, Any], path: str) -> Any:
    """The value at a dotted model path (``None`` when missing or under a null)."""
    current: Any = document
    for part in storage_path(path).split("."):
        if not isinstance(current, dict):
            return None
        current = current.get(part)
    return current


def _ordered(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def check(stored: Any, value: Any) -> bool:
        if stored is None:
            return False
        try:
            return op(stored, value)
        except TypeError:  # values of different types never compare, as in MongoDB
            return False

    return check


def _compile_condition(condition: Condition) -> Callable[[dict[str, Any]], bool]:
    path = condition.path
    value = condition_value(condition)
    op = condition.op
    if op is Op.EQ:
        return lambda d: _same(resolve(d, path), value)
    if op is Op.NE:
        return lambda d: not _same(resolve(d, path), value)
    if op in (Op.GT, Op.GTE, Op.LT, Op.LTE):
        compare = _ordered(
            {
                Op.GT: lambda a, b: a > b,
                Op.GTE: lambda a, b: a >= b,
                Op.LT: lambda a, b: a < b,
                Op.LTE: lambda a, b: a <= b,
            }[op]
        )
        return lambda d: compare(resolve(d, path), value)
    if op is Op.IN:
        return lambda d: any(_same(resolve(d, path), v) for v in value)
    if op is Op.NIN:
        return lambda d: not any(_same(resolve(d, path), v) for v in value)
    if op is Op.CONTAINS and condition.node.kind is Kind.STR:
        pattern = re.compile(re.escape(value), re.IGNORECASE)
        return lambda d: isinstance(s := resolve(d, path), str) and pattern.search(s) is not None
    if op is Op.CONTAINS:
        return lambda d: (
            isinstance(items := resolve(d, path), list) and any(_same(i, value) for i in items)
        )
    if op is Op.STARTSWITH:
        return lambda d: isinstance(s := resolve(d, path), str) and s.startswith(value)
    if op is Op.EXISTS:
        return lambda d: (resolve(d, path) is not None) is value
    if op is Op.SIZE:
        return lambda d: isinstance(items := resolve(d, path), list) and len(items) == value
    raise ValueError(f"unsupported operator {op}")  # pragma: no cover - Op is closed


def _same(stored: Any, value: Any) -> bool:
    """MongoDB equality: null matches null or missing; booleans never equal numbers."""
    if value is None or stored is None:
        return value is None and stored is None
    if isinstance(stored, bool) != isinstance(value, bool):
        return False
    return bool(stored == value)


def compile_filter(expr: Expr | None) -> Callable[[dict[str, Any]], bool]:
    """Turn an expression into a predicate over storage documents."""
    if expr is None:
        return lambda _d: True
    if isinstance(expr, Condition):
        return _compile_condition(expr)
    if isinstance(expr, And):
        parts = [compile_filter(e) for e in expr.items]
        return lambda d: all(p(d) for p in parts)
    if isinstance(expr, Or):
        parts = [compile_filter(e) for e in expr.items]
        return lambda d: any(p(d) for p in parts)
    if isinstance(expr, Not):
        inner = compile_filter(expr.operand)
        return lambda d: not inner(d)
    if isinstance(expr, ElemMatch):
        return _compile_elem_match(expr)
    if isinstance(expr, TextSearch):
        return _compile_text(expr)
    if isinstance(expr, (GeoWithin, GeoIntersects, Near)):
        return _compile_geo(expr)
    raise TypeError(f"not a query expression: {expr!r}")


def _geo() -> Any:
    """The geo evaluator, which needs shapely (the ``geo`` extra)."""
    try:
        from hexkernel.adapters.memory import _geo  # noqa: PLC0415 - shapely only when asked
    except ImportError as exc:
        raise ImportError(
            "the in-memory store evaluates geo queries with shapely: pip install 'hexkernel[geo]'"
        ) from exc
    return _geo


def near_distance(expr: Near) -> Callable[[dict[str, Any]], float | None]:
    """The distance in metres from the point of ``expr`` to a document's geometry."""
    measure = _geo().distance_m
    path, point = expr.path, expr.point
    return lambda d: measure(resolve(d, path), point)


def _compile_geo(expr: GeoWithin | GeoIntersects | Near) -> Callable[[dict[str, Any]], bool]:
    geo = _geo()
    path = expr.path
    if isinstance(expr, GeoWithin):
        region = expr.region
        return lambda d: bool(geo.within(resolve(d, path), region))
    if isinstance(expr, GeoIntersects):
        geometry = expr.geometry
        return lambda d: bool(geo.intersects(resolve(d, path), geometry))
    measure = near_distance(expr)
    low = expr.min_m if expr.min_m is not None else 0.0
    high = expr.max_m if expr.max_m is not None else math.inf
    return lambda d: (found := measure(d)) is not None and low <= found <= high


def _compile_elem_match(expr: ElemMatch) -> Callable[[dict[str, Any]], bool]:
    path = expr.path
    inner = compile_filter(expr.condition)
    if expr.scalar:
        # Conditions on the element itself have the path "": wrap each item so they resolve it.
        return lambda d: (
            isinstance(items := resolve(d, path), list) and any(inner({"": item}) for item in items)
        )
    return lambda d: (
        isinstance(items := resolve(d, path), list)
        and any(isinstance(item, dict) and inner(item) for item in items)
    )


_WORD = re.compile(r"\w+")
_PHRASE = re.compile(r'"([^"]*)"')


def _fold(text: str) -> str:
    """Case- and diacritic-insensitive form of ``text`` (as MongoDB's text index compares)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _compile_text(expr: TextSearch) -> Callable[[dict[str, Any]], bool]:
    """MongoDB's ``$search`` rules: every phrase must appear, else any word; ``-word`` excludes.

    Words are compared whole, folded for case and diacritics. Unlike a
    MongoDB text index there is no stemming and no stop-word list, so
    ``tasks`` does not find ``task`` here.
    """
    phrases = [
        f" {' '.join(words)} "
        for p in _PHRASE.findall(expr.words)
        if (words := _WORD.findall(_fold(p)))
    ]
    rest = _PHRASE.sub(" ", expr.words)
    words: set[str] = set()
    negated: set[str] = set()
    for token in rest.split():
        target = negated if token.startswith("-") else words
        target.update(_WORD.findall(_fold(token)))
    fields = expr.fields

    def matches(document: dict[str, Any]) -> bool:
        texts = []  # each text as its words, space-separated and padded: phrases match whole words
        for field in fields:
            value = resolve(document, field)
            values = value if isinstance(value, list) else [value]
            texts.extend(
                f" {' '.join(_WORD.findall(_fold(v)))} " for v in values if isinstance(v, str)
            )
        present = {w for text in texts for w in text.split()}
        if present & negated:
            return False
        if phrases:
            return all(any(p in text for text in texts) for p in phrases)
        return bool(present & words)

    return matches


def sort_documents(documents: list[dict[str, Any]], order: Sequence[SortKey]) -> None:
    """Sort in place as MongoDB does: nulls first ascending, last descending; stable."""
    for key in reversed(order):
        path = key.path
        documents.sort(
            key=lambda d: (0, 0) if (v := resolve(d, path)) is None else (1, v),
            reverse=key.descending,
        )


def _parent(document: dict[str, Any], path: str) -> tuple[dict[str, Any], str]:
    *heads, last = path.split(".")
    current = document
    for head in heads:
        nxt = current.get(head)
        if not isinstance(nxt, dict):
            raise ValidationError.single(
                path, "invalid_update", "cannot change a field inside a null value"
            )
        current = nxt
    return current, last


def apply_ops(document: dict[str, Any], ops: Sequence[StorageOp], extra: dict[str, Any]) -> None:
    """Apply update operations to a (copied) document, then bump its version."""
    for op in ops:
        parent, name = _parent(document, op.path)
        current = parent.get(name)
        if op.kind == "set":
            parent[name] = op.value
        elif op.kind == "inc":
            if current is None:
                raise ValidationError.single(
                    op.path, "invalid_update", "cannot increment a null value"
                )
            parent[name] = current + op.value
        else:
            if current is None:
                raise ValidationError.single(
                    op.path, "invalid_update", "cannot change items of a null list"
                )
            if op.kind == "push":
                parent[name] = [*current, op.value]
            elif op.kind == "pull":
                parent[name] = [item for item in current if not _same(item, op.value)]
            elif op.value not in current:  # add_to_set
                parent[name] = [*current, op.value]
    document.update(extra)
    document["version"] = document.get("version", 0) + 1
