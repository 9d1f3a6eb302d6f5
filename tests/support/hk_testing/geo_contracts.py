"""The geo contracts: GeoJSON fields and the geo operators, on every store and over HTTP.

:class:`GeoContract` runs on a ``backend`` fixture like the other repository
contracts; :class:`GeoRestContract` on a ``client`` whose app :func:`build_geo_app`
built. Both need a ``geo_missing`` fixture: a function taking an operator name
(``"$near"``, ``"$centerSphere"``, ...) and returning why the store cannot run it,
or ``None``. The in-memory store runs every operator; a MongoDB-compatible test
server may lack some (mongoeco has no ``$centerSphere``, ``$polygon`` or
``$center``, and ignores ``$maxDistance``): :func:`mongo_geo_missing` finds out
by asking the server, so these tests run in full on a real MongoDB.

The data: four places around Berlin and one in Paris, a square district
polygon, and a road crossing it; a few kilometres apart, so every answer is far
from the rounding of any store.
"""

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.errors import OperationFailure

from hexkernel.core import Model, Query, ValidationError
from hexkernel.core.geo import (
    EARTH_RADIUS_M,
    FlatCircle,
    FlatPolygon,
    Geometry,
    LineString,
    MultiPolygon,
    Point,
    Polygon,
)
from hexkernel.core.persistence import model_indexes
from hexkernel.interfaces.bootstrap import RootContainer, Service
from hexkernel.interfaces.http.app import create_app
from hexkernel.interfaces.http.resources import Resource

__all__ = (
    "GeoContract",
    "GeoRestContract",
    "Place",
    "build_geo_app",
    "mongo_geo_missing",
)


class Place(Model):
    """A named place somewhere on Earth."""

    name: str
    location: Geometry


BERLIN = Point(13.4050, 52.5200)  # Brandenburg Gate-ish
MITTE = Point(13.4100, 52.5300)  # about 1.2 km north-east of BERLIN
POTSDAM = Point(13.0645, 52.3906)  # about 26 km south-west
PARIS = Point(2.3522, 48.8566)  # about 878 km
DISTRICT = Polygon.from_box(13.38, 52.51, 13.43, 52.54)  # holds BERLIN and MITTE
ROAD = LineString([(13.0, 52.45), (13.5, 52.45)])  # south of the district, north of Potsdam


def _places() -> list[Place]:
    return [
        Place(name="berlin", location=BERLIN),
        Place(name="mitte", location=MITTE),
        Place(name="potsdam", location=POTSDAM),
        Place(name="paris", location=PARIS),
        Place(name="district", location=DISTRICT),
        Place(name="road", location=ROAD),
    ]


def _names(found: list[Place]) -> list[str]:
    return [p.name for p in found]


def _skip_unless(geo_missing: Callable[[str], str | None], *operators: str) -> None:
    for operator in operators:
        reason = geo_missing(operator)
        if reason:
            pytest.skip(reason)


# ----------------------------------------------------------- capabilities
_PROBES: dict[str, tuple[dict[str, Any], list[str]]] = {
    # operator: (filter, the ids a MongoDB returns, in order)
    "$near": (
        {
            "p": {
                "$near": {
                    "$geometry": {"type": "Point", "coordinates": [0.0, 0.0]},
                    "$maxDistance": 200000,
                }
            }
        },
        ["near", "mid"],
    ),
    "$minDistance": (
        {
            "p": {
                "$near": {
                    "$geometry": {"type": "Point", "coordinates": [0.0, 0.0]},
                    "$minDistance": 50000,
                }
            }
        },
        ["mid", "far"],
    ),
    "$centerSphere": (
        {"p": {"$geoWithin": {"$centerSphere": [[0.0, 0.0], 0.02]}}},
        ["mid", "near"],
    ),
    "$polygon": (
        {"p": {"$geoWithin": {"$polygon": [[-1, -1], [1.5, -1], [1.5, 1.5]]}}},
        ["mid", "near"],
    ),
    "$center": ({"p": {"$geoWithin": {"$center": [[0.0, 0.0], 1.5]}}}, ["mid", "near"]),
    "$box": ({"p": {"$geoWithin": {"$box": [[-1, -1], [1.5, 1.5]]}}}, ["mid", "near"]),
    "$geoWithin": (
        {"p": {"$geoWithin": {"$geometry": Polygon.from_box(-1, -1, 1.5, 1.5).to_geojson()}}},
        ["mid", "near"],
    ),
    "$geoIntersects": (
        {"p": {"$geoIntersects": {"$geometry": Polygon.from_box(-1, -1, 1.5, 1.5).to_geojson()}}},
        ["mid", "near"],
    ),
}
_ORDERED = frozenset({"$near", "$minDistance"})


