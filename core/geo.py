"""GeoJSON geometries (RFC 7946) as immutable values, and the regions geo queries search.

Geometries are Model field types: a field annotated ``Point``, ``Polygon | None``
or ``Geometry`` (any of the seven types) holds the value, is written on the wire
and in storage as its GeoJSON object, and gets a ``2dsphere`` index::

    class Shop(Model):
        name: str
        location: Point
        delivery_area: Polygon | None = None


    Shop(name="Corner", location=Point(13.40, 52.52))

Positions are ``(longitude, latitude)`` or ``(longitude, latitude, altitude)``
in WGS 84 degrees, in that order as GeoJSON writes them. Every value is checked
when it is built, from Python or from GeoJSON, and every problem is reported
with its path (``coordinates[0][3][1]``), like the rest of Model validation:

* longitudes lie in [-180, 180], latitudes in [-90, 90], numbers are finite;
* a LineString has at least two positions;
* a Polygon's linear rings are closed (first position equals the last), have
  at least four positions, and do not cross themselves; its holes lie inside
  its exterior ring (MongoDB refuses to index a polygon breaking either);
* MultiPoint, MultiLineString, MultiPolygon and GeometryCollection hold at
  least one member (an empty geometry cannot be indexed either).

Ring orientation is not enforced: RFC 7946 asks parsers not to reject either
winding, and MongoDB takes the smaller of the two areas a ring encloses, so
polygons must stay smaller than a hemisphere (as for MongoDB's ``$geometry``).
A GeoJSON ``bbox`` member is accepted and not kept; other members are errors.

The region classes (:class:`Box`, :class:`FlatPolygon`, :class:`FlatCircle`,
:class:`SphericalCap`) are operands of ``geo_within`` queries, not field types.
"""

import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar

import attrs

from hexkernel.core.errors import ErrorItem, ValidationError

__all__ = (
    "EARTH_RADIUS_M",
    "Box",
    "FlatCircle",
    "FlatPolygon",
    "Geometry",
    "GeometryCollection",
    "LineString",
    "MultiLineString",
    "MultiPoint",
    "MultiPolygon",
    "Point",
    "Polygon",
    "Position",
    "SphericalCap",
    "bson_schema",
    "from_geojson",
    "geojson_dump",
    "geojson_loader",
    "is_geometry_type",
    "json_schema",
)

EARTH_RADIUS_M = 6_378_100.0
"""The Earth radius MongoDB converts radians with (its ``kRadiusOfEarthInMeters``)."""

Position = tuple[float, ...]
"""``(longitude, latitude)`` or ``(longitude, latitude, altitude)``."""

_LIMITS = ((180.0, "longitude"), (90.0, "latitude"))


class _Problems:
    """The problems found in one value, each with its path."""

    def __init__(self) -> None:
        self.items: list[ErrorItem] = []

    def add(self, path: str, code: str, message: str) -> None:
        self.items.append(ErrorItem(path, code, message))

    def raise_any(self) -> None:
        if self.items:
            raise ValidationError(self.items)


def _number(raw: Any, path: str, problems: _Problems) -> float | None:
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        problems.add(path, "invalid_type", "must be a number")
        return None
    value = float(raw)
    if not math.isfinite(value):
        problems.add(path, "invalid_number", "must be a finite number")
        return None
    return value


def _position(raw: Any, path: str, problems: _Problems) -> Position | None:
    if not isinstance(raw, (list, tuple)) or not 2 <= len(raw) <= 3:  # noqa: PLR2004 - lon, lat, alt
        problems.add(path, "invalid_position", "must be [longitude, latitude] or with an altitude")
        return None
    before = len(problems.items)
    numbers = [_number(v, f"{path}[{i}]", problems) for i, v in enumerate(raw)]
    for index, (limit, name) in enumerate(_LIMITS):
        value = numbers[index]
        if value is not None and not -limit <= value <= limit:
            problems.add(
                f"{path}[{index}]", f"invalid_{name}", f"must be between -{limit:g} and {limit:g}"
            )
    if len(problems.items) != before:
        return None
    return tuple(n for n in numbers if n is not None)


