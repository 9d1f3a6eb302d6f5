"""The MongoDB server goes away mid-run: calls fail fast with StoreUnavailable, then recover.

The session's server is stopped under a live repository, every kind of call
must raise :class:`~hexkernel.core.errors.StoreUnavailable` (never a pymongo
exception) within a few seconds, and once the server is started again the
same repository object must work. Only the mongoeco server, a process of
this session, can be stopped and started; it keeps its data in memory, so it
comes back empty.
"""

import contextlib
import os
import time
import uuid
from typing import TYPE_CHECKING, Any

import anyio
import pytest
from pymongo.errors import PyMongoError

from hexkernel.adapters.mongo import MongoRepository, connect
from hexkernel.core import Model
from hexkernel.core.errors import StoreUnavailable
from hexkernel.core.query import Query

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

SELECTION_TIMEOUT_MS = 1000
FAIL_WITHIN = 5.0
"""Seconds a call may take to give up while the server is down."""


class Memo(Model, prefix="mem", collection="memos"):
    text: str = ""
    stars: int = 0


def _on_ci() -> bool:
    # The same test as the MongoDB plugin's: CI set to "true" or "1".
    return os.environ.get("CI", "").strip().lower() in {"true", "1"}


def _require_a_server_this_session_can_stop(kind: str) -> None:
    if kind == "mongoeco":
        return
    source = {"uri": "MONGODB_URI", "testcontainers": "a testcontainers container"}.get(kind, kind)
    reason = (
        "the outage test stops and restarts the MongoDB server, which only the session's own "
        f"mongoeco process allows; this session's server comes from {source}"
    )
    if _on_ci():
        pytest.fail(
            f"{reason}. On CI the outage must be tested: run this test where the plugin "
            "falls back to mongoeco (MONGODB_URI unset, no Docker engine).",
            pytrace=False,
        )
    pytest.skip(reason)


async def test_calls_raise_store_unavailable_while_the_server_is_down_then_work_again(
    mongo_server,
):
    _require_a_server_this_session_can_stop(mongo_server.kind)
    client = connect(mongo_server.uri, serverSelectionTimeoutMS=SELECTION_TIMEOUT_MS)
    database = f"hk_outage_{uuid.uuid4().hex}"
    memos = MongoRepository(Memo, client[database])
    stopped = False
    try:
        kept = await memos.insert(Memo(text="before the outage"))
        assert (await memos.get(kept.id)).text == "before the outage"

        await anyio.to_thread.run_sync(mongo_server.stop)
        stopped = True

        lost = Memo(text="written during the outage")
        calls: dict[str, Callable[[], Awaitable[Any]]] = {
            "get": lambda: memos.get(kept.id),
            "find": lambda: memos.find(Query(Memo).where(Memo.stars >= 0).sort(Memo.text)),
            "count": memos.count,
            "insert": lambda: memos.insert(lost),
            "update": lambda: memos.update(None, [Memo.stars.inc(1)]),
            "delete": lambda: memos.delete(kept.id),
        }
        for name, call in calls.items():
            started = time.monotonic()
            with pytest.raises(StoreUnavailable) as caught:
                await call()
            took = time.monotonic() - started
            assert took < FAIL_WITHIN, f"{name} took {took:.1f} s to give up"
            assert isinstance(caught.value.__cause__, PyMongoError), name
        assert lost.version == 0, "a failed insert leaves the object as it was"
        assert lost.inserted is None

        await anyio.to_thread.run_sync(mongo_server.start)
        stopped = False

        # mongoeco keeps its data in memory: the restarted server is empty.
        fresh = await memos.insert(Memo(text="after the outage", stars=2))
        assert (await memos.get(fresh.id)).to_dict() == fresh.to_dict()
        assert await memos.count() == 1
        assert [m.id for m in await memos.find(Query(Memo))] == [fresh.id]
    finally:
        if stopped:  # leave the server running for the rest of the session
            await anyio.to_thread.run_sync(mongo_server.start)
        with contextlib.suppress(PyMongoError):
            await client.drop_database(database)
        await client.close()
