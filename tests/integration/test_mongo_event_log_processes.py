"""Writer processes append concurrently while a subscriber follows the global log.

Each process has its own client, so the appends race at the server as they
would between replicas of a service. The subscriber must see every committed
event exactly once, at consecutive positions, in the order of the final log;
the contended stream must hold each winning append once, versions 1..n.
"""

import asyncio
import json
import os
import sys
import uuid
from pathlib import Path

import pytest
from hk_testing import es_models  # noqa: F401 - registers the event classes read back

from hexkernel.adapters.mongo import connect
from hexkernel.adapters.mongo.event_store import MongoEventStore

pytestmark = [pytest.mark.anyio, pytest.mark.integration, pytest.mark.slow]

WRITERS = 4
COUNT = 15
SUPPORT = Path(__file__).parents[1] / "support"


async def test_a_subscriber_sees_every_event_of_concurrent_processes_once_in_order(mongo_uri):
    database = f"hk_es_procs_{uuid.uuid4().hex}"
    client = connect(mongo_uri)
    store = MongoEventStore(client[database])
    await store.ensure_indexes()
    env = {**os.environ, "PYTHONPATH": str(SUPPORT)}
    seen = []
    processes: list[asyncio.subprocess.Process] = []
    try:
        processes += [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "hk_testing.es_writer",
                mongo_uri,
                database,
                f"w{n}",
                str(COUNT),
                stdout=asyncio.subprocess.PIPE,
                env=env,
            )
            for n in range(WRITERS)
        ]
        finished = asyncio.gather(*(p.communicate() for p in processes))
        position = 0
        while True:
            done = finished.done()
            page = await store.read_all(after_position=position, limit=10)
            for stored in page:
                assert stored.position == position + 1
                position = stored.position
                seen.append(stored)
            if done and not page:
                break
            await asyncio.sleep(0.01)
        outputs = await finished
        assert [p.returncode for p in processes] == [0] * WRITERS
        won = sum(json.loads(out)["won"] for out, _ in outputs)

        final = await store.read_all(limit=10_000)
        assert seen == final
        assert len({s.event_id for s in final}) == len(final) == WRITERS * COUNT + won
        shared = await store.read_stream("acc_shared")
        assert [s.version for s in shared] == list(range(1, won + 1))
        assert won >= 1
        for n in range(WRITERS):
            mine = await store.read_stream(f"acc_w{n}")
            assert [s.event.amount for s in mine] == list(range(COUNT))
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
                await process.wait()
        await client.drop_database(database)
        await client.close()
