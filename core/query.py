"""The query DSL: filters, sorting, paging, projections and atomic updates as plain values.

Field references come from the Model class itself::

    Task.status == "open"
    (Task.priority >= 3) & ~Task.tags.contains("blocked")
    Task.title.startswith("Fix") | Task.owner.exists(False)
    Task.home.city == "Springfield"            # a field of an embedded Model

    Query(Task).where(Task.status == "open").sort(Task.priority.desc()).page(2, size=20)

    Task.priority.inc(1), Task.tags.push("urgent"), Task.status.set("done")

Everything here is an immutable value with no behaviour beyond building other
values: adapters translate it (MongoDB filters and update documents, say), and
the REST query grammar compiles to the same representation. Values are
checked against the field's type when the expression is built, so an adapter
never sees ``"three"`` compared with an ``int`` field; enum values become
their members, as on construction.
"""

import enum
import math
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

import attrs

from hexkernel.core.errors import ErrorItem, ValidationError
from hexkernel.core.geo import (
    Box,
    FlatCircle,
    FlatPolygon,
    Geometry,
    MultiPolygon,
    Point,
    Polygon,
    SphericalCap,
)
from hexkernel.core.model._info import FieldInfo, items_from
from hexkernel.core.model._types import Invalid, Kind, TypeNode, coerce

__all__ = (
    "And",
    "Condition",
    "ElemMatch",
    "Expr",
    "FieldRef",
    "GeoIntersects",
    "GeoRegion",
    "GeoWithin",
    "Match",
    "Near",
    "Not",
    "Op",
    "Or",
    "Pipeline",
    "Projection",
    "Query",
    "RawStage",
    "SortKey",
    "TextSearch",
    "UpdateOp",
    "asc",
    "desc",
    "find_near",
    "text_fields",
)

M = TypeVar("M")


class Op(enum.Enum):
    """Comparison operators of a :class:`Condition`."""

    EQ = "eq"
    NE = "ne"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    IN = "in"
    NIN = "nin"
    CONTAINS = "contains"
    STARTSWITH = "startswith"
    EXISTS = "exists"
    SIZE = "size"


class Expr:
    """Base of filter expressions; combine with ``&``, ``|`` and ``~``."""

    __slots__ = ()

    def __and__(self, other: "Expr") -> "Expr":
        return And(tuple(_flatten(And, (self, _expr(other)))))

    def __or__(self, other: "Expr") -> "Expr":
        return Or(tuple(_flatten(Or, (self, _expr(other)))))

    def __invert__(self) -> "Expr":
        return self.operand if isinstance(self, Not) else Not(self)

    def __bool__(self) -> bool:
        raise TypeError(
            "a query expression has no truth value: combine with &, | and ~ (not and/or/not)"
        )


def _expr(value: Any) -> Expr:
    if not isinstance(value, Expr):
        raise TypeError(f"expected a query expression, not {type(value).__name__}")
    return value


def _flatten(kind: type["And | Or"], items: Iterable[Expr]) -> Iterable[Expr]:
    for item in items:
        if isinstance(item, kind):
            yield from item.items
        else:
            yield item


@attrs.frozen(eq=True)
class Condition(Expr):
    """``path op value`` on one field (``path`` is dotted for embedded fields)."""

    path: str
    op: Op
    value: Any
    node: TypeNode = attrs.field(eq=False, repr=False)

    __hash__ = None  # type: ignore[assignment]


@attrs.frozen
class And(Expr):
    """All of the expressions hold."""

    items: tuple[Expr, ...]


@attrs.frozen
class Or(Expr):
    """At least one of the expressions holds."""

    items: tuple[Expr, ...]

    def __attrs_post_init__(self) -> None:
        if any(_has_text(item) for item in self.items):
            raise TypeError("a text search cannot be one branch of an or: combine it with &")
        for item in self.items:
            _refuse_near(item, "cannot be one branch of an or: combine it with &")


@attrs.frozen
class Not(Expr):
    """The expression does not hold."""

    operand: Expr

    def __attrs_post_init__(self) -> None:
        if _has_text(self.operand):
            raise TypeError("a text search cannot be negated (use -word inside the search)")
        _refuse_near(self.operand, "cannot be negated")


@attrs.frozen
class ElemMatch(Expr):
    """At least one element of the list at ``path`` satisfies ``condition`` on its own.

    Inside ``condition``, paths are relative to the element: a field name of
    an embedded Model element, or ``""`` for the element itself when the list
    holds plain values. Built by :meth:`FieldRef.elem_match`.
    """

    path: str
    condition: Expr
    scalar: bool

    def __attrs_post_init__(self) -> None:
        _refuse_near(self.condition, "cannot be used inside elem_match")


