"""GeoJSON geometries: RFC 7946 checks with paths, the Model round trip, schemas and the DSL."""

import json

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hexkernel.adapters._mongo_syntax import geo_near_stage, mongo_filter
from hexkernel.core import Model, ValidationError
from hexkernel.core.geo import (
    EARTH_RADIUS_M,
    Geometry,
    GeometryCollection,
    LineString,
    MultiLineString,
    MultiPoint,
    MultiPolygon,
    Point,
    Polygon,
    from_geojson,
)
from hexkernel.core.model.schema import bson_schema, describe, json_schema
from hexkernel.core.persistence import model_indexes
from hexkernel.core.query import Query

SQUARE = [[(0, 0), (1, 0), (1, 1), (0, 1), (0, 0)]]


class Spot(Model):
    location: Point
    area: Polygon | None = None
    shape: Geometry | None = None


def problems(call, *args):
    with pytest.raises(ValidationError) as caught:
        call(*args)
    return {(e.field, e.code) for e in caught.value.errors}


def test_every_type_round_trips_through_geojson():
    values = [
        Point(13.4, 52.5),
        Point(13.4, 52.5, 34.0),
        MultiPoint([(0, 0), (1, 1)]),
        LineString([(0, 0), (1, 1)]),
        MultiLineString([[(0, 0), (1, 1)], [(2, 2), (3, 3)]]),
        Polygon(SQUARE),
        Polygon([SQUARE[0], [(0.2, 0.2), (0.4, 0.2), (0.4, 0.4), (0.2, 0.2)]]),
        MultiPolygon([SQUARE]),
        GeometryCollection([Point(1, 2), LineString([(0, 0), (1, 1)])]),
    ]
    for value in values:
        assert from_geojson(value.to_geojson()) == value
        assert from_geojson(value.to_geojson(), type(value)) == value
        assert value.__geo_interface__ == value.to_geojson()


def test_geometries_are_immutable_and_hashable():
    point = Point(1, 2)
    with pytest.raises(AttributeError):
        point.lon = 3  # type: ignore[misc]
    assert {point, Point(1, 2)} == {point}
    assert Point(1, 2).coordinates == (1.0, 2.0)


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (lambda: Point(181, 0), {("coordinates[0]", "invalid_longitude")}),
        (lambda: Point(0, -91), {("coordinates[1]", "invalid_latitude")}),
        (lambda: Point(True, 0), {("coordinates[0]", "invalid_type")}),
        (lambda: Point(float("nan"), 0), {("coordinates[0]", "invalid_number")}),
        (lambda: LineString([(0, 0)]), {("coordinates", "too_short")}),
        (lambda: Polygon([[(0, 0), (1, 0), (1, 1), (0, 1)]]), {("coordinates[0]", "open_ring")}),
        (lambda: Polygon([[(0, 0), (1, 0), (0, 0)]]), {("coordinates[0]", "too_short")}),
        (
            lambda: Polygon([[(0, 0), (1, 0), (1, 0), (0, 0)]]),
            {("coordinates[0]", "degenerate_ring")},
        ),
        (
            lambda: Polygon([[(0, 0), (1, 1), (1, 0), (0, 1), (0, 0)]]),
            {("coordinates[0]", "self_intersecting_ring")},
        ),
        (
            lambda: Polygon([SQUARE[0], [(2, 2), (3, 2), (3, 3), (2, 2)]]),
            {("coordinates[1]", "hole_outside")},
        ),
        (
            lambda: Polygon([SQUARE[0], [(0.5, 0.5), (1.5, 0.5), (0.5, 0.8), (0.5, 0.5)]]),
            {("coordinates[1]", "hole_outside")},
        ),
        (lambda: MultiPoint([]), {("coordinates", "too_short")}),
        (
            lambda: MultiPolygon([SQUARE, [[(0, 0), (200, 0), (1, 1), (0, 0)]]]),
            {("coordinates[1][0][1][0]", "invalid_longitude")},
        ),
        (lambda: GeometryCollection([]), {("geometries", "too_short")}),
    ],
)
def test_invalid_geometries_report_each_problem_with_its_path(build, expected):
    assert problems(build) == expected


def test_geojson_problems_are_all_reported():
    bad = {"type": "LineString", "coordinates": [[0, 95], [500, 0, 1, 2]], "crs": {}}
    assert problems(from_geojson, bad) == {
        ("crs", "unknown_field"),
        ("coordinates[0][1]", "invalid_latitude"),
        ("coordinates[1]", "invalid_position"),
    }
    assert problems(from_geojson, {"type": "Point", "coordinates": [0, 0]}, Polygon) == {
        ("type", "invalid_geometry_type")
    }
    assert problems(from_geojson, {"type": "Polygon"}) == {("coordinates", "required")}
    assert from_geojson({"type": "Point", "coordinates": [1, 2], "bbox": [1, 2, 1, 2]}) == Point(
        1, 2
    )


def test_a_model_field_reports_geometry_problems_under_its_name():
    codec = Spot.__model__.codec
    wire = {"location": {"type": "Point", "coordinates": [0, 100]}, "area": {"type": "Point"}}
    assert problems(codec.from_wire, wire) == {
        ("location.coordinates[1]", "invalid_latitude"),
        ("area.type", "invalid_geometry_type"),
    }
    assert problems(lambda: Spot(location=(1, 2))) == {("location", "invalid_type")}


