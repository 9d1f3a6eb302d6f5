"""The geo query operators on stored GeoJSON, evaluated on the sphere as MongoDB does.

MongoDB's 2dsphere operators treat the Earth as a sphere and every edge of a
line or polygon as a geodesic (a great-circle arc). Planar libraries draw
straight edges in longitude/latitude instead, which is wrong by kilometres for
long edges. Here every test runs in a *gnomonic projection*: centred on a
point of the sphere, it maps each great circle to a straight line, so
shapely's planar predicates (covers, intersects, distance) give the spherical
answer for geodesic edges exactly, not approximately. Two limits follow, both
shared with MongoDB's own rules or far beyond what a query would use:

* only the hemisphere around the centre projects; a query polygon (the centre
  is its centroid) must be smaller than a hemisphere, as MongoDB requires of
  ``$geometry`` polygons, and a geometry reaching beyond it is not within it
  and is taken not to intersect it;
* the distance of ``$near`` is exact because the projection centred on the
  query point maps angular distance ``t`` to ``tan(t)``, which increases with
  ``t``: the nearest projected point is the nearest point on the sphere. A
  geometry not wholly on the near hemisphere is measured by its vertices.

Distances use MongoDB's Earth radius (6378.1 km), with the haversine formula
between positions. The legacy shapes ``$box``, ``$polygon`` and ``$center``
are flat (straight edges in longitude/latitude) and match points only, as in
MongoDB.
"""

import math
from collections.abc import Callable, Sequence
from typing import Any

import shapely
from shapely.geometry import shape

from hexkernel.core.geo import (
    EARTH_RADIUS_M,
    Box,
    FlatCircle,
    FlatPolygon,
    Geometry,
    Point,
    SphericalCap,
)
from hexkernel.core.query import GeoRegion

__all__ = ("distance_m", "haversine_m", "intersects", "within")

_Vector = tuple[float, float, float]
_HORIZON = 1e-9  # a projected point this close to the horizon would go to infinity


def _unit(lon: float, lat: float) -> _Vector:
    phi, lam = math.radians(lat), math.radians(lon)
    return (math.cos(phi) * math.cos(lam), math.cos(phi) * math.sin(lam), math.sin(phi))


def _dot(a: _Vector, b: _Vector) -> float:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _cross(a: _Vector, b: _Vector) -> _Vector:
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


def _normal(a: _Vector) -> _Vector | None:
    size = math.sqrt(_dot(a, a))
    if size < _HORIZON:
        return None
    return (a[0] / size, a[1] / size, a[2] / size)


def haversine_m(a: Sequence[float], b: Sequence[float]) -> float:
    """The great-circle distance in metres between two ``(lon, lat)`` positions."""
    lat1, lat2 = math.radians(a[1]), math.radians(b[1])
    dlat, dlon = lat2 - lat1, math.radians(b[0] - a[0])
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


class _Gnomonic:
    """The gnomonic projection centred on a unit vector."""

    def __init__(self, center: _Vector) -> None:
        self.center = center
        # Any axis not parallel to the centre spans the tangent plane with it.
        axis = (0.0, 0.0, 1.0) if abs(center[2]) < 0.9 else (1.0, 0.0, 0.0)  # noqa: PLR2004
        east = _normal(_cross(axis, center))
        assert east is not None  # noqa: S101 - the axis is never parallel to the centre
        self.east = east
        self.north = _cross(center, east)

    def project(self, position: Sequence[float]) -> tuple[float, float] | None:
        p = _unit(position[0], position[1])
        depth = _dot(p, self.center)
        if depth <= _HORIZON:
            return None
        return (_dot(p, self.east) / depth, _dot(p, self.north) / depth)

    def geometry(self, geojson: dict[str, Any]) -> Any:
        """The projected shapely geometry, or None when part of it is beyond the horizon."""
        try:
            return shape(_mapped(geojson, self._strict))
        except _BeyondHorizon:
            return None

    def _strict(self, position: Sequence[float]) -> tuple[float, float]:
        found = self.project(position)
        if found is None:
            raise _BeyondHorizon
        return found