@attrs.frozen
class TextSearch(Expr):
    """Full-text search over the Model's text-indexed ``fields``.

    ``words`` follow MongoDB's ``$search`` syntax: any of the words matches,
    ``"a phrase"`` must appear as written, ``-word`` excludes. Matching is
    case- and diacritic-insensitive. It may only be combined with ``&``
    (stores run a text search once per query, not as a branch or negation).
    Built by :meth:`Query.search`.
    """

    words: str
    fields: tuple[str, ...]


GeoRegion = Polygon | MultiPolygon | Box | FlatPolygon | FlatCircle | SphericalCap
"""What ``geo_within`` searches: a GeoJSON (multi)polygon on the sphere, or a legacy shape."""


@attrs.frozen
class GeoWithin(Expr):
    """The GeoJSON field at ``path`` lies entirely within ``region`` (``$geoWithin``).

    On the sphere (``Polygon``, ``MultiPolygon``, :class:`SphericalCap`) any
    geometry can match; the flat legacy shapes (:class:`Box`,
    :class:`FlatPolygon`, :class:`FlatCircle`) match points only, their edges
    straight on the longitude/latitude plane, as MongoDB evaluates them.
    """

    path: str
    region: GeoRegion


@attrs.frozen
class GeoIntersects(Expr):
    """The GeoJSON field at ``path`` shares at least one point with ``geometry``."""

    path: str
    geometry: Geometry


@attrs.frozen
class Near(Expr):
    """The GeoJSON field at ``path`` lies between ``min_m`` and ``max_m`` metres of ``point``.

    Matches are ordered by distance, nearest first (MongoDB's ``$near`` with a
    GeoJSON point: distances on the sphere). Hence, as MongoDB requires: at
    most one per query, only combined with ``&`` (never in an or, never
    negated), never beside a text search or an explicit sort.
    """

    path: str
    point: Point
    max_m: float | None = None
    min_m: float | None = None


def find_near(expr: Expr | None) -> Near | None:
    """The :class:`Near` condition among the top-level ``&`` terms of ``expr``, if any."""
    if isinstance(expr, Near):
        return expr
    if isinstance(expr, And):
        return next((e for e in expr.items if isinstance(e, Near)), None)
    return None


def _nears(expr: Expr) -> int:
    if isinstance(expr, Near):
        return 1
    if isinstance(expr, (And, Or)):
        return sum(_nears(item) for item in expr.items)
    if isinstance(expr, Not):
        return _nears(expr.operand)
    if isinstance(expr, ElemMatch):
        return _nears(expr.condition)
    return 0


def _refuse_near(expr: Expr, why: str) -> None:
    if _nears(expr):
        raise ValidationError.single(_near_path(expr), "invalid_query", f"$near {why}")


def _near_path(expr: Expr) -> str:
    if isinstance(expr, Near):
        return expr.path
    inner: tuple[Expr, ...] = ()
    if isinstance(expr, (And, Or)):
        inner = expr.items
    elif isinstance(expr, Not):
        inner = (expr.operand,)
    elif isinstance(expr, ElemMatch):
        inner = (expr.condition,)
    return next((_near_path(e) for e in inner if _nears(e)), "")


def _has_text(expr: Expr) -> bool:
    if isinstance(expr, TextSearch):
        return True
    if isinstance(expr, (And, Or)):
        return any(_has_text(item) for item in expr.items)
    if isinstance(expr, Not):
        return _has_text(expr.operand)
    return False


@attrs.frozen
class SortKey:
    """One sort criterion."""

    path: str
    descending: bool = False


@attrs.frozen
class UpdateOp:
    """One atomic change of a field (``set``, ``inc``, ``push``, ``pull``, ``add_to_set``)."""

    kind: str
    path: str
    value: Any = None
    node: TypeNode | None = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen
class Projection:
    """Which fields to load: ``include`` only these, or everything but ``exclude``.

    The id is always loaded.
    """

    include: frozenset[str] = frozenset()
    exclude: frozenset[str] = frozenset()

    def __attrs_post_init__(self) -> None:
        if self.include and self.exclude:
            raise ValueError("a projection includes or excludes fields, not both")

    def fields(self, all_fields: Iterable[str]) -> frozenset[str]:
        """Return the top-level fields this projection loads."""
        names = frozenset(all_fields)
        if self.include:
            return frozenset(p.split(".")[0] for p in self.include) | {"id"}
        return names - {p for p in self.exclude if "." not in p} - {"__never__"}


