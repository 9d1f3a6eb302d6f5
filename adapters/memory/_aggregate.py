"""Aggregation pipelines on the in-memory store, run by mongomock.

MongoDB's aggregation language is large; rather than a second engine of our
own, the in-memory store hands pipelines to mongomock, a maintained
implementation of it, after applying the leading filters itself (which keeps
the store's exact filter semantics and lets most pipelines reach mongomock
with few documents). Stages mongomock lacks are filled in here:
``$sortByCount`` is rewritten into the ``$group`` and ``$sort`` it stands for,
``$facet`` runs each of its pipelines through this same function, and
``$bucketAuto`` splits the sorted documents here and lets the engine compute
each bucket's accumulators (its ``granularity`` series are not supported).
"""

import copy
import datetime as dt
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from hexkernel.adapters._mongo_syntax import mongo_filter
from hexkernel.adapters.memory._evaluate import compile_filter
from hexkernel.core.errors import InvalidAggregation
from hexkernel.core.query import Match, RawStage

__all__ = ("run_pipeline", "without")


def without(document: dict[str, Any], paths: frozenset[str]) -> dict[str, Any]:
    """A deep copy of ``document`` lacking the values at ``paths`` (also inside lists)."""
    out = copy.deepcopy(document)
    for path in paths:
        _drop(out, path.split("."))
    return out


def _drop(value: Any, parts: list[str]) -> None:
    if isinstance(value, list):
        for item in value:
            _drop(item, parts)
    elif isinstance(value, dict):
        head, *rest = parts
        if not rest:
            value.pop(head, None)
        elif head in value:
            _drop(value[head], rest)


def _plain(value: Any) -> Any:
    """Engine values as the store's: naive datetimes as UTC, the engine's decimals as Decimal.

    (The engine drops the zone of datetimes and computes with BSON decimals when it can.)
    """
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    to_decimal = getattr(value, "to_decimal", None)
    if callable(to_decimal):
        return Decimal(str(to_decimal()))
    return value


def _engine_decimal() -> Callable[[Decimal], Any] | None:
    """The decimal type mongomock computes with: BSON's when it has it, else none needed."""
    from mongomock import aggregate  # noqa: PLC0415 - loaded only by services that aggregate

    if getattr(aggregate, "decimal_support", False):
        return aggregate.decimal128.Decimal128  # type: ignore[no-any-return]
    return None


def _to_engine(value: Any, decimal: Callable[[Decimal], Any]) -> Any:
    if isinstance(value, dict):
        return {key: _to_engine(item, decimal) for key, item in value.items()}
    if isinstance(value, list):
        return [_to_engine(item, decimal) for item in value]
    if isinstance(value, Decimal):
        return decimal(value)
    return value


def _engine_stages(stage: Match | RawStage) -> list[dict[str, Any]]:
    if isinstance(stage, Match):
        return [{"$match": mongo_filter(stage.filter)}]
    if stage.name == "$sortByCount":
        # Documented as exactly this pair of stages.
        return [
            {"$group": {"_id": stage.spec, "count": {"$sum": 1}}},
            {"$sort": {"count": -1}},
        ]
    return [{stage.name: stage.spec}]


_GROUP = "__hexkernel_group"
_BUCKET = "__hexkernel_bucket"


def _order(value: Any) -> tuple[int, Any]:
    """A sort key following MongoDB's order of types (null, numbers, text, others)."""
    if value is None:
        return (0, 0)
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return (1, value)
    if isinstance(value, str):
        return (2, value)
    if isinstance(value, bool):
        return (4, value)
    if isinstance(value, dt.datetime):
        return (5, value)
    return (3, repr(value))


