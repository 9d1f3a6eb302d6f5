"""GeoJSON fields and the geo operators of ``where`` over real HTTP against MongoDB.

Operators the test server lacks skip, saying which and why (see
:func:`hk_testing.geo_contracts.mongo_geo_missing`); on MongoDB every test runs.
"""

import uuid

import pytest

pytest.register_assert_rewrite("hk_testing.geo_contracts")

from hk_testing import geo_contracts  # noqa: E402 - imports follow the rewrite hook
from hk_testing.rest_contract import contract_settings  # noqa: E402
from hk_testing.servers import serve  # noqa: E402

from hexkernel.adapters.mongo import connect  # noqa: E402
from hexkernel.interfaces.config import Secret  # noqa: E402

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


@pytest.fixture
async def client(mongo_uri):
    database = f"hk_geo_{uuid.uuid4().hex}"
    app = geo_contracts.build_geo_app(contract_settings(uri=Secret(mongo_uri), database=database))
    try:
        async with serve(app) as http:
            yield http
    finally:
        mongo = connect(mongo_uri)
        try:
            await mongo.drop_database(database)
        finally:
            await mongo.close()


@pytest.fixture(scope="session")
def geo_missing(mongo_uri):
    return geo_contracts.mongo_geo_missing(mongo_uri)


class TestGeoApi(geo_contracts.GeoRestContract):
    pass