def _invalid(path: str, exc: Invalid) -> ValidationError:
    return ValidationError(items_from(exc, path))


# The nullable and non-nullable variants of field types, made once: operands are
# checked against them on every comparison, and attrs.evolve is the slow part of
# that. Keyed by identity (the nodes belong to FieldInfos and live as long as
# their Model); an entry holds its node, so an id cannot be reused meanwhile.
_VARIANTS: dict[tuple[int, bool], tuple[TypeNode, TypeNode]] = {}
_VARIANTS_LIMIT = 4096


def _variant(node: TypeNode, *, nullable: bool) -> TypeNode:
    if node.nullable is nullable:
        return node
    key = (id(node), nullable)
    entry = _VARIANTS.get(key)
    if entry is None or entry[0] is not node:
        if len(_VARIANTS) >= _VARIANTS_LIMIT:
            _VARIANTS.clear()
        entry = _VARIANTS[key] = (node, attrs.evolve(node, nullable=nullable))
    return entry[1]


class FieldRef:
    """A reference to a Model field, as ``Task.priority`` returns it; builds expressions."""

    __slots__ = ("_field", "_node", "_path")

    def __init__(self, path: str, node: TypeNode, field: FieldInfo | None) -> None:
        self._path = path
        self._node = node
        self._field = field

    @property
    def path(self) -> str:
        """Dotted path of the field from the document root."""
        return self._path

    @property
    def node(self) -> TypeNode:
        """The field's analysed type."""
        return self._node

    def __repr__(self) -> str:
        return f"FieldRef({self._path!r})"

    __hash__ = object.__hash__

    def __getattr__(self, name: str) -> "FieldRef":
        node = self._node
        if node.kind is not Kind.MODEL or name.startswith("_"):
            raise AttributeError(f"{self._path} has no field {name!r}")
        field = node.target.__model__.by_name.get(name)
        if field is None:
            raise AttributeError(f"{self._path} has no field {name!r}")
        path = f"{self._path}.{name}" if self._path else name
        return FieldRef(path, field.node, field)

    # ---------------------------------------------------------- value checks
    def _value(self, value: Any, node: TypeNode | None = None) -> Any:
        try:
            return coerce(node or self._node, value)
        except Invalid as exc:
            raise _invalid(self._path, exc) from None

    def _scalar(self, value: Any) -> Any:
        """A value compared with the field: nullable for equality, never a container check."""
        return self._value(value, _variant(self._node, nullable=True))

    def _item_node(self) -> TypeNode:
        if self._node.kind not in (Kind.LIST, Kind.SET):
            raise ValidationError([ErrorItem(self._path, "invalid_query", "is not a list")])
        return self._node.item

    def _cond(self, op: Op, value: Any) -> Condition:
        return Condition(self._path, op, value, self._node)

    # ------------------------------------------------------------ comparisons
    def __eq__(self, value: object) -> Condition:  # type: ignore[override]
        return self._cond(Op.EQ, self._scalar(value))

    def __ne__(self, value: object) -> Condition:  # type: ignore[override]
        return self._cond(Op.NE, self._scalar(value))

    def _ordered(self, value: Any) -> Any:
        """An operand of <, <=, >, >=: never null (stores disagree on what that would mean)."""
        if value is None:
            raise ValidationError(
                [ErrorItem(self._path, "invalid_query", "cannot be ordered against null")]
            )
        return self._value(value, _variant(self._node, nullable=False))

    def __gt__(self, value: Any) -> Condition:
        return self._cond(Op.GT, self._ordered(value))

    def __ge__(self, value: Any) -> Condition:
        return self._cond(Op.GTE, self._ordered(value))

    def __lt__(self, value: Any) -> Condition:
        return self._cond(Op.LT, self._ordered(value))

    def __le__(self, value: Any) -> Condition:
        return self._cond(Op.LTE, self._ordered(value))

    def in_(self, values: Iterable[Any]) -> Condition:
        """The field equals one of ``values``."""
        return self._cond(Op.IN, tuple(self._scalar(v) for v in values))

    def not_in(self, values: Iterable[Any]) -> Condition:
        """The field equals none of ``values``."""
        return self._cond(Op.NIN, tuple(self._scalar(v) for v in values))

    def contains(self, value: Any) -> Condition:
        """A list field holds ``value``; a string field contains it (case-insensitive, literal)."""
        if self._node.kind is Kind.STR:
            return self._cond(Op.CONTAINS, self._value(value))
        return self._cond(Op.CONTAINS, self._value(value, self._item_node()))

    def startswith(self, prefix: str) -> Condition:
        """A string field starts with ``prefix`` (case-sensitive, literal)."""
        if self._node.kind is not Kind.STR:
            raise ValidationError([ErrorItem(self._path, "invalid_query", "is not a string")])
        return self._cond(Op.STARTSWITH, self._value(prefix))

    def exists(self, present: bool = True) -> Condition:  # noqa: FBT001, FBT002 - reads as English
        """The field is (or, with ``False``, is not) set to a non-null value."""
        return self._cond(Op.EXISTS, bool(present))

    def size(self, length: int) -> Condition:
        """A list field holds exactly ``length`` items."""
        self._item_node()
        if type(length) is not int or length < 0:
            raise ValidationError(
                [ErrorItem(self._path, "invalid_query", "a size is a non-negative integer")]
            )
        return self._cond(Op.SIZE, length)

    def elem_match(self, condition: "Callable[[FieldRef], Expr]") -> ElemMatch:
        """At least one element of a list field satisfies ``condition`` as a whole.

        ``condition`` receives a reference to the element: the fields of an
        embedded Model element (``line.qty > 2``), or the element itself when
        the list holds plain values::

            Order.lines.elem_match(lambda line: (line.sku == "A-1") & (line.qty >= 2))
            Task.scores.elem_match(lambda score: (score >= 3) & (score < 5))
        """
        item = self._item_node()
        scalar = item.kind is not Kind.MODEL
        inner = _expr(condition(FieldRef("", item, None)))
        if scalar and not _scalar_conjunction(inner):
            raise ValidationError(
                [
                    ErrorItem(
                        self._path,
                        "invalid_query",
                        "conditions on plain list items combine only with &",
                    )
                ]
            )
        return ElemMatch(self._path, inner, scalar)

    # -------------------------------------------------------------------- geo
    def _geo(self) -> None:
        if self._node.kind is not Kind.GEOMETRY:
            raise ValidationError(
                [ErrorItem(self._path, "invalid_query", "is not a GeoJSON field")]
            )

    def geo_within(self, region: GeoRegion) -> GeoWithin:
        """The geometry lies entirely within ``region`` (``$geoWithin``).

        ``region`` is a GeoJSON ``Polygon`` or ``MultiPolygon`` (edges are
        geodesics; polygons smaller than a hemisphere), or one of the regions
        of :mod:`hexkernel.core.geo`; see also :meth:`geo_within_sphere` and
        :meth:`geo_within_box`.
        """
        self._geo()
        if not isinstance(
            region, (Polygon, MultiPolygon, Box, FlatPolygon, FlatCircle, SphericalCap)
        ):
            raise ValidationError(
                [
                    ErrorItem(
                        self._path, "invalid_query", "$geoWithin takes a Polygon or MultiPolygon"
                    )
                ]
            )
        return GeoWithin(self._path, region)

    def geo_within_sphere(
        self, center: "Point | tuple[float, float]", radius_m: float
    ) -> GeoWithin:
        """The geometry lies within ``radius_m`` metres of ``center`` (``$centerSphere``)."""
        self._geo()
        return GeoWithin(self._path, _at(self._path, lambda: SphericalCap(center, radius_m)))

    def geo_within_box(
        self, bottom_left: "Point | tuple[float, float]", top_right: "Point | tuple[float, float]"
    ) -> GeoWithin:
        """The point lies in the longitude/latitude rectangle (``$box``; points only)."""
        self._geo()
        return GeoWithin(self._path, _at(self._path, lambda: Box(bottom_left, top_right)))

    def geo_intersects(self, geometry: Geometry) -> GeoIntersects:
        """The geometry shares at least one point with ``geometry`` (``$geoIntersects``)."""
        self._geo()
        if not isinstance(geometry, Geometry):
            raise ValidationError(
                [ErrorItem(self._path, "invalid_query", "$geoIntersects takes a GeoJSON geometry")]
            )
        return GeoIntersects(self._path, geometry)

    def near(
        self,
        point: "Point | tuple[float, float]",
        *,
        max_distance_m: float | None = None,
        min_distance_m: float | None = None,
    ) -> Near:
        """Geometries within the distances of ``point`` (metres), nearest first (``$near``).

        See :class:`Near` for the rules a query with it must follow.
        """
        self._geo()
        center = _at(self._path, lambda: point if isinstance(point, Point) else Point(*point))
        low = self._metres("$minDistance", min_distance_m)
        high = self._metres("$maxDistance", max_distance_m)
        if low is not None and high is not None and low > high:
            raise ValidationError(
                [ErrorItem(self._path, "invalid_query", "$minDistance exceeds $maxDistance")]
            )
        return Near(self._path, center, high, low)

    def _metres(self, name: str, value: float | None) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            raise ValidationError(
                [
                    ErrorItem(
                        self._path, "invalid_distance", f"{name} is a non-negative number of metres"
                    )
                ]
            )
        return float(value) if math.isfinite(value) else None

    # ---------------------------------------------------------------- sorting
    def _sortable(self) -> None:
        if self._node.kind in (Kind.LIST, Kind.SET, Kind.DICT, Kind.MODEL):
            raise ValidationError(
                [ErrorItem(self._path, "invalid_query", "lists and documents cannot be sorted by")]
            )

    def asc(self) -> SortKey:
        """Sort ascending by this field (a scalar field)."""
        self._sortable()
        return SortKey(self._path)

    def desc(self) -> SortKey:
        """Sort descending by this field (a scalar field)."""
        self._sortable()
        return SortKey(self._path, descending=True)

    # ---------------------------------------------------------------- updates
    def _check_update(self, value: Any, node: TypeNode | None = None) -> Any:
        field = self._field
        if node is None and field is not None:
            try:
                return field.process(value)
            except Invalid as exc:
                raise _invalid(self._path, exc) from None
        return self._value(value, node)

    def set(self, value: Any) -> UpdateOp:
        """Set the field (converted and validated like an assignment)."""
        return UpdateOp("set", self._path, self._check_update(value), self._node)

    def unset(self) -> UpdateOp:
        """Reset the field to its default."""
        field = self._field
        if field is None or field.required:
            raise ValidationError([ErrorItem(self._path, "required", "cannot be unset")])
        return UpdateOp("set", self._path, field.make_default(None), self._node)

    def inc(self, amount: float = 1) -> UpdateOp:
        """Add ``amount`` to a number atomically."""
        if self._node.kind not in (Kind.INT, Kind.FLOAT, Kind.DECIMAL):
            raise ValidationError([ErrorItem(self._path, "invalid_query", "is not a number")])
        return UpdateOp(
            "inc",
            self._path,
            self._value(amount, attrs.evolve(self._node, nullable=False)),
            self._node,
        )

    def push(self, item: Any) -> UpdateOp:
        """Append ``item`` to a list."""
        return UpdateOp("push", self._path, self._value(item, self._item_node()), self._node)

    def pull(self, item: Any) -> UpdateOp:
        """Remove every occurrence of ``item`` from a list."""
        return UpdateOp("pull", self._path, self._value(item, self._item_node()), self._node)

    def add_to_set(self, item: Any) -> UpdateOp:
        """Append ``item`` to a list unless it is already there."""
        return UpdateOp("add_to_set", self._path, self._value(item, self._item_node()), self._node)


