"""Query expressions and update operations in MongoDB's query language, without a driver.

The MongoDB adapter sends these documents to the server; the in-memory
adapter hands them to its aggregation engine. Keeping the translation free of
pymongo lets both use it (the in-memory adapter needs no driver).
"""

import re
from collections.abc import Sequence
from typing import Any

from hexkernel.adapters._documents import StorageOp, condition_value, storage_path
from hexkernel.core.errors import ValidationError
from hexkernel.core.geo import Box, FlatCircle, FlatPolygon, SphericalCap
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
    TextSearch,
)

__all__ = ("and_filters", "geo_near_stage", "mongo_filter", "mongo_update")

_COMPARISONS = {Op.NE: "$ne", Op.GT: "$gt", Op.GTE: "$gte", Op.LT: "$lt", Op.LTE: "$lte"}


def _operators(condition: Condition) -> dict[str, Any]:
    """The operator document of one condition (``{"$gt": 3}``), without its path."""
    value = condition_value(condition)
    op = condition.op
    if op is Op.EQ:
        return {"$eq": value}
    if op in (Op.LT, Op.LTE):
        # MongoDB never matches null with $lt/$lte (different BSON types); saying
        # so explicitly costs nothing and keeps servers that order null first honest.
        return {_COMPARISONS[op]: value, "$ne": None}
    if op in _COMPARISONS:
        return {_COMPARISONS[op]: value}
    if op is Op.IN:
        return {"$in": value}
    if op is Op.NIN:
        return {"$nin": value}
    if op is Op.CONTAINS and condition.node.kind is Kind.STR:
        # Escaped: the operand is literal text, never a pattern.
        return {"$regex": re.escape(value), "$options": "i"}
    if op is Op.CONTAINS:
        return {"$elemMatch": {"$eq": value}}
    if op is Op.STARTSWITH:
        return {"$regex": f"^{re.escape(value)}"}
    if op is Op.EXISTS:
        return {"$ne": None} if value else {"$eq": None}
    if op is Op.SIZE:
        return {"$size": value}
    raise ValueError(f"unsupported operator {op}")  # pragma: no cover - Op is closed