def _array(
    raw: Any, path: str, problems: _Problems, minimum: int, what: str
) -> Sequence[Any] | None:
    if not isinstance(raw, (list, tuple)):
        problems.add(path, "invalid_type", "must be an array")
        return None
    if len(raw) < minimum:
        problems.add(path, "too_short", f"must hold at least {minimum} {what}")
        return None
    return raw


def _positions(raw: Any, path: str, problems: _Problems, minimum: int) -> tuple[Position, ...]:
    items = _array(raw, path, problems, minimum, "positions")
    if items is None:
        return ()
    found = [_position(p, f"{path}[{i}]", problems) for i, p in enumerate(items)]
    return tuple(p for p in found if p is not None)


def _line(raw: Any, path: str, problems: _Problems) -> tuple[Position, ...]:
    return _positions(raw, path, problems, 2)


def _ring(raw: Any, path: str, problems: _Problems) -> tuple[Position, ...]:
    before = len(problems.items)
    ring = _positions(raw, path, problems, 4)
    if len(problems.items) != before:
        return ring
    if ring[0][:2] != ring[-1][:2]:
        problems.add(path, "open_ring", "a linear ring must end where it starts")
    elif len({p[:2] for p in ring}) < 3:  # noqa: PLR2004 - a triangle at least
        problems.add(path, "degenerate_ring", "a linear ring needs three distinct positions")
    elif _self_crossing(ring):
        problems.add(path, "self_intersecting_ring", "a linear ring must not cross itself")
    return ring


def _polygon(raw: Any, path: str, problems: _Problems) -> tuple[tuple[Position, ...], ...]:
    rings = _array(raw, path, problems, 1, "linear ring")
    if rings is None:
        return ()
    before = len(problems.items)
    checked = tuple(_ring(r, f"{path}[{i}]", problems) for i, r in enumerate(rings))
    if len(problems.items) == before:
        shell = checked[0]
        for index, hole in enumerate(checked[1:], start=1):
            if not _inside(shell, hole):
                problems.add(
                    f"{path}[{index}]", "hole_outside", "a hole must lie inside the exterior ring"
                )
    return checked


def _inside(shell: Sequence[Position], hole: Sequence[Position]) -> bool:
    """Whether ``hole`` lies inside ``shell``: no edges meet, and a vertex is inside.

    On the longitude/latitude plane, as the self-crossing test (MongoDB refuses
    to index a polygon whose hole leaves its shell).
    """
    for i in range(len(shell) - 1):
        for j in range(len(hole) - 1):
            if _crosses(shell[i], shell[i + 1], hole[j], hole[j + 1]):
                return False
    lon, lat = hole[0][0], hole[0][1]
    inside = False
    for (x1, y1, *_), (x2, y2, *_) in itertools.pairwise(shell):
        if (y1 > lat) != (y2 > lat) and lon < x1 + (lat - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def _many(
    part: Callable[[Any, str, _Problems], Any], what: str
) -> Callable[[Any, str, _Problems], tuple[Any, ...]]:
    def parse(raw: Any, path: str, problems: _Problems) -> tuple[Any, ...]:
        items = _array(raw, path, problems, 1, what)
        if items is None:
            return ()
        return tuple(part(item, f"{path}[{i}]", problems) for i, item in enumerate(items))

    return parse


def _crosses(a: Position, b: Position, c: Position, d: Position) -> bool:
    """Whether segments ab and cd cross or touch (in longitude/latitude coordinates)."""

    def side(p: Position, q: Position, r: Position) -> float:
        return (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])

    def within(p: Position, q: Position, r: Position) -> bool:
        return min(p[0], q[0]) <= r[0] <= max(p[0], q[0]) and min(p[1], q[1]) <= r[1] <= max(
            p[1], q[1]
        )

    d1, d2, d3, d4 = side(c, d, a), side(c, d, b), side(a, b, c), side(a, b, d)
    if ((d1 > 0 > d2) or (d1 < 0 < d2)) and ((d3 > 0 > d4) or (d3 < 0 < d4)):
        return True
    return any(
        s == 0 and within(p, q, r)
        for s, p, q, r in ((d1, c, d, a), (d2, c, d, b), (d3, a, b, c), (d4, a, b, d))
    )