def _refusal(operator: str, exc: OperationFailure) -> str:
    message = (exc.details or {}).get("errmsg") or str(exc)
    return f"the test server refuses {operator}: {message}"


def mongo_geo_missing(uri: str) -> Callable[[str], str | None]:
    """Ask the server at ``uri`` which geo operators it runs as MongoDB documents them.

    Three points on the equator (0, 1 and 10 degrees east) under a 2dsphere
    index answer each operator's probe; a refusal or a different answer marks
    the operator missing, with the reason. Counting with ``$near`` runs a
    ``$geoNear`` stage, probed as ``"$geoNear"``.
    """
    found: dict[str, str | None] = {}
    with MongoClient(uri) as client:
        name = f"hk_geo_probe_{uuid.uuid4().hex}"
        collection = client[name]["probe"]
        try:
            collection.create_index([("p", "2dsphere")])
            collection.insert_many(
                [
                    {"_id": key, "p": {"type": "Point", "coordinates": [lon, 0.0]}}
                    for key, lon in (("near", 0.0), ("mid", 1.0), ("far", 10.0))
                ]
            )
            for operator, (query, expected) in _PROBES.items():
                try:
                    cursor = collection.find(query)
                    got = (
                        [d["_id"] for d in cursor]
                        if operator in _ORDERED
                        else sorted(d["_id"] for d in cursor)
                    )
                except OperationFailure as exc:
                    found[operator] = _refusal(operator, exc)
                    continue
                found[operator] = (
                    None
                    if got == expected
                    else (
                        f"the test server answers {operator} unlike MongoDB ({got}, not {expected})"
                    )
                )
            stage = {
                "$geoNear": {
                    "near": {"type": "Point", "coordinates": [0.0, 0.0]},
                    "key": "p",
                    "distanceField": "d",
                    "spherical": True,
                    "maxDistance": 200000,
                }
            }
            try:
                got = [d["_id"] for d in collection.aggregate([stage])]
            except OperationFailure as exc:
                found["$geoNear"] = _refusal("$geoNear", exc)
            else:
                found["$geoNear"] = (
                    None
                    if got == ["near", "mid"]
                    else f"the test server answers $geoNear unlike MongoDB ({got})"
                )
        finally:
            client.drop_database(name)
    return found.get


def memory_geo_missing(_operator: str) -> None:
    """The in-memory store runs every geo operator."""