def test_a_model_writes_geojson_on_the_wire_and_in_storage():
    spot = Spot(location=Point(1, 2), area=Polygon(SQUARE), shape=LineString([(0, 0), (1, 1)]))
    codec = Spot.__model__.codec
    wire = codec.to_wire(spot)
    assert wire["location"] == {"type": "Point", "coordinates": [1.0, 2.0]}
    assert codec.to_storage(spot)["area"] == wire["area"]
    assert codec.from_wire(wire) == spot
    assert codec.from_storage(codec.to_storage(spot)) == spot


def test_schemas_index_and_metadata_describe_geojson_fields():
    schema = json_schema(Spot)
    jsonschema.Draft4Validator.check_schema(schema)
    spot = Spot(location=Point(1, 2), shape=MultiPolygon([SQUARE]))
    jsonschema.validate(Spot.__model__.codec.to_wire(spot), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"location": {"type": "Point", "coordinates": [1, 2, 3, 4]}}, schema)
    assert bson_schema(Spot)["properties"]["location"]["properties"]["type"] == {"enum": ["Point"]}
    assert describe(Spot)["fields"][-1]["geometry"] == "Geometry"
    assert {i.resolved_name for i in model_indexes(Spot)} == {
        "location_2dsphere",
        "area_2dsphere",
        "shape_2dsphere",
    }


def test_geo_conditions_translate_to_mongodb_operators():
    box = Polygon.from_box(0, 0, 1, 1)
    assert mongo_filter(Spot.location.geo_within(box)) == {
        "location": {"$geoWithin": {"$geometry": box.to_geojson()}}
    }
    cap = mongo_filter(Spot.location.geo_within_sphere((1, 2), 6378.1))
    assert cap == {"location": {"$geoWithin": {"$centerSphere": [[1.0, 2.0], 0.001]}}}
    assert mongo_filter(Spot.location.geo_within_box((0, 0), (1, 1))) == {
        "location": {"$geoWithin": {"$box": [[0.0, 0.0], [1.0, 1.0]]}}
    }
    assert mongo_filter(Spot.shape.geo_intersects(Point(1, 2))) == {
        "shape": {"$geoIntersects": {"$geometry": {"type": "Point", "coordinates": [1.0, 2.0]}}}
    }
    near = Spot.location.near((1, 2), max_distance_m=500, min_distance_m=5)
    assert mongo_filter(near) == {
        "location": {
            "$near": {
                "$geometry": {"type": "Point", "coordinates": [1.0, 2.0]},
                "$maxDistance": 500.0,
                "$minDistance": 5.0,
            }
        }
    }
    where = near & (Spot.area.exists())
    stage = geo_near_stage(where, near)["$geoNear"]
    assert stage["key"] == "location"
    assert stage["maxDistance"] == 500.0
    assert stage["query"] == mongo_filter(Spot.area.exists())
    assert EARTH_RADIUS_M == 6_378_100.0


def test_geo_methods_check_their_field_and_operands():
    with pytest.raises(ValidationError, match="exceeds"):
        Spot.location.near((0, 0), max_distance_m=1, min_distance_m=2)
    with pytest.raises(ValidationError, match="non-negative"):
        Spot.location.geo_within_sphere((0, 0), -1)
    with pytest.raises(ValidationError, match="Polygon or MultiPolygon"):
        Spot.location.geo_within(Point(1, 2))  # type: ignore[arg-type]
    assert problems(lambda: Spot.location.near((0, 95))) == {
        ("location.coordinates[1]", "invalid_latitude")
    }
    one = Query(Spot).where(Spot.location.near((0, 0)), Spot.area.exists())
    assert one.filter is not None


_coordinate = st.floats(-180, 180, allow_nan=False)
_latitude = st.floats(-90, 90, allow_nan=False)
_points = st.builds(
    Point, _coordinate, _latitude, st.none() | st.floats(-1e4, 1e4, allow_nan=False)
)
_positions = st.tuples(_coordinate, _latitude)
_lines = st.lists(_positions, min_size=2, max_size=5, unique=True).map(LineString)


@st.composite
def _boxes(draw):
    west = draw(st.floats(-170, 160))
    south = draw(st.floats(-80, 70))
    return Polygon.from_box(west, south, west + draw(st.floats(0.5, 10)), south + 5)


_geometries = st.one_of(
    _points,
    _lines,
    _boxes(),
    st.lists(_positions, min_size=1, max_size=4).map(MultiPoint),
    st.lists(_lines, min_size=1, max_size=3).map(
        lambda ls: MultiLineString([x.coordinates for x in ls])
    ),
    st.lists(_boxes(), min_size=1, max_size=3).map(
        lambda ps: MultiPolygon([p.coordinates for p in ps])
    ),
)


@given(
    _points,
    st.none() | _boxes(),
    st.none() | _geometries | st.lists(_geometries, min_size=1, max_size=3).map(GeometryCollection),
)
def test_geometries_round_trip_through_both_forms(location, area, shape):
    spot = Spot(location=location, area=area, shape=shape)
    codec = Spot.__model__.codec
    assert codec.from_wire(json.loads(json.dumps(codec.to_wire(spot)))) == spot
    assert codec.from_storage(codec.to_storage(spot)) == spot