def _at(path: str, build: "Callable[[], Any]") -> Any:
    try:
        return build()
    except ValidationError as exc:
        raise exc.at(path) from None


def _scalar_conjunction(expr: Expr) -> bool:
    """Whether ``expr`` is conditions on the element itself joined by ``&`` (what stores take)."""
    if isinstance(expr, Condition):
        return expr.path == ""
    return isinstance(expr, And) and all(_scalar_conjunction(e) for e in expr.items)


def text_fields(model: type[Any]) -> tuple[str, ...]:
    """The fields of ``model``'s text index (``Field(text=True)``), in declaration order."""
    info = model.__model__
    return tuple(f.name for f in info.fields if f.spec.text)


def asc(ref: Any) -> SortKey:
    """Sort ascending by ``ref`` (a function form that type checkers accept)."""
    return _ref(ref).asc()


def desc(ref: Any) -> SortKey:
    """Sort descending by ``ref`` (a function form that type checkers accept)."""
    return _ref(ref).desc()


def _ref(ref: Any) -> FieldRef:
    if not isinstance(ref, FieldRef):
        raise TypeError(f"expected a field reference such as Task.priority, not {ref!r}")
    return ref


@attrs.frozen
class Query(Generic[M]):
    """A complete read: filter, order, window and projection, for one Model.

    Every method returns a new Query; the original is unchanged.
    """

    model: type[M]
    filter: Expr | None = None
    order: tuple[SortKey, ...] = ()
    skip: int = 0
    limit: int | None = None
    projection: Projection | None = None

    def __attrs_post_init__(self) -> None:
        if self.skip < 0:
            raise ValueError("skip must not be negative")
        if self.limit is not None and self.limit < 0:
            raise ValueError("limit must not be negative")
        if self.filter is not None and _nears(self.filter):
            _check_near(self.filter, self.order)

    def where(self, *conditions: Expr) -> "Query[M]":
        """Add conditions; all of them (and any earlier ones) must hold."""
        exprs = [_expr(c) for c in conditions]
        if self.filter is not None:
            exprs.insert(0, self.filter)
        if not exprs:
            return self
        combined = exprs[0]
        for expr in exprs[1:]:
            combined = combined & expr
        return attrs.evolve(self, filter=combined)

    def sort(self, *keys: "SortKey | FieldRef") -> "Query[M]":
        """Order by ``keys`` (a bare field reference sorts ascending), replacing any order."""
        return attrs.evolve(
            self, order=tuple(k.asc() if isinstance(k, FieldRef) else k for k in keys)
        )

    def offset(self, skip: int) -> "Query[M]":
        """Skip the first ``skip`` matches."""
        return attrs.evolve(self, skip=skip)

    def take(self, limit: int) -> "Query[M]":
        """Return at most ``limit`` matches."""
        return attrs.evolve(self, limit=limit)

    def page(self, number: int, size: int = 20) -> "Query[M]":
        """Return page ``number`` (from 1) of ``size`` matches."""
        if number < 1 or size < 1:
            raise ValueError("page numbers and sizes start at 1")
        return attrs.evolve(self, skip=(number - 1) * size, limit=size)

    def search(self, words: str) -> "Query[M]":
        """Add a full-text search over the Model's text index (see :class:`TextSearch`).

        Raises:
            ValidationError: The Model has no text index, or ``words`` is blank.
        """
        fields = text_fields(self.model)
        if not fields:
            raise ValidationError(
                [ErrorItem("q", "invalid_query", "this collection has no text index")]
            )
        if not words.strip():
            raise ValidationError([ErrorItem("q", "invalid_query", "names no word")])
        return self.where(TextSearch(words, fields))

    def only(self, *refs: "FieldRef | str") -> "Query[M]":
        """Load only these fields (and the id)."""
        return attrs.evolve(self, projection=Projection(include=frozenset(_path(r) for r in refs)))

    def without(self, *refs: "FieldRef | str") -> "Query[M]":
        """Load every field but these."""
        return attrs.evolve(self, projection=Projection(exclude=frozenset(_path(r) for r in refs)))