# --------------------------------------------------------------- contract
class GeoContract:
    pytestmark = pytest.mark.anyio

    async def _stored(self, backend: Any) -> Any:
        repo = backend.repository(Place)
        await repo.sync()
        for place in _places():
            await repo.insert(place)
        return repo

    async def _find(self, repo: Any, expr: Any) -> list[str]:
        return _names(await repo.find(Query(Place).where(expr)))

    async def test_geometries_round_trip_as_geojson(self, backend):
        repo = await self._stored(backend)
        found = {p.name: p.location for p in await repo.find(Query(Place))}
        assert found == {p.name: p.location for p in _places()}

    async def test_sync_creates_the_2dsphere_index(self, backend):
        repo = backend.repository(Place)
        report = await repo.sync()
        assert "location_2dsphere" in report.created
        assert [i.keys for i in model_indexes(Place)] == [(("location", "2dsphere"),)]

    async def test_geo_within_a_polygon_holds_what_lies_wholly_inside(self, backend, geo_missing):
        _skip_unless(geo_missing, "$geoWithin")
        repo = await self._stored(backend)
        found = await self._find(
            repo, Place.location.geo_within(Polygon.from_box(13.3, 52.5, 13.5, 52.6))
        )
        assert sorted(found) == ["berlin", "district", "mitte"]

    async def test_geo_within_a_multipolygon_holds_what_lies_in_one_part(
        self, backend, geo_missing
    ):
        _skip_unless(geo_missing, "$geoWithin")
        repo = await self._stored(backend)
        parts = MultiPolygon(
            [
                Polygon.from_box(13.3, 52.5, 13.5, 52.6).coordinates,
                Polygon.from_box(2, 48, 3, 49).coordinates,
            ]
        )
        found = await self._find(repo, Place.location.geo_within(parts))
        assert sorted(found) == ["berlin", "district", "mitte", "paris"]

    async def test_geo_intersects_finds_shapes_sharing_a_point(self, backend, geo_missing):
        _skip_unless(geo_missing, "$geoIntersects")
        repo = await self._stored(backend)
        crossing = LineString([(13.2, 52.40), (13.40, 52.535)])  # crosses the road and the district
        assert sorted(await self._find(repo, Place.location.geo_intersects(crossing))) == [
            "district",
            "road",
        ]
        inside = await self._find(repo, Place.location.geo_intersects(Point(13.42, 52.52)))
        assert inside == ["district"]

    async def test_geo_within_sphere_takes_metres(self, backend, geo_missing):
        _skip_unless(geo_missing, "$centerSphere")
        repo = await self._stored(backend)
        found = await self._find(repo, Place.location.geo_within_sphere(BERLIN, 2_000))
        assert sorted(found) == ["berlin", "mitte"]
        wide = await self._find(repo, Place.location.geo_within_sphere(BERLIN, 30_000))
        assert sorted(wide) == ["berlin", "district", "mitte", "potsdam", "road"]

    async def test_geo_within_box_holds_points_in_the_rectangle(self, backend, geo_missing):
        _skip_unless(geo_missing, "$box")
        repo = await self._stored(backend)
        found = await self._find(
            repo,
            Place.location.geo_within_box((13.0, 52.3), (13.5, 52.6)) & (Place.location.exists()),
        )
        assert sorted(n for n in found if n not in ("district", "road")) == [
            "berlin",
            "mitte",
            "potsdam",
        ]

    async def test_geo_within_a_flat_polygon_holds_points_only(self, backend, geo_missing):
        _skip_unless(geo_missing, "$polygon")
        repo = await self._stored(backend)
        triangle = FlatPolygon(
            [(13.0, 52.3), (13.6, 52.3), (13.6, 52.7)]
        )  # south-east of a diagonal
        found = await self._find(repo, Place.location.geo_within(triangle))
        assert sorted(found) == ["berlin", "mitte"]  # potsdam lies west of the diagonal

    async def test_geo_within_a_flat_circle_takes_degrees_and_holds_points_only(
        self, backend, geo_missing
    ):
        _skip_unless(geo_missing, "$center")
        repo = await self._stored(backend)
        found = await self._find(repo, Place.location.geo_within(FlatCircle(BERLIN, 0.02)))
        assert sorted(found) == ["berlin", "mitte"]  # the district is not a point

    async def test_near_orders_by_distance_within_the_maximum(self, backend, geo_missing):
        _skip_unless(geo_missing, "$near")
        repo = await self._stored(backend)
        found = await self._find(repo, Place.location.near(POTSDAM, max_distance_m=40_000))
        assert found[:2] == ["potsdam", "road"]
        assert sorted(found[2:]) == ["berlin", "district", "mitte"]
        assert found.index("district") < found.index("berlin")  # its edge is nearer than its inside
        assert "paris" not in found

    async def test_near_honours_the_minimum_distance(self, backend, geo_missing):
        _skip_unless(geo_missing, "$near", "$minDistance")
        repo = await self._stored(backend)
        found = await self._find(
            repo, Place.location.near(BERLIN, min_distance_m=1_000, max_distance_m=30_000)
        )
        assert found == ["mitte", "road", "potsdam"]

    async def test_near_without_limits_lists_every_place_nearest_first(self, backend, geo_missing):
        _skip_unless(geo_missing, "$near")
        repo = await self._stored(backend)
        found = await self._find(repo, Place.location.near(PARIS))
        assert found[0] == "paris"
        assert found[-1] in ("district", "mitte")

    async def test_near_pages_in_distance_order_and_combines_with_other_conditions(
        self, backend, geo_missing
    ):
        _skip_unless(geo_missing, "$near")
        repo = await self._stored(backend)
        query = Query(Place).where(Place.location.near(PARIS), Place.name != "paris")
        assert _names(await repo.find(query.page(1, 2))) == ["road", "potsdam"]  # 850 and 852 km

    async def test_counting_with_near_counts_what_finding_finds(self, backend, geo_missing):
        _skip_unless(geo_missing, "$geoNear")
        repo = await self._stored(backend)
        near = Place.location.near(BERLIN, max_distance_m=2_000)
        assert await repo.count(near) == 3  # berlin, mitte, and the district around them
        assert await repo.count(near & (Place.name != "berlin")) == 2
        ring = Place.location.near(BERLIN, min_distance_m=1_000, max_distance_m=2_000)
        assert await repo.count(ring) == 1

    async def test_misused_near_is_refused_when_the_query_is_built(self):
        near = Place.location.near(BERLIN, max_distance_m=1_000)
        with pytest.raises(ValidationError, match="sort"):
            Query(Place).where(near).sort(Place.name)
        with pytest.raises(ValidationError, match="or"):
            near | (Place.name == "x")
        with pytest.raises(ValidationError, match="negated"):
            _ = ~near
        with pytest.raises(ValidationError, match="once"):
            Query(Place).where(near, Place.location.near(PARIS))
        with pytest.raises(ValidationError, match="GeoJSON"):
            Place.name.near(BERLIN)


