"""A saga coordinator process for the crash tests: starts a transfer saga, or resumes sagas.

Usage::

    python -m hk_testing.saga_worker URI DATABASE start SAGA_ID [--fail-at STEP] [--hang-at LABEL]
    python -m hk_testing.saga_worker URI DATABASE resume SAGA_ID

The ``tests.Transfer`` saga has three steps, ``debit``, ``credit`` and
``notify``; each action and compensation changes the saga's ledger document
(``ledgers``, ``_id`` = the saga id) once per idempotency key: the update
matches only while the key is not in ``applied``, so running it again changes
nothing. Every run, repeated or not, is also logged in ``executions``.

``--fail-at STEP`` makes that action fail (not transiently), so the saga
compensates. ``--hang-at LABEL`` (a step name, or ``STEP:undo`` for a
compensation) makes that callable apply its effect, print ``HANG LABEL`` and
wait forever: the test kills the process there. ``start`` prints the final
state as JSON; ``resume`` advances due sagas until SAGA_ID is finished, then
prints it.
"""

import argparse
import asyncio
import json
import os
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from hexkernel.adapters.mongo import connect
from hexkernel.adapters.mongo.saga_store import MongoSagaStore
from hexkernel.application.sagas import SagaCoordinator
from hexkernel.core.errors import DomainError
from hexkernel.core.sagas import RetryPolicy, SagaDefinition, SagaStep, StepContext

# Effects of each callable on the ledger: (field, change).
EFFECTS = {
    "debit": ("a", -20),
    "debit:undo": ("a", 20),
    "credit": ("b", 20),
    "credit:undo": ("b", -20),
    "notify": ("notes", 1),
}
POLICY = RetryPolicy(attempts=3, backoff=0.01, max_backoff=0.05)
LEASE = 1.0


def transfer(
    database: AsyncDatabase[Any], fail_at: str | None, hang_at: str | None
) -> SagaDefinition:
    async def run(ctx: StepContext) -> dict[str, Any]:
        label = f"{ctx.step}:undo" if ctx.compensating else ctx.step
        await database["executions"].insert_one(
            {"saga": ctx.saga_id, "label": label, "key": ctx.idempotency_key, "pid": os.getpid()}
        )
        if label == fail_at:
            raise DomainError(f"{label} refused")
        field, change = EFFECTS[label]
        # The effect: applied once per idempotency key, however often this runs.
        await database["ledgers"].update_one(
            {"_id": ctx.saga_id, "applied": {"$ne": ctx.idempotency_key}},
            {"$inc": {field: change}, "$push": {"applied": ctx.idempotency_key}},
        )
        if label == hang_at:
            print(f"HANG {label}", flush=True)  # noqa: T201 - the test waits for it
            await asyncio.Event().wait()
        return {"label": label}

    return SagaDefinition(
        "tests.Transfer",
        [
            SagaStep(
                "debit", action=run, compensation=run, retry=POLICY, compensation_retry=POLICY
            ),
            SagaStep(
                "credit", action=run, compensation=run, retry=POLICY, compensation_retry=POLICY
            ),
            SagaStep("notify", action=run, retry=POLICY),
        ],
    )


async def main(arguments: argparse.Namespace) -> dict[str, Any]:
    client = connect(arguments.uri)
    try:
        database = client[arguments.database]
        definition = transfer(database, arguments.fail_at, arguments.hang_at)
        sagas = SagaCoordinator(
            MongoSagaStore(database), [definition], lease=LEASE, owner=f"worker-{os.getpid()}"
        )
        if arguments.mode == "start":
            await database["ledgers"].insert_one(
                {"_id": arguments.saga_id, "a": 0, "b": 0, "notes": 0, "applied": []}
            )
            state = await sagas.start(definition, {"amount": "20.00"}, saga_id=arguments.saga_id)
        else:
            async with asyncio.timeout(60):
                while not (state := await sagas.get(arguments.saga_id)).finished:
                    await sagas.resume_due()
                    await asyncio.sleep(0.1)
        return {
            "status": str(state.status),
            "owner": state.owner,
            "steps": {
                s.name: [str(s.status), s.attempts, s.compensation_attempts] for s in state.steps
            },
        }
    finally:
        await client.close()


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("uri")
    parser.add_argument("database")
    parser.add_argument("mode", choices=["start", "resume"])
    parser.add_argument("saga_id")
    parser.add_argument("--fail-at")
    parser.add_argument("--hang-at")
    return parser.parse_args()


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(parse()))), flush=True)  # noqa: T201 - the parent reads it