def _self_crossing(ring: Sequence[Position]) -> bool:
    """Whether two edges of a closed ring that are not neighbours meet.

    Tested on the longitude/latitude plane: exact for the small rings this is
    meant to catch (a bow tie, a doubled-back edge); a ring whose geodesic edges
    cross only on the sphere is left to the store.
    """
    edges = len(ring) - 1
    for i in range(edges):
        for j in range(i + 2, edges):
            if i == 0 and j == edges - 1:
                continue  # the closing edge meets the first at the start position
            if _crosses(ring[i], ring[i + 1], ring[j], ring[j + 1]):
                return True
    return False


def _listed(value: Any) -> Any:
    """Nested tuples as the nested lists of JSON."""
    if isinstance(value, tuple):
        return [_listed(v) for v in value]
    return value


def _checked(
    parse: Callable[[Any, str, _Problems], Any], raw: Any, path: str = "coordinates"
) -> Any:
    problems = _Problems()
    value = parse(raw, path, problems)
    problems.raise_any()
    return value


# (parser of the coordinates, nesting depth of the positions) per GeoJSON type
_SHAPES: dict[str, tuple[Callable[[Any, str, _Problems], Any], int]] = {
    "MultiPoint": (_many(_position, "position"), 1),
    "LineString": (_line, 1),
    "MultiLineString": (_many(_line, "line"), 2),
    "Polygon": (_polygon, 2),
    "MultiPolygon": (_many(_polygon, "polygon"), 3),
}


# --------------------------------------------------------------- geometries
class Geometry:
    """Any GeoJSON geometry; as a field annotation, a field holding any of the seven types."""

    __slots__ = ()
    geojson_type: ClassVar[str] = ""

    def to_geojson(self) -> dict[str, Any]:
        """Return the GeoJSON object (plain dicts, lists and floats)."""
        raise NotImplementedError

    @property
    def __geo_interface__(self) -> dict[str, Any]:
        """The GeoJSON mapping, for libraries that read the geo interface (shapely and others)."""
        return self.to_geojson()

    def positions(self) -> Iterable[Position]:
        """Every position of the geometry (each ring's closing one included)."""
        raise NotImplementedError


class _Coordinates(Geometry):
    """A geometry defined by a ``coordinates`` array."""

    __slots__ = ()
    coordinates: Any

    def __attrs_post_init__(self) -> None:
        object.__setattr__(
            self, "coordinates", _checked(_SHAPES[self.geojson_type][0], self.coordinates)
        )

    def to_geojson(self) -> dict[str, Any]:
        """Return the GeoJSON object (plain dicts, lists and floats)."""
        return {"type": self.geojson_type, "coordinates": _listed(self.coordinates)}

    def positions(self) -> Iterable[Position]:
        """Every position of the geometry (each ring's closing one included)."""
        items: list[Any] = [self.coordinates]
        for _ in range(_SHAPES[self.geojson_type][1]):
            items = [p for item in items for p in item]
        return items


@attrs.frozen(init=False)
class Point(Geometry):
    """A position: ``Point(13.40, 52.52)`` is longitude 13.40 east, latitude 52.52 north.

    Attributes:
        lon: Longitude in degrees, -180 to 180.
        lat: Latitude in degrees, -90 to 90.
        alt: Altitude (metres, say), or None.
    """

    geojson_type: ClassVar[str] = "Point"
    lon: float
    lat: float
    alt: float | None = None

    def __init__(self, lon: float, lat: float, alt: float | None = None) -> None:
        raw = (lon, lat) if alt is None else (lon, lat, alt)
        position = _checked(_position, raw)
        self.__attrs_init__(*position)

    @property
    def coordinates(self) -> Position:
        """The position as GeoJSON orders it."""
        return (self.lon, self.lat) if self.alt is None else (self.lon, self.lat, self.alt)

    def to_geojson(self) -> dict[str, Any]:
        """Return the GeoJSON object (plain dicts, lists and floats)."""
        return {"type": "Point", "coordinates": list(self.coordinates)}

    def positions(self) -> Iterable[Position]:
        """The one position."""
        return (self.coordinates,)


