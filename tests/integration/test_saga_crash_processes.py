"""A saga coordinator process is killed (SIGKILL) mid-saga; a new process resumes the saga.

The worker (``hk_testing.saga_worker``) applies each step's effect to a ledger
document in MongoDB once per idempotency key, then hangs where the test asks;
the test kills it there, so the effect happened but the saga's state does not
say so. A second process must finish the saga (running the interrupted step
again), and the ledger must show every effect exactly once.
"""

import asyncio
import json
import os
import signal
import sys
import uuid
from pathlib import Path

import pytest

from hexkernel.adapters.mongo import connect
from hexkernel.adapters.mongo.saga_store import MongoSagaStore
from hexkernel.core.sagas import SagaStatus, StepStatus

pytestmark = [pytest.mark.anyio, pytest.mark.integration, pytest.mark.slow]

SUPPORT = Path(__file__).parents[1] / "support"


async def worker(uri: str, database: str, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hk_testing.saga_worker",
        uri,
        database,
        *args,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(SUPPORT)},
    )


async def kill_when_hung(process: asyncio.subprocess.Process, label: str) -> None:
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 60)
    assert line.decode().strip() == f"HANG {label}"
    process.send_signal(signal.SIGKILL)
    assert await process.wait() == -signal.SIGKILL


async def resume(uri: str, database: str, saga_id: str) -> dict:
    process = await worker(uri, database, "resume", saga_id)
    out, _ = await asyncio.wait_for(process.communicate(), 90)
    assert process.returncode == 0
    return json.loads(out)


@pytest.fixture
async def database(mongo_uri):
    name = f"hk_saga_procs_{uuid.uuid4().hex}"
    client = connect(mongo_uri)
    try:
        yield client[name]
    finally:
        await client.drop_database(name)
        await client.close()


async def executions(database, saga_id: str) -> list[str]:
    found = await database["executions"].find({"saga": saga_id}).to_list()
    return sorted(e["label"] for e in found)


async def test_a_saga_killed_during_a_step_is_completed_by_a_new_process(mongo_uri, database):
    saga_id = f"sag_{uuid.uuid4().hex}"
    first = await worker(mongo_uri, database.name, "start", saga_id, "--hang-at", "credit")
    await kill_when_hung(first, "credit")

    stored = await MongoSagaStore(database).get(saga_id)
    assert stored.status is SagaStatus.RUNNING
    assert stored.steps[1].status is StepStatus.RUNNING  # the state does not know it happened

    outcome = await resume(mongo_uri, database.name, saga_id)
    assert outcome["status"] == "completed"
    assert outcome["owner"] != stored.owner
    assert outcome["steps"] == {
        "debit": ["done", 1, 0],
        "credit": ["done", 2, 0],
        "notify": ["done", 1, 0],
    }
    ledger = await database["ledgers"].find_one({"_id": saga_id})
    assert (ledger["a"], ledger["b"], ledger["notes"]) == (-20, 20, 1)
    assert ledger["applied"] == [f"{saga_id}:debit", f"{saga_id}:credit", f"{saga_id}:notify"]
    # The interrupted step ran twice; its effect happened once.
    assert await executions(database, saga_id) == ["credit", "credit", "debit", "notify"]


async def test_a_saga_killed_during_a_compensation_is_compensated_by_a_new_process(
    mongo_uri, database
):
    saga_id = f"sag_{uuid.uuid4().hex}"
    first = await worker(
        mongo_uri,
        database.name,
        "start",
        saga_id,
        "--fail-at",
        "notify",
        "--hang-at",
        "credit:undo",
    )
    await kill_when_hung(first, "credit:undo")

    stored = await MongoSagaStore(database).get(saga_id)
    assert stored.status is SagaStatus.COMPENSATING
    assert stored.failed_step == "notify"

    outcome = await resume(mongo_uri, database.name, saga_id)
    assert outcome["status"] == "compensated"
    assert outcome["steps"] == {
        "debit": ["compensated", 1, 1],
        "credit": ["compensated", 1, 2],
        "notify": ["failed", 1, 0],
    }
    ledger = await database["ledgers"].find_one({"_id": saga_id})
    assert (ledger["a"], ledger["b"], ledger["notes"]) == (0, 0, 0)
    assert ledger["applied"] == [
        f"{saga_id}:debit",
        f"{saga_id}:credit",
        f"{saga_id}:credit:compensation",
        f"{saga_id}:debit:compensation",
    ]
    assert await executions(database, saga_id) == [
        "credit",
        "credit:undo",
        "credit:undo",
        "debit",
        "debit:undo",
        "notify",
    ]


async def test_a_saga_killed_in_its_last_step_completes_without_redoing_the_others(
    mongo_uri, database
):
    # Killed in the last step: the resumed process must not redo the earlier ones.
    saga_id = f"sag_{uuid.uuid4().hex}"
    first = await worker(mongo_uri, database.name, "start", saga_id, "--hang-at", "notify")
    await kill_when_hung(first, "notify")
    outcome = await resume(mongo_uri, database.name, saga_id)
    assert outcome["status"] == "completed"
    ledger = await database["ledgers"].find_one({"_id": saga_id})
    assert (ledger["a"], ledger["b"], ledger["notes"]) == (-20, 20, 1)
    assert await executions(database, saga_id) == ["credit", "debit", "notify", "notify"]


async def test_two_processes_resuming_the_same_saga_advance_it_once(mongo_uri, database):
    saga_id = f"sag_{uuid.uuid4().hex}"
    first = await worker(mongo_uri, database.name, "start", saga_id, "--hang-at", "debit")
    await kill_when_hung(first, "debit")

    outcomes = await asyncio.gather(
        resume(mongo_uri, database.name, saga_id), resume(mongo_uri, database.name, saga_id)
    )
    assert [o["status"] for o in outcomes] == ["completed", "completed"]
    ledger = await database["ledgers"].find_one({"_id": saga_id})
    assert (ledger["a"], ledger["b"], ledger["notes"]) == (-20, 20, 1)
    # Only the killed step ran twice: the losing process never ran a step the other claimed.
    assert await executions(database, saga_id) == ["credit", "debit", "debit", "notify"]
    pids = {e["pid"] for e in await database["executions"].find({"saga": saga_id}).to_list()}
    assert first.pid in pids
