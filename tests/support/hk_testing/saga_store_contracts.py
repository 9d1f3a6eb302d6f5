"""The contract of the ``SagaStore`` port, run against every store.

A test module provides a fixture ``saga_store`` (a fresh, empty store) and
subclasses :class:`SagaStoreContract` under a ``Test`` name.
"""

import asyncio
import datetime as dt
import uuid

import attrs
import pytest

from hexkernel.core.errors import ConcurrencyConflict, DuplicateKey, NotFound
from hexkernel.core.ports.saga_store import SagaStore
from hexkernel.core.sagas import SagaState, SagaStatus, StepRecord, StepStatus

__all__ = ("SagaStoreContract", "make_state")

# Whole milliseconds: MongoDB keeps no finer datetimes.
T0 = dt.datetime(2026, 1, 2, 3, 4, 5, 678_000, tzinfo=dt.UTC)


def make_state(**overrides) -> SagaState:
    values = {
        "id": f"sag_{uuid.uuid4().hex}",
        "type": "tests.Transfer",
        "data": {"amount": "20.00", "accounts": ["a", "b"], "nested": {"n": 1}},
        "steps": [StepRecord(name="debit"), StepRecord(name="credit")],
        "created_at": T0,
        "updated_at": T0,
        "wake_at": T0,
    }
    values.update(overrides)
    return SagaState(**values)


@pytest.mark.anyio
class SagaStoreContract:
    async def test_is_a_saga_store(self, saga_store):
        assert isinstance(saga_store, SagaStore)

    async def test_a_created_instance_reads_back_equal_at_version_1(self, saga_store):
        state = make_state()
        created = await saga_store.create(state)
        assert created.version == 1
        loaded = await saga_store.get(state.id)
        assert loaded == created
        assert loaded.data == state.data
        assert loaded.steps == state.steps
        assert loaded.created_at == T0
        assert loaded.created_at.tzinfo is not None

    async def test_every_field_of_a_step_survives_a_save(self, saga_store):
        created = await saga_store.create(make_state())
        created.status = SagaStatus.COMPENSATING
        created.step = 1
        created.failed_step = "credit"
        created.failure = created.error = "insufficient_credit"
        created.owner = "crd-1"
        created.steps[0] = StepRecord(
            name="debit",
            status=StepStatus.DONE,
            attempts=2,
            compensation_attempts=1,
            result={"reference": "r-1", "items": [1, 2]},
            error=None,
            started_at=T0,
            finished_at=T0 + dt.timedelta(seconds=1),
            deadline=T0 + dt.timedelta(minutes=1),
            early_reply={"result": {"ok": True}, "failure": None},
        )
        saved = await saga_store.save(created)
        assert saved.version == 2
        assert await saga_store.get(created.id) == saved
        assert saved.steps[0].result == {"reference": "r-1", "items": [1, 2]}
        assert saved.steps[0].early_reply == {"result": {"ok": True}, "failure": None}
        assert saved.status is SagaStatus.COMPENSATING
        assert saved.steps[0].status is StepStatus.DONE

    async def test_an_id_is_used_once(self, saga_store):
        state = make_state()
        await saga_store.create(state)
        with pytest.raises(DuplicateKey):
            await saga_store.create(make_state(id=state.id, type="tests.Other"))
        assert (await saga_store.get(state.id)).type == "tests.Transfer"

    async def test_a_save_at_a_stale_version_changes_nothing(self, saga_store):
        created = await saga_store.create(make_state())
        first = await saga_store.save(created)
        created.data = {"changed": True}
        with pytest.raises(ConcurrencyConflict) as caught:
            await saga_store.save(created)  # still version 1
        assert caught.value.expected == 1
        assert caught.value.current == 2
        assert await saga_store.get(created.id) == first

    async def test_of_concurrent_saves_at_one_version_exactly_one_wins(self, saga_store):
        created = await saga_store.create(make_state())

        async def advance(n: int) -> SagaState | None:
            copy = await saga_store.get(created.id)
            copy.step = n
            try:
                return await saga_store.save(attrs.evolve(copy, version=1))
            except ConcurrencyConflict:
                return None

        outcomes = await asyncio.gather(*(advance(n) for n in range(8)))
        winners = [o for o in outcomes if o is not None]
        assert len(winners) == 1
        stored = await saga_store.get(created.id)
        assert stored.version == 2
        assert stored.step == winners[0].step

    async def test_unknown_ids_are_not_found(self, saga_store):
        with pytest.raises(NotFound):
            await saga_store.get("sag_missing")
        with pytest.raises(NotFound):
            await saga_store.save(make_state(version=1))

    async def test_changing_a_loaded_state_does_not_change_the_stored_one(self, saga_store):
        created = await saga_store.create(make_state())
        loaded = await saga_store.get(created.id)
        loaded.data["amount"] = "99.00"
        loaded.steps[0].attempts = 7
        again = await saga_store.get(created.id)
        assert again.data["amount"] == "20.00"
        assert again.steps[0].attempts == 0

    async def test_find_filters_by_status_and_type_oldest_first(self, saga_store):
        kind = f"tests.Find{uuid.uuid4().hex[:6]}"
        made = []
        for n, status in enumerate(
            [SagaStatus.RUNNING, SagaStatus.COMPLETED, SagaStatus.FAILED, SagaStatus.RUNNING]
        ):
            state = make_state(
                type=kind, status=status, created_at=T0 + dt.timedelta(seconds=10 - n)
            )
            made.append(await saga_store.create(state))
        await saga_store.create(make_state(type="tests.Elsewhere"))
        running = await saga_store.find(status=SagaStatus.RUNNING, saga_type=kind)
        assert [s.id for s in running] == [made[3].id, made[0].id]
        several = await saga_store.find(
            status=[SagaStatus.COMPLETED, SagaStatus.FAILED], saga_type=kind
        )
        assert {s.id for s in several} == {made[1].id, made[2].id}
        assert [s.id for s in await saga_store.find(saga_type=kind, limit=2)] == [
            made[3].id,
            made[2].id,
        ]
        assert len(await saga_store.find(saga_type=kind)) == 4

    async def test_due_lists_unfinished_instances_whose_time_has_come(self, saga_store):
        now = T0 + dt.timedelta(minutes=5)
        later = make_state(wake_at=now - dt.timedelta(seconds=1))
        earlier = make_state(status=SagaStatus.COMPENSATING, wake_at=now - dt.timedelta(minutes=1))
        exactly = make_state(wake_at=now)
        for state in (
            later,
            earlier,
            exactly,
            make_state(wake_at=now + dt.timedelta(seconds=1)),  # leased
            make_state(wake_at=None),  # awaiting a reply without deadline
            make_state(status=SagaStatus.COMPLETED, wake_at=T0),
            make_state(status=SagaStatus.FAILED, wake_at=T0),
            make_state(status=SagaStatus.COMPENSATED, wake_at=T0),
        ):
            await saga_store.create(state)
        due = await saga_store.due(now)
        assert [s.id for s in due] == [earlier.id, later.id, exactly.id]
        assert [s.id for s in await saga_store.due(now, limit=1)] == [earlier.id]
