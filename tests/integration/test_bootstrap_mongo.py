"""With mongo.uri configured, a service runs on MongoDB: schema synced, client closed."""

import uuid

import pytest
from hk_testing.models import Task

from hexkernel.adapters.mongo import connect
from hexkernel.interfaces.bootstrap import RootContainer, Service
from hexkernel.interfaces.config import load_settings

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


async def test_a_service_configured_by_environment_runs_on_mongodb(
    mongo_uri, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    database = f"hk_boot_{uuid.uuid4().hex}"
    settings = load_settings(
        environ={"HEXKERNEL_MONGO__URI": mongo_uri, "HEXKERNEL_MONGO__DATABASE": database},
    )
    service = Service(RootContainer.from_settings(settings), [Task])
    assert service.storage == "mongo"
    reports = await service.startup()
    try:
        assert reports["Task"].schema_applied
        task = await Task(title="Stored in MongoDB").save()
    finally:
        await service.shutdown()
    client = connect(mongo_uri)
    try:
        stored = await client[database]["tasks"].find_one({"_id": task.id})
        assert stored is not None
        assert stored["title"] == "Stored in MongoDB"
        await client.drop_database(database)
    finally:
        await client.close()
