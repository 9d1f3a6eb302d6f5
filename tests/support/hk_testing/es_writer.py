"""A writer process for the event-store tests: appends to its own stream and to a shared one.

Usage: ``python -m hk_testing.es_writer URI DATABASE NAME COUNT``. It appends
``COUNT`` deposits to stream ``acc_<NAME>`` and tries as many times to append
to ``acc_shared`` at the version it last read (losing races is expected), then
prints one JSON line: the number of shared appends it won.
"""

import asyncio
import json
import sys
from decimal import Decimal

from hexkernel.adapters.mongo import connect
from hexkernel.adapters.mongo.event_store import MongoEventStore
from hexkernel.core.errors import ConcurrencyConflict
from hk_testing.es_models import Deposited


async def write(uri: str, database: str, name: str, count: int) -> int:
    client = connect(uri)
    try:
        store = MongoEventStore(client[database])
        own, won = f"acc_{name}", 0
        for n in range(count):
            event = Deposited(account_id=own, amount=Decimal(n), memo=name)
            await store.append(own, [event], expected_version=n)
            version = await store.stream_version("acc_shared")
            shared = Deposited(account_id="acc_shared", amount=Decimal(n), memo=name)
            try:
                await store.append("acc_shared", [shared], expected_version=version)
            except ConcurrencyConflict:
                continue
            won += 1
        return won
    finally:
        await client.close()


def main() -> None:
    uri, database, name, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    won = asyncio.run(write(uri, database, name, count))
    print(json.dumps({"won": won}), flush=True)  # noqa: T201 - the parent reads it


if __name__ == "__main__":
    main()