def _bucket_auto(documents: list[dict[str, Any]], spec: Any) -> list[dict[str, Any]]:
    """``$bucketAuto``: about equally many documents per bucket, equal values never split."""
    if not isinstance(spec, dict) or "groupBy" not in spec:
        raise InvalidAggregation("$bucketAuto needs groupBy and buckets")
    buckets = spec.get("buckets")
    if type(buckets) is not int or buckets < 1:
        raise InvalidAggregation("$bucketAuto.buckets must be a positive integer")
    if spec.get("granularity") is not None:
        raise InvalidAggregation("$bucketAuto granularity is not supported by the embedded store")
    output = spec.get("output") or {"count": {"$sum": 1}}
    if not isinstance(output, dict):
        raise InvalidAggregation("$bucketAuto.output must be an object of accumulators")
    keyed = _through_engine(documents, [{"$addFields": {_GROUP: spec["groupBy"]}}])
    keyed.sort(key=lambda d: _order(d.get(_GROUP)))
    target = max(1, int(len(keyed) / buckets + 0.5))  # MongoDB rounds half away from zero
    bounds: list[tuple[Any, Any]] = []  # (first value, last value) of each bucket
    size = 0
    for position, document in enumerate(keyed):
        value = document.get(_GROUP)
        if not bounds or (
            size >= target and len(bounds) < buckets and value != keyed[position - 1].get(_GROUP)
        ):
            bounds.append((value, value))
            size = 0
        bounds[-1] = (bounds[-1][0], value)
        document[_BUCKET] = len(bounds) - 1
        size += 1
    grouped = _through_engine(
        keyed, [{"$group": {"_id": f"${_BUCKET}", **output}}, {"$sort": {"_id": 1}}]
    )
    results = []
    for index, group in enumerate(grouped):
        upper = bounds[index + 1][0] if index + 1 < len(bounds) else bounds[index][1]
        group["_id"] = {"min": bounds[index][0], "max": upper}
        results.append(group)
    return results


def _through_engine(
    documents: list[dict[str, Any]], stages: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    import mongomock  # noqa: PLC0415 - loaded only by services that aggregate in memory

    decimal = _engine_decimal()
    if decimal is not None:
        documents = _to_engine(documents, decimal)
        stages = _to_engine(stages, decimal)
    collection = mongomock.MongoClient().db.aggregated
    if documents:
        collection.insert_many(documents)
    try:
        return list(collection.aggregate(stages))
    except Exception as exc:
        # The engine evaluates the caller's expressions in this process, and any of
        # its exceptions (a division by zero, an expression it cannot parse) means
        # that this pipeline cannot run here: the caller's to change, never a crash.
        raise InvalidAggregation(str(exc) or type(exc).__name__) from exc


def _facet(documents: list[dict[str, Any]], spec: Any) -> list[dict[str, Any]]:
    if not isinstance(spec, dict):
        raise InvalidAggregation("$facet takes an object of pipelines")
    result: dict[str, Any] = {}
    for name, pipeline in spec.items():
        if not isinstance(pipeline, list):
            raise InvalidAggregation(f"$facet.{name} must be an array of stages")
        stages = [_raw(stage) for stage in pipeline]
        result[name] = run_pipeline(copy.deepcopy(documents), stages)
    return [result]


def _raw(stage: Any) -> Match | RawStage:
    if isinstance(stage, (Match, RawStage)):
        return stage
    if not isinstance(stage, dict) or len(stage) != 1:
        raise InvalidAggregation("a stage is an object with one key")
    ((name, spec),) = stage.items()
    return RawStage(name, spec)


def run_pipeline(
    documents: list[dict[str, Any]], stages: Sequence[Match | RawStage]
) -> list[dict[str, Any]]:
    """Run ``stages`` over ``documents`` (copies the caller no longer needs)."""
    position = 0
    while position < len(stages) and isinstance(stages[position], Match):
        matches = compile_filter(stages[position].filter)  # type: ignore[union-attr]
        documents = [d for d in documents if matches(d)]
        position += 1
    pending: list[dict[str, Any]] = []
    for stage in stages[position:]:
        if isinstance(stage, RawStage) and stage.name in ("$facet", "$bucketAuto"):
            if pending:
                documents, pending = _through_engine(documents, pending), []
            if stage.name == "$facet":
                documents = _facet(documents, stage.spec)
            else:
                documents = _bucket_auto(documents, stage.spec)
        else:
            pending.extend(_engine_stages(stage))
    if pending:
        documents = _through_engine(documents, pending)
    return [_plain(d) for d in documents]