@attrs.frozen
class MultiPoint(_Coordinates):
    """Positions: ``MultiPoint([(13.4, 52.5), (2.35, 48.86)])``."""

    geojson_type: ClassVar[str] = "MultiPoint"
    coordinates: tuple[Position, ...]


@attrs.frozen
class LineString(_Coordinates):
    """A path of two or more positions."""

    geojson_type: ClassVar[str] = "LineString"
    coordinates: tuple[Position, ...]


@attrs.frozen
class MultiLineString(_Coordinates):
    """Several paths."""

    geojson_type: ClassVar[str] = "MultiLineString"
    coordinates: tuple[tuple[Position, ...], ...]


@attrs.frozen
class Polygon(_Coordinates):
    """An area: the exterior linear ring, then any holes.

    Example: ``Polygon([[(13, 52), (14, 52), (14, 53), (13, 53), (13, 52)]])``.
    """

    geojson_type: ClassVar[str] = "Polygon"
    coordinates: tuple[tuple[Position, ...], ...]

    @classmethod
    def from_box(cls, west: float, south: float, east: float, north: float) -> "Polygon":
        """The polygon of a longitude/latitude rectangle."""
        ring = [(west, south), (east, south), (east, north), (west, north), (west, south)]
        return cls([ring])  # type: ignore[arg-type]


@attrs.frozen
class MultiPolygon(_Coordinates):
    """Several areas."""

    geojson_type: ClassVar[str] = "MultiPolygon"
    coordinates: tuple[tuple[tuple[Position, ...], ...], ...]


@attrs.frozen
class GeometryCollection(Geometry):
    """Geometries of any types, as one value."""

    geojson_type: ClassVar[str] = "GeometryCollection"
    geometries: tuple[Geometry, ...] = attrs.field(converter=tuple)

    def __attrs_post_init__(self) -> None:
        problems = _Problems()
        if not self.geometries:
            problems.add("geometries", "too_short", "must hold at least 1 geometry")
        members: tuple[Any, ...] = self.geometries
        for index, item in enumerate(members):
            if not isinstance(item, Geometry):
                problems.add(f"geometries[{index}]", "invalid_type", "must be a geometry")
        problems.raise_any()

    def to_geojson(self) -> dict[str, Any]:
        """Return the GeoJSON object (plain dicts, lists and floats)."""
        return {"type": self.geojson_type, "geometries": [g.to_geojson() for g in self.geometries]}

    def positions(self) -> Iterable[Position]:
        """Every position of every member."""
        return [p for g in self.geometries for p in g.positions()]


_TYPES: dict[str, type[Geometry]] = {
    cls.geojson_type: cls
    for cls in (
        Point,
        MultiPoint,
        LineString,
        MultiLineString,
        Polygon,
        MultiPolygon,
        GeometryCollection,
    )
}


def is_geometry_type(annotation: Any) -> bool:
    """Whether ``annotation`` is :class:`Geometry` or one of its seven types."""
    return isinstance(annotation, type) and issubclass(annotation, Geometry)


def _allowed(expected: type[Geometry]) -> tuple[str, ...]:
    return tuple(name for name, cls in _TYPES.items() if issubclass(cls, expected))


