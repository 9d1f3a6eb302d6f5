"""The app freezes what start-up built (gc.freeze) and unfreezes it at shutdown."""

import gc

import pytest
from hk_testing.rest_contract import build_app, contract_settings
from litestar.testing import AsyncTestClient

pytestmark = pytest.mark.anyio


async def test_start_up_objects_are_frozen_while_the_app_runs():
    before = gc.get_freeze_count()
    app = build_app(contract_settings())
    async with AsyncTestClient(app) as client:
        assert gc.get_freeze_count() > before
        assert (await client.get("/tasks")).status_code == 200
        created = await client.post("/tasks", json={"title": "after the freeze"})
        assert created.status_code == 201, created.text
    assert gc.get_freeze_count() == 0