def _merged(parts: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Merge filters on distinct paths into one document, or None when two would collide."""
    out: dict[str, Any] = {}
    for part in parts:
        for key, value in part.items():
            if key in out or key.startswith("$"):
                return None
            out[key] = value
    return out


def _element_operators(expr: Expr) -> dict[str, Any]:
    """Conditions on a plain list item, joined by &, as one operator document."""
    conditions = [expr] if isinstance(expr, Condition) else list(expr.items)  # type: ignore[attr-defined]
    out: dict[str, Any] = {}
    for condition in conditions:
        operators = _operators(condition)
        if condition.op in (Op.LT, Op.LTE):
            operators.pop("$ne")  # a missing item cannot be in a list: no null guard needed
        for key, value in operators.items():
            if key in out and out[key] != value:
                # Two operands for one operator (x > 1 & x > 3) do not fit one document.
                raise ValidationError.single(
                    condition.path or "item", "invalid_query", f"{key} is given twice"
                )
            out[key] = value
    return out


def _elem_match(expr: ElemMatch) -> dict[str, Any]:
    path = storage_path(expr.path)
    if expr.scalar:
        return {path: {"$elemMatch": _element_operators(expr.condition)}}
    inner = expr.condition
    if isinstance(inner, And):
        parts = [mongo_filter(e) for e in inner.items]
        merged = _merged(parts)
        return {path: {"$elemMatch": merged if merged is not None else {"$and": parts}}}
    return {path: {"$elemMatch": mongo_filter(inner)}}


def _text(expr: TextSearch) -> dict[str, Any]:
    return {"$text": {"$search": expr.words}}


def _region(expr: GeoWithin) -> dict[str, Any]:
    region = expr.region
    if isinstance(region, SphericalCap):
        return {"$centerSphere": [list(region.center.coordinates[:2]), region.radians]}
    if isinstance(region, Box):
        return {"$box": [[p.lon, p.lat] for p in (region.bottom_left, region.top_right)]}
    if isinstance(region, FlatPolygon):
        return {"$polygon": [[p.lon, p.lat] for p in region.vertices]}
    if isinstance(region, FlatCircle):
        return {"$center": [[region.center.lon, region.center.lat], region.radius_deg]}
    return {"$geometry": region.to_geojson()}


def _near(expr: Near) -> dict[str, Any]:
    spec: dict[str, Any] = {"$geometry": expr.point.to_geojson()}
    if expr.max_m is not None:
        spec["$maxDistance"] = expr.max_m
    if expr.min_m is not None:
        spec["$minDistance"] = expr.min_m
    return {storage_path(expr.path): {"$near": spec}}


def geo_near_stage(where: Expr, near: Near) -> dict[str, Any]:
    """The ``$geoNear`` stage selecting what ``where`` (holding ``near``) selects.

    ``countDocuments`` refuses ``$near``, so counts run ``[$geoNear, $count]``:
    the same distances to the nearest point of any geometry, and the other
    conditions as its ``query``. (MongoDB's own advice, ``$geoWithin`` with
    ``$centerSphere``, counts a line or polygon only when it lies wholly
    within the distance, which ``$near`` does not ask.)
    """
    others = [e for e in where.items if e is not near] if isinstance(where, And) else []
    rest = others[0] if len(others) == 1 else And(tuple(others)) if others else None
    spec: dict[str, Any] = {
        "near": near.point.to_geojson(),
        "key": storage_path(near.path),
        "distanceField": "_hk_distance",
        "spherical": True,
        "query": mongo_filter(rest),
    }
    if near.max_m is not None:
        spec["maxDistance"] = near.max_m
    if near.min_m is not None:
        spec["minDistance"] = near.min_m
    return {"$geoNear": spec}


def mongo_filter(expr: Expr | None) -> dict[str, Any]:
    """Translate a query expression into a MongoDB filter document.

    A text search is placed at the top level of the filter, beside the other
    conditions, as MongoDB requires of ``$text``.
    """
    if expr is None:
        return {}
    if isinstance(expr, Condition):
        return {storage_path(expr.path): _operators(expr)}
    if isinstance(expr, Near):
        return _near(expr)
    if isinstance(expr, GeoWithin):
        return {storage_path(expr.path): {"$geoWithin": _region(expr)}}
    if isinstance(expr, GeoIntersects):
        return {
            storage_path(expr.path): {"$geoIntersects": {"$geometry": expr.geometry.to_geojson()}}
        }
    if isinstance(expr, And):
        texts = [e for e in expr.items if isinstance(e, TextSearch)]
        rest = [mongo_filter(e) for e in expr.items if not isinstance(e, TextSearch)]
        out: dict[str, Any] = _text(texts[0]) if texts else {}
        if len(texts) > 1:
            raise ValueError("a query holds at most one text search")
        if rest:
            out["$and"] = rest
        return out
    if isinstance(expr, Or):
        return {"$or": [mongo_filter(e) for e in expr.items]}
    if isinstance(expr, Not):
        return {"$nor": [mongo_filter(expr.operand)]}
    if isinstance(expr, ElemMatch):
        return _elem_match(expr)
    if isinstance(expr, TextSearch):
        return _text(expr)
    raise TypeError(f"not a query expression: {expr!r}")


def and_filters(*filters: dict[str, Any]) -> dict[str, Any]:
    """Combine filter documents so that all hold (a ``$text`` stays at the top level)."""
    parts = [f for f in filters if f]
    if not parts:
        return {}
    if len(parts) == 1:
        return parts[0]
    text = next((f["$text"] for f in parts if "$text" in f), None)
    rest = [{k: v for k, v in f.items() if k != "$text"} for f in parts]
    out: dict[str, Any] = {"$and": [f for f in rest if f]}
    if text is not None:
        out["$text"] = text
    return out


_UPDATE_OPERATORS = {
    "set": "$set",
    "inc": "$inc",
    "push": "$push",
    "pull": "$pull",
    "add_to_set": "$addToSet",
}


def mongo_update(ops: Sequence[StorageOp], extra: dict[str, Any]) -> dict[str, Any]:
    """Translate update operations into a MongoDB update document that also bumps ``version``."""
    update: dict[str, dict[str, Any]] = {"$set": dict(extra), "$inc": {"version": 1}}
    for op in ops:
        update.setdefault(_UPDATE_OPERATORS[op.kind], {})[op.path] = op.value
    return update