def _load(
    raw: Any, path: str, problems: _Problems, expected: type[Geometry], depth: int
) -> Geometry | None:
    if not isinstance(raw, dict):
        problems.add(path, "invalid_type", "must be a GeoJSON object")
        return None
    allowed = _allowed(expected)
    kind = raw.get("type")
    if kind not in allowed:
        problems.add(
            _join(path, "type"), "invalid_geometry_type", f"must be {' or '.join(allowed)}"
        )
        return None
    member = "geometries" if kind == "GeometryCollection" else "coordinates"
    for key in raw:
        if key not in ("type", member, "bbox"):
            problems.add(_join(path, str(key)), "unknown_field", "is not a member of this geometry")
    if member not in raw:
        problems.add(_join(path, member), "required", "is required")
        return None
    before = len(problems.items)
    cls = _TYPES[kind]
    if cls is GeometryCollection:
        return _collection(raw[member], _join(path, member), problems, depth)
    if cls is Point:
        position = _position(raw[member], _join(path, member), problems)
        return None if position is None else Point(*position)
    coordinates = _SHAPES[kind][0](raw[member], _join(path, member), problems)
    if len(problems.items) != before:
        return None
    return cls(coordinates)  # type: ignore[call-arg]


def _collection(raw: Any, path: str, problems: _Problems, depth: int) -> Geometry | None:
    if depth > 4:  # noqa: PLR2004 - RFC 7946 discourages nesting at all
        problems.add(path, "too_deep", "geometry collections are nested too deeply")
        return None
    items = _array(raw, path, problems, 1, "geometry")
    if items is None:
        return None
    members = [_load(g, f"{path}[{i}]", problems, Geometry, depth + 1) for i, g in enumerate(items)]
    if any(m is None for m in members):
        return None
    return GeometryCollection(members)  # type: ignore[arg-type]


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def from_geojson(data: Any, expected: type[Geometry] = Geometry) -> Geometry:
    """Build a geometry from its GeoJSON object.

    Args:
        data: The decoded GeoJSON object.
        expected: The class the value must be (``Geometry`` for any).

    Raises:
        ValidationError: With every problem, paths relative to ``data``.
    """
    problems = _Problems()
    found = _load(data, "", problems, expected, 0)
    problems.raise_any()
    assert found is not None  # noqa: S101 - no problem means a geometry was built
    return found


# ------------------------------------------------------------ query regions
def _point(value: "Point | Sequence[float]", path: str) -> Point:
    if isinstance(value, Point):
        return value
    try:
        return Point(*value)
    except ValidationError as exc:
        raise ValidationError(
            [attrs.evolve(e, field=path + e.field.removeprefix("coordinates")) for e in exc.errors]
        ) from None
    except TypeError:
        raise ValidationError.single(
            path, "invalid_position", "must be a Point or (lon, lat)"
        ) from None


