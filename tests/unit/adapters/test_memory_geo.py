"""The in-memory geo predicates work on the sphere: geodesic edges, exact distances."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hexkernel.adapters.memory._geo import distance_m, haversine_m, intersects, within
from hexkernel.core.geo import (
    EARTH_RADIUS_M,
    Box,
    FlatCircle,
    LineString,
    Point,
    Polygon,
    SphericalCap,
)

# Geodesic edges bulge poleward: at longitude 0 the edge from (-50, 60) to (50, 60)
# reaches 69.6 degrees north and the one from (-50, 50) to (50, 50) 61.7 degrees,
# where planar geometry would draw the parallels at 60 and 50 degrees.
NORTH_EDGE = Polygon([[(-50, 50), (50, 50), (50, 60), (-50, 60), (-50, 50)]])


def apex(lat):
    """The latitude the geodesic between (-50, lat) and (50, lat) reaches at longitude 0."""
    return math.degrees(math.atan(math.tan(math.radians(lat)) / math.cos(math.radians(50))))


def stored(geometry):
    return geometry.to_geojson()


def test_a_point_below_a_geodesic_edge_is_inside_though_north_of_its_ends():
    assert apex(50) < 63
    assert apex(60) > 69
    assert within(stored(Point(0, 63)), NORTH_EDGE)
    assert within(stored(Point(0, 69)), NORTH_EDGE)
    assert not within(stored(Point(0, 71)), NORTH_EDGE)
    assert not within(stored(Point(0, 55)), NORTH_EDGE)  # south of the bulging southern edge
    assert intersects(stored(Point(0, 63)), NORTH_EDGE)


def test_a_line_crossing_only_the_bulge_intersects():
    line = LineString([(-1, 69), (1, 69)])  # north of 60, south of the arc at longitude 0
    assert intersects(stored(line), NORTH_EDGE)


def test_distances_to_points_are_haversine_with_mongodb_s_radius():
    one_degree = math.radians(1) * EARTH_RADIUS_M
    assert haversine_m((0, 0), (0, 1)) == pytest.approx(one_degree)
    assert distance_m(stored(Point(1, 0)), Point(0, 0)) == pytest.approx(one_degree)


def test_the_distance_to_a_line_is_to_its_nearest_point_not_a_vertex():
    meridian = LineString([(0, -10), (0, 10)])
    expected = math.radians(1) * EARTH_RADIUS_M  # along the equator, to (0, 0)
    assert distance_m(stored(meridian), Point(1, 0)) == pytest.approx(expected, rel=1e-9)


def test_the_distance_into_a_polygon_is_zero_and_out_of_it_to_the_bulging_edge():
    assert distance_m(stored(NORTH_EDGE), Point(0, 65)) == 0
    expected = math.radians(apex(50) - 55) * EARTH_RADIUS_M
    assert distance_m(stored(NORTH_EDGE), Point(0, 55)) == pytest.approx(expected, rel=1e-9)


@given(
    st.floats(-179, 179),
    st.floats(-80, 80),
    st.floats(-179, 179),
    st.floats(-80, 80),
)
def test_projected_distances_agree_with_haversine_between_points(lon1, lat1, lon2, lat2):
    point, other = Point(lon1, lat1), Point(lon2, lat2)
    two = LineString([(lon2, lat2), (lon2, lat2 + 1e-9)])
    if haversine_m((lon1, lat1), (lon2, lat2)) < math.pi / 2 * EARTH_RADIUS_M:
        assert distance_m(stored(two), point) == pytest.approx(
            distance_m(stored(other), point), rel=1e-6, abs=1e-3
        )


def test_flat_legacy_shapes_hold_points_only():
    assert within(stored(Point(0.5, 0.5)), Box((0, 0), (1, 1)))
    assert not within(stored(Polygon.from_box(0.2, 0.2, 0.4, 0.4)), Box((0, 0), (1, 1)))
    assert within(stored(Point(0.5, 0.5)), FlatCircle((0, 0), 0.75))
    assert not within(stored(Point(0.6, 0.6)), FlatCircle((0, 0), 0.75))


def test_a_spherical_cap_holds_a_geometry_when_it_holds_every_vertex():
    cap = SphericalCap((0, 0), 200_000)
    assert within(stored(Polygon.from_box(-1, -1, 1, 1)), cap)
    assert not within(stored(Polygon.from_box(-1, -1, 2, 1)), cap)


def test_values_that_are_not_geojson_never_match():
    for value in (None, 3, {"type": 1}, "Point"):
        assert not within(value, NORTH_EDGE)
        assert not intersects(value, NORTH_EDGE)
        assert distance_m(value, Point(0, 0)) is None