def _check_near(expr: Expr, order: tuple[SortKey, ...]) -> None:
    """The rules MongoDB sets for ``$near``, as validation errors naming the field."""
    near = find_near(expr)
    path = near.path if near is not None else _near_path(expr)
    problem = None
    if _nears(expr) > 1:
        problem = "may appear only once in a query"
    elif near is None:
        problem = "must be combined with the other conditions by & only"
    elif _has_text(expr):
        problem = "cannot be combined with a text search"
    elif order:
        problem = "orders by distance: it cannot be combined with a sort"
    if problem is not None:
        raise ValidationError.single(path, "invalid_query", f"$near {problem}")


def _path(ref: "FieldRef | str") -> str:
    return ref.path if isinstance(ref, FieldRef) else ref


# ------------------------------------------------------------- aggregation
@attrs.frozen
class Match:
    """A filtering stage of a :class:`Pipeline`, as a query expression."""

    filter: Expr

    def __attrs_post_init__(self) -> None:
        _refuse_near(self.filter, "is not allowed in an aggregation (use a $geoNear stage)")


@attrs.frozen
class RawStage:
    """A stage in MongoDB's aggregation language, passed to the store as written.

    Interfaces decide which stages and operators they accept from clients
    (the REST layer allows a fixed list); the domain may use any.
    """

    name: str
    spec: Any = attrs.field(eq=False)


@attrs.frozen
class Pipeline:
    """An aggregation over one Model's documents: stages run in order.

    Stages are MongoDB's aggregation language (the de facto standard that
    both stores run), except that filtering stages on the Model's own fields
    are :class:`Match` expressions, so they are checked and converted like
    any query. The repository always runs the Model's predefined filters
    first and removes excluded fields before the first stage.
    """

    stages: tuple["Match | RawStage", ...]