def _distance(value: Any, path: str, unit: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValidationError.single(
            path, "invalid_distance", f"must be a non-negative number of {unit}"
        )
    return float(value)


@attrs.frozen(init=False)
class Box:
    """A longitude/latitude rectangle (MongoDB's legacy ``$box``: flat, points only)."""

    bottom_left: Point
    top_right: Point

    def __init__(
        self, bottom_left: "Point | Sequence[float]", top_right: "Point | Sequence[float]"
    ) -> None:
        self.__attrs_init__(_point(bottom_left, "$box[0]"), _point(top_right, "$box[1]"))


@attrs.frozen(init=False)
class FlatPolygon:
    """A polygon on the longitude/latitude plane (legacy ``$polygon``: flat, points only)."""

    vertices: tuple[Point, ...]

    def __init__(self, vertices: Iterable["Point | Sequence[float]"]) -> None:
        points = tuple(_point(v, f"$polygon[{i}]") for i, v in enumerate(vertices))
        if len(points) < 3:  # noqa: PLR2004 - a triangle at least
            raise ValidationError.single("$polygon", "too_short", "must hold at least 3 positions")
        self.__attrs_init__(points)


@attrs.frozen(init=False)
class FlatCircle:
    """A circle on the longitude/latitude plane, radius in degrees (legacy ``$center``)."""

    center: Point
    radius_deg: float

    def __init__(self, center: "Point | Sequence[float]", radius_deg: float) -> None:
        self.__attrs_init__(
            _point(center, "$center[0]"), _distance(radius_deg, "$center[1]", "degrees")
        )


@attrs.frozen(init=False)
class SphericalCap:
    """The points within ``radius_m`` metres of ``center`` on the sphere (``$centerSphere``)."""

    center: Point
    radius_m: float

    def __init__(self, center: "Point | Sequence[float]", radius_m: float) -> None:
        radius = _distance(radius_m, "$centerSphere[1]", "metres")
        if radius > math.pi * EARTH_RADIUS_M:
            raise ValidationError.single(
                "$centerSphere[1]", "invalid_distance", "exceeds half the Earth's circumference"
            )
        self.__attrs_init__(_point(center, "$centerSphere[0]"), radius)

    @property
    def radians(self) -> float:
        """The radius as an angle, as ``$centerSphere`` takes it."""
        return self.radius_m / EARTH_RADIUS_M


# -------------------------------------------------------------- codec hooks
def geojson_loader(expected: type[Geometry]) -> Callable[[Any, Any], Geometry]:
    """The structuring hook of a geometry field type (wire and storage forms alike)."""

    def load(value: Any, _: Any) -> Geometry:
        return from_geojson(value, expected)

    return load


def geojson_dump(value: Geometry) -> dict[str, Any]:
    """The unstructuring hook: the GeoJSON object."""
    return value.to_geojson()


# ------------------------------------------------------------------ schemas
_NUMBER = {"type": "number"}
_POSITION = {
    # One schema for every item: tuple-form "items" is Draft-04 only (OpenAPI 3.1 and
    # JSON Schema 2020-12 read it differently), so the ranges are stated in words.
    "type": "array",
    "minItems": 2,
    "maxItems": 3,
    "items": _NUMBER,
    "description": "[longitude (-180 to 180), latitude (-90 to 90), optional altitude]",
}


def _array_of(items: dict[str, Any], minimum: int) -> dict[str, Any]:
    return {"type": "array", "minItems": minimum, "items": items}


_LINE = _array_of(_POSITION, 2)
_POLYGON = _array_of(_array_of(_POSITION, 4), 1)
_COORDINATES: dict[str, dict[str, Any]] = {
    "Point": _POSITION,
    "MultiPoint": _array_of(_POSITION, 1),
    "LineString": _LINE,
    "MultiLineString": _array_of(_LINE, 1),
    "Polygon": _POLYGON,
    "MultiPolygon": _array_of(_POLYGON, 1),
}


def _object_schema(kind: str) -> dict[str, Any]:
    member = "geometries" if kind == "GeometryCollection" else "coordinates"
    value: dict[str, Any] = (
        _array_of({"type": "object", "required": ["type"]}, 1)
        if member == "geometries"
        else _COORDINATES[kind]
    )
    return {
        "type": "object",
        "required": ["type", member],
        "properties": {
            "type": {"type": "string", "enum": [kind]},
            member: value,
            "bbox": _array_of(_NUMBER, 4),
        },
        "additionalProperties": False,
    }


def json_schema(cls: type[Geometry]) -> dict[str, Any]:
    """The Draft-04 JSON Schema of the GeoJSON object of ``cls`` (any type for ``Geometry``)."""
    kinds = _allowed(cls)
    if len(kinds) == 1:
        schema = _object_schema(kinds[0])
    else:
        schema = {"anyOf": [_object_schema(kind) for kind in kinds]}
    schema["description"] = f"A GeoJSON {' or '.join(kinds)} (RFC 7946), [longitude, latitude]"
    return schema


def bson_schema(cls: type[Geometry]) -> dict[str, Any]:
    """The MongoDB ``$jsonSchema`` of the stored GeoJSON object of ``cls``."""
    kinds = list(_allowed(cls))
    return {"bsonType": "object", "required": ["type"], "properties": {"type": {"enum": kinds}}}