# ------------------------------------------------------------------- HTTP
def build_geo_app(settings: Any) -> Any:
    """An app serving ``/places`` with writes, on the store of ``settings``."""
    service = Service(RootContainer.from_settings(settings), [Place])
    return create_app(service, [Resource(Place, methods={"POST", "PUT", "PATCH", "DELETE"})])


def _where(document: dict[str, Any]) -> dict[str, str]:
    return {"where": json.dumps(document)}


def _problem(response: Any, code: str = "invalid_query") -> list[dict[str, str]]:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == code or any(e["code"] == code for e in body.get("errors", [])), body
    return body.get("errors", [])


class GeoRestContract:
    pytestmark = pytest.mark.anyio

    async def _stored(self, client: Any) -> None:
        for place in _places():
            response = await client.post(
                "/places", json={"name": place.name, "location": place.location.to_geojson()}
            )
            assert response.status_code == 201, response.text

    async def _names(self, client: Any, **params: Any) -> list[str]:
        response = await client.get("/places", params=params)
        assert response.status_code == 200, response.text
        return [item["name"] for item in response.json()["_items"]]

    async def test_geojson_is_written_and_read_as_sent(self, client):
        sent = {
            "type": "Polygon",
            "coordinates": [[[13.0, 52.0], [14.0, 52.0], [14.0, 53.0], [13.0, 52.0]]],
        }
        created = await client.post("/places", json={"name": "area", "location": sent})
        assert created.status_code == 201, created.text
        read = await client.get(f"/places/{created.json()['id']}")
        assert read.json()["location"] == sent

    async def test_a_merge_patch_replaces_a_geometry(self, client):
        created = await client.post("/places", json={"name": "p", "location": BERLIN.to_geojson()})
        key = created.json()["id"]
        moved = await client.patch(f"/places/{key}", json={"location": PARIS.to_geojson()})
        assert moved.status_code == 200, moved.text
        assert moved.json()["location"] == PARIS.to_geojson()
        area = DISTRICT.to_geojson()
        reshaped = await client.patch(f"/places/{key}", json={"location": area})
        assert reshaped.json()["location"] == area

    async def test_a_bad_geometry_is_a_400_naming_each_problem(self, client):
        response = await client.post(
            "/places",
            json={
                "name": "bad",
                "location": {
                    "type": "Polygon",
                    "coordinates": [[[13, 52], [14, 52], [200, 53], [13, 53]]],
                },
            },
        )
        assert response.status_code == 400, response.text
        fields = {(e["field"], e["code"]) for e in response.json()["errors"]}
        assert ("location.coordinates[0][2][0]", "invalid_longitude") in fields
        unknown = await client.post(
            "/places", json={"name": "x", "location": {"type": "Circle", "coordinates": [1, 2]}}
        )
        assert ("location.type", "invalid_geometry_type") in {
            (e["field"], e["code"]) for e in unknown.json()["errors"]
        }

    async def test_where_geo_within_geometry_and_box(self, client, geo_missing):
        _skip_unless(geo_missing, "$geoWithin", "$box")
        await self._stored(client)
        polygon = Polygon.from_box(13.3, 52.5, 13.5, 52.6).to_geojson()
        found = await self._names(
            client, **_where({"location": {"$geoWithin": {"$geometry": polygon}}})
        )
        assert sorted(found) == ["berlin", "district", "mitte"]
        boxed = await self._names(
            client,
            **_where(
                {
                    "location": {"$geoWithin": {"$box": [[13.0, 52.3], [13.5, 52.6]]}},
                    "name": {"$in": ["berlin", "potsdam", "paris"]},
                }
            ),
        )
        assert sorted(boxed) == ["berlin", "potsdam"]

    async def test_where_legacy_flat_polygon_and_center(self, client, geo_missing):
        _skip_unless(geo_missing, "$polygon", "$center")
        await self._stored(client)
        triangle = [[13.0, 52.3], [13.6, 52.3], [13.6, 52.7]]
        found = await self._names(
            client, **_where({"location": {"$geoWithin": {"$polygon": triangle}}})
        )
        assert sorted(found) == ["berlin", "mitte"]
        circle = {"$center": [[13.405, 52.52], 0.02]}
        assert sorted(
            await self._names(client, **_where({"location": {"$geoWithin": circle}}))
        ) == [
            "berlin",
            "mitte",
        ]

    async def test_where_geo_intersects(self, client, geo_missing):
        _skip_unless(geo_missing, "$geoIntersects")
        await self._stored(client)
        found = await self._names(
            client,
            **_where(
                {
                    "location": {
                        "$geoIntersects": {
                            "$geometry": {"type": "Point", "coordinates": [13.42, 52.52]}
                        }
                    }
                }
            ),
        )
        assert found == ["district"]

    async def test_where_near_lists_nearest_first_and_counts(self, client, geo_missing):
        _skip_unless(geo_missing, "$near", "$geoNear")
        await self._stored(client)
        for operator in ("$near", "$nearSphere"):
            where = {
                "location": {operator: {"$geometry": BERLIN.to_geojson(), "$maxDistance": 2000}},
                "name": {"$ne": "district"},
            }
            response = await client.get("/places", params=_where(where))
            assert response.status_code == 200, response.text
            body = response.json()
            assert [i["name"] for i in body["_items"]] == ["berlin", "mitte"]
            assert body["_meta"]["total"] == 2

    async def test_where_center_sphere_takes_radians(self, client, geo_missing):
        _skip_unless(geo_missing, "$centerSphere")
        await self._stored(client)
        where = {
            "location": {"$geoWithin": {"$centerSphere": [[13.405, 52.52], 2000 / EARTH_RADIUS_M]}}
        }
        assert sorted(await self._names(client, **_where(where))) == ["berlin", "mitte"]

    @pytest.mark.parametrize(
        ("where", "field"),
        [
            (
                {"name": {"$near": {"$geometry": {"type": "Point", "coordinates": [0, 0]}}}},
                "where.name",
            ),
            (
                {
                    "location": {
                        "$geoWithin": {"$geometry": {"type": "Point", "coordinates": [0, 0]}}
                    }
                },
                "where.location",
            ),
            (
                {
                    "location": {
                        "$geoWithin": {
                            "$geometry": {
                                "type": "Polygon",
                                "coordinates": [[[0, 0], [1, 0], [1, 1]]],
                            }
                        }
                    }
                },
                "where.location",
            ),
            (
                {
                    "location": {
                        "$geoWithin": {
                            "$geometry": {
                                "type": "Polygon",
                                "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]],
                            }
                        }
                    }
                },
                "where.location",
            ),
            ({"location": {"$geoWithin": {"$box": [[0, 0]]}}}, "where.location"),
            ({"location": {"$geoWithin": {"$centerSphere": [[0, 95], 0.1]}}}, "where.location"),
            ({"location": {"$geoWithin": {"$where": "1"}}}, "where.location"),
            (
                {
                    "location": {
                        "$near": {
                            "$geometry": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}
                        }
                    }
                },
                "where.location",
            ),
            (
                {
                    "location": {
                        "$near": {
                            "$geometry": {"type": "Point", "coordinates": [0, 0]},
                            "$maxDistance": -1,
                        }
                    }
                },
                "where.location",
            ),
            ({"location": {"$near": [0, 0]}}, "where.location"),
            (
                {
                    "location": {
                        "$geoIntersects": {"$geometry": {"type": "Point", "coordinates": [181, 0]}}
                    }
                },
                "where.location",
            ),
        ],
        ids=[
            "near-on-a-string",
            "within-a-point",
            "open-ring",
            "ring-of-three",
            "box-of-one-corner",
            "latitude-95",
            "unknown-shape",
            "near-a-line",
            "negative-distance",
            "legacy-near",
            "longitude-181",
        ],
    )
    async def test_misused_geo_operators_are_400_naming_the_field(self, client, where, field):
        response = await client.get("/places", params=_where(where))
        assert response.status_code == 400, response.text
        assert response.json()["code"] in ("invalid_query", "invalid_value", "invalid_geometry")
        assert field in {e["field"] for e in response.json()["errors"]}

    @pytest.mark.parametrize(
        "params",
        [
            {"sort": "name", **_where({"location": {"$near": {"$geometry": BERLIN.to_geojson()}}})},
            _where(
                {
                    "$or": [
                        {"location": {"$near": {"$geometry": BERLIN.to_geojson()}}},
                        {"name": "x"},
                    ]
                }
            ),
            _where({"$nor": [{"location": {"$nearSphere": {"$geometry": BERLIN.to_geojson()}}}]}),
            _where({"location": {"$not": {"$near": {"$geometry": BERLIN.to_geojson()}}}}),
        ],
        ids=["with-sort", "in-or", "in-nor", "negated"],
    )
    async def test_near_where_mongodb_refuses_it_is_a_400(self, client, params):
        response = await client.get("/places", params=params)
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "invalid_query"
        assert any("$near" in e["message"] for e in response.json()["errors"])

    async def test_openapi_describes_the_geojson_field(self, client):
        from openapi_spec_validator import validate

        document = (await client.get("/schema/openapi.json")).json()
        validate(document)
        assert "GeoJSON" in json.dumps(document["components"])
        where = next(
            p for p in document["paths"]["/places"]["get"]["parameters"] if p["name"] == "where"
        )
        assert "$geoWithin" in where["description"]
        assert "$near" in where["description"]