class _BeyondHorizon(Exception):
    """A position that does not project."""


def _mapped(geojson: dict[str, Any], fn: Callable[[Sequence[float]], Any]) -> dict[str, Any]:
    if geojson["type"] == "GeometryCollection":
        return {
            "type": "GeometryCollection",
            "geometries": [_mapped(g, fn) for g in geojson["geometries"]],
        }

    def walk(value: Any) -> Any:
        if value and isinstance(value[0], (int, float)):
            return fn(value)
        return [walk(v) for v in value]

    return {"type": geojson["type"], "coordinates": walk(geojson["coordinates"])}


def _positions(geojson: dict[str, Any]) -> list[Sequence[float]]:
    out: list[Sequence[float]] = []
    _mapped(geojson, out.append)
    return out


def _centroid(positions: Sequence[Sequence[float]]) -> _Vector | None:
    total = [0.0, 0.0, 0.0]
    for position in positions:
        for axis, value in enumerate(_unit(position[0], position[1])):
            total[axis] += value
    return _normal((total[0], total[1], total[2]))


def _is_geojson(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("type"), str)


# ------------------------------------------------------------------ within
def _flat_point(stored: dict[str, Any]) -> tuple[float, float] | None:
    if stored.get("type") != "Point":
        return None
    lon, lat = stored["coordinates"][:2]
    return (lon, lat)


def _within_flat(stored: dict[str, Any], region: Box | FlatPolygon | FlatCircle) -> bool:
    point = _flat_point(stored)
    if point is None:
        return False  # flat legacy shapes hold points only, as in MongoDB
    lon, lat = point
    if isinstance(region, Box):
        low, high = region.bottom_left, region.top_right
        return low.lon <= lon <= high.lon and low.lat <= lat <= high.lat
    if isinstance(region, FlatCircle):
        return math.hypot(lon - region.center.lon, lat - region.center.lat) <= region.radius_deg
    outline = shapely.Polygon([(v.lon, v.lat) for v in region.vertices])
    return bool(outline.covers(shapely.Point(lon, lat)))


def within(stored: Any, region: GeoRegion) -> bool:
    """Whether the stored GeoJSON value lies entirely within ``region``."""
    if not _is_geojson(stored):
        return False
    if isinstance(region, (Box, FlatPolygon, FlatCircle)):
        return _within_flat(stored, region)
    if isinstance(region, SphericalCap):
        # A cap smaller than a hemisphere is convex on the sphere: holding every
        # vertex, it holds every geodesic edge between them.
        center = region.center.coordinates
        return all(haversine_m(center, p) <= region.radius_m for p in _positions(stored))
    query = region.to_geojson()
    middle = _centroid(_positions(query))
    if middle is None:
        return False
    projection = _Gnomonic(middle)
    outline, inner = projection.geometry(query), projection.geometry(stored)
    return outline is not None and inner is not None and bool(outline.covers(inner))


def intersects(stored: Any, geometry: Geometry) -> bool:
    """Whether the stored GeoJSON value shares a point with ``geometry``."""
    if not _is_geojson(stored):
        return False
    query = geometry.to_geojson()
    middle = _centroid(_positions(query) + _positions(stored))
    if middle is None:
        return False
    projection = _Gnomonic(middle)
    first, second = projection.geometry(query), projection.geometry(stored)
    return first is not None and second is not None and bool(first.intersects(second))


def distance_m(stored: Any, point: Point) -> float | None:
    """The distance in metres from ``point`` to the nearest point of the stored value."""
    if not _is_geojson(stored):
        return None
    origin = point.coordinates
    if stored["type"] == "Point":
        return haversine_m(origin, stored["coordinates"])
    projected = _Gnomonic(_unit(origin[0], origin[1])).geometry(stored)
    if projected is None:
        return min(haversine_m(origin, p) for p in _positions(stored))
    return math.atan(projected.distance(shapely.Point(0.0, 0.0))) * EARTH_RADIUS_M
