"""An outbox-relay process for the crash tests.

Usage: ``python -m hk_testing.outbox_relay_process MONGO_URI DATABASE REDIS_URL PREFIX OWNER``.

It relays the MongoDB outbox of ``DATABASE`` to the Redis broker (stream keys
under ``PREFIX``) until the outbox holds no unsent message, then prints one JSON
line (how many messages it published) and exits. With ``HK_RELAY_CRASH=1`` in
its environment it kills itself with SIGKILL right after publishing its first
batch, before marking it sent: the crash point the relay's ``after_publish``
hook exposes. ``HK_RELAY_LEASE`` and ``HK_RELAY_BATCH`` set the lease (seconds)
and the batch size.
"""

import asyncio
import json
import os
import signal
import sys
from collections.abc import Sequence

from hexkernel.adapters.mongo import connect
from hexkernel.adapters.mongo.outbox import MongoOutboxStore
from hexkernel.adapters.redis import RedisBroker
from hexkernel.application import OutboxRelay
from hexkernel.core.ports.outbox import OutboxMessage


async def _die(published: Sequence[OutboxMessage]) -> None:
    print(json.dumps({"published_before_crash": len(published)}), flush=True)  # noqa: T201
    os.kill(os.getpid(), signal.SIGKILL)


async def relay(uri: str, database: str, redis_url: str, prefix: str, owner: str) -> int:
    client = connect(uri)
    broker = RedisBroker.from_url(redis_url, prefix=prefix)
    try:
        store = MongoOutboxStore(client[database])
        crash = os.environ.get("HK_RELAY_CRASH") == "1"
        worker = OutboxRelay(
            store,
            broker,
            owner=owner,
            batch_size=int(os.environ.get("HK_RELAY_BATCH", "5")),
            lease=float(os.environ.get("HK_RELAY_LEASE", "1.0")),
            after_publish=_die if crash else None,
        )
        published = 0
        for _ in range(600):
            published += await worker.drain()
            if await store.unsent() == 0:
                return published
            await asyncio.sleep(0.1)  # claims of a dead relay: wait for their leases to end
        raise SystemExit("the outbox did not empty within a minute")
    finally:
        await broker.close()
        await client.close()


def main() -> None:
    uri, database, redis_url, prefix, owner = sys.argv[1:6]
    published = asyncio.run(relay(uri, database, redis_url, prefix, owner))
    print(json.dumps({"published": published}), flush=True)  # noqa: T201 - the parent reads it


if __name__ == "__main__":
    main()
