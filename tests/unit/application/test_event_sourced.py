"""Event-sourced aggregates and their repository, through the command bus, on memory adapters."""

import asyncio
from decimal import Decimal

import attrs
import pytest
from hk_testing.es_models import (
    Account,
    AccountOpened,
    Deposit,
    Deposited,
    Open,
    Overdrawn,
    Withdraw,
    Withdrawn,
)
from hypothesis import given
from hypothesis import strategies as st

from hexkernel.adapters.memory import InMemoryStore, InMemoryUnitOfWorkFactory
from hexkernel.adapters.memory.event_store import InMemoryEventStore
from hexkernel.application import (
    CommandBus,
    EventDispatcher,
    EventSourcedRepository,
    UnitOfWorkMiddleware,
)
from hexkernel.core.errors import ConcurrencyConflict, NotFound
from hexkernel.core.eventsourcing import Aggregate
from hexkernel.core.ports.event_store import Snapshot

pytestmark = pytest.mark.anyio


def d(text: str) -> Decimal:
    return Decimal(text)


# --------------------------------------------------------------- aggregate
def test_recording_applies_the_event_and_keeps_it_pending():
    account = Account.open("acc_1", "Ada")
    account.deposit(d("10.00"), "pay")

    assert (account.owner, account.balance, account.version) == ("Ada", d("10.00"), 2)
    assert account.pending_events == (
        AccountOpened(account_id="acc_1", owner="Ada"),
        Deposited(account_id="acc_1", amount=d("10.00"), memo="pay"),
    )
    assert account.committed_version == 0
    pending = list(account.pending_events)
    assert account.mark_committed() == pending
    assert account.pending_events == ()
    assert account.committed_version == 2


def test_an_invariant_refuses_the_change_and_records_nothing():
    account = Account.open("acc_1", "Ada")
    with pytest.raises(Overdrawn):
        account.withdraw(d("1.00"))
    assert account.version == 1
    assert len(account.pending_events) == 1


def test_replaying_the_events_rebuilds_the_same_state():
    account = Account.open("acc_1", "Ada")
    account.deposit(d("10.00"))
    account.withdraw(d("4.50"))

    again = Account.replay("acc_1", account.pending_events)

    assert again == attrs.evolve(account)
    assert (again.balance, again.version, again.pending_events) == (d("5.50"), 3, ())


def test_a_snapshot_state_restores_the_aggregate():
    account = Account.open("acc_1", "Ada")
    account.deposit(d("10.00"))

    state = account.snapshot_state()
    again = Account.replay("acc_1", [], snapshot=state, snapshot_version=2)

    assert state == {"owner": "Ada", "balance": "10.00", "movements": 1}
    assert (again.owner, again.balance, again.movements, again.version) == ("Ada", d("10.00"), 1, 2)


def test_an_event_without_an_applying_method_is_a_lookup_error():
    @attrs.define(kw_only=True)
    class Empty(Aggregate):
        pass

    with pytest.raises(LookupError):
        Empty(id="x").record(AccountOpened(account_id="x", owner="y"))


# -------------------------------------------------------------- repository
def make_repo(snapshot_every=None):
    store = InMemoryStore()
    events = InMemoryEventStore(store)
    return store, events, EventSourcedRepository(Account, events, snapshot_every=snapshot_every)


async def test_a_saved_aggregate_loads_back_equal():
    _, events, repo = make_repo()
    account = Account.open("acc_1", "Ada")
    account.deposit(d("3.00"))

    stored = await repo.save(account)
    loaded = await repo.get("acc_1")

    assert [s.version for s in stored] == [1, 2]
    assert loaded == account
    assert loaded.committed_version == 2
    assert await repo.save(loaded) == []
    assert await events.stream_version("acc_1") == 2


async def test_loading_an_unknown_aggregate_raises_not_found():
    _, _, repo = make_repo()
    with pytest.raises(NotFound):
        await repo.get("acc_missing")
    assert await repo.find("acc_missing") is None


async def test_saving_a_stale_copy_raises_a_conflict():
    _, _, repo = make_repo()
    await repo.save(Account.open("acc_1", "Ada"))
    first, second = await repo.get("acc_1"), await repo.get("acc_1")
    first.deposit(d("1.00"))
    second.deposit(d("2.00"))

    await repo.save(first)
    with pytest.raises(ConcurrencyConflict):
        await repo.save(second)

    assert (await repo.get("acc_1")).balance == d("1.00")


async def test_a_snapshot_is_taken_each_time_the_stream_crosses_a_multiple_of_n():
    _, events, repo = make_repo(snapshot_every=3)
    account = Account.open("acc_1", "Ada")
    await repo.save(account)
    assert await events.load_snapshot("acc_1") is None
    for _ in range(4):
        account.deposit(d("1.00"))
        await repo.save(account)

    snapshot = await events.load_snapshot("acc_1")

    assert snapshot is not None
    assert (snapshot.version, snapshot.aggregate_type, snapshot.schema_version) == (
        3,
        "Account",
        1,
    )
    assert snapshot.state == {"owner": "Ada", "balance": "2.00", "movements": 2}
    assert (await repo.get("acc_1")).balance == d("4.00")


async def test_loading_starts_from_the_snapshot_and_replays_only_later_events():
    _, events, repo = make_repo()
    account = Account.open("acc_1", "Ada")
    account.deposit(d("1.00"))
    account.deposit(d("1.00"))
    await repo.save(account)
    # A snapshot that disagrees with the events shows which one loading used.
    await events.save_snapshot(
        Snapshot(
            stream_id="acc_1",
            version=2,
            aggregate_type="Account",
            schema_version=1,
            state={"owner": "From snapshot", "balance": "100.00", "movements": 1},
        )
    )

    loaded = await repo.get("acc_1")

    assert (loaded.owner, loaded.balance, loaded.version) == ("From snapshot", d("101.00"), 3)


async def test_a_snapshot_of_another_schema_version_is_ignored():
    _, events, repo = make_repo(snapshot_every=1)
    account = Account.open("acc_1", "Ada")
    await repo.save(account)
    await events.save_snapshot(
        Snapshot(
            stream_id="acc_1",
            version=5,
            aggregate_type="Account",
            schema_version=99,
            state={"shape": "unknown"},
        )
    )

    assert (await repo.get("acc_1")).owner == "Ada"


# ------------------------------------------------------- through the bus
def make_service():
    store = InMemoryStore()
    events = InMemoryEventStore(store)
    accounts = EventSourcedRepository(Account, events, snapshot_every=5)
    dispatcher = EventDispatcher()
    bus = CommandBus(
        middleware=[UnitOfWorkMiddleware(InMemoryUnitOfWorkFactory(store), dispatcher)]
    )

    async def open_account(command: Open) -> None:
        await accounts.save(Account.open(command.account_id, command.owner))

    async def deposit(command: Deposit) -> None:
        account = await accounts.get(command.account_id)
        account.deposit(command.amount)
        await accounts.save(account)

    async def withdraw(command: Withdraw) -> None:
        account = await accounts.get(command.account_id)
        account.withdraw(command.amount)
        await accounts.save(account)

    bus.register(Open, open_account)
    bus.register(Deposit, deposit)
    bus.register(Withdraw, withdraw)
    return bus, dispatcher, events, accounts


async def test_handlers_save_aggregates_and_their_events_are_published_after_commit():
    bus, dispatcher, events, accounts = make_service()
    published = []

    async def record(event):
        # The event store already holds it when handlers see it.
        published.append((type(event).__name__, await events.last_position()))

    dispatcher.subscribe(AccountOpened, record)
    dispatcher.subscribe(Deposited, record)
    dispatcher.subscribe(Withdrawn, record)

    await bus.dispatch(Open(account_id="acc_1", owner="Ada"))
    await bus.dispatch(Deposit(account_id="acc_1", amount=d("5.00")))
    with pytest.raises(Overdrawn):
        await bus.dispatch(Withdraw(account_id="acc_1", amount=d("6.00")))
    await bus.dispatch(Withdraw(account_id="acc_1", amount=d("2.00")))

    assert published == [("AccountOpened", 1), ("Deposited", 2), ("Withdrawn", 3)]
    assert (await accounts.get("acc_1")).balance == d("3.00")


async def test_concurrent_commands_on_one_aggregate_all_take_effect_through_retries():
    bus, _, events, accounts = make_service()
    await bus.dispatch(Open(account_id="acc_1", owner="Ada"))

    await asyncio.gather(
        *(bus.dispatch(Deposit(account_id="acc_1", amount=d("1.00"))) for _ in range(10))
    )

    account = await accounts.get("acc_1")
    assert (account.balance, account.version) == (d("10.00"), 11)
    assert [s.position for s in await events.read_all()] == list(range(1, 12))


# --------------------------------------------------------------- properties
amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal(500), places=2)
moves = st.lists(st.tuples(st.sampled_from(("deposit", "withdraw")), amounts), max_size=30)


def _play(plan) -> Account:
    account = Account.open("acc_p", "Ada")
    for kind, amount in plan:
        if kind == "deposit":
            account.deposit(amount)
        elif amount <= account.balance:
            account.withdraw(amount)
    return account


@given(plan=moves, cut=st.integers(min_value=0))
def test_any_history_replays_to_the_same_state_with_or_without_a_snapshot(plan, cut):
    account = _play(plan)
    events = account.pending_events
    split = cut % (len(events) + 1)
    head = Account.replay("acc_p", events[:split])

    from_snapshot = Account.replay(
        "acc_p", events[split:], snapshot=head.snapshot_state(), snapshot_version=head.version
    )

    assert Account.replay("acc_p", events) == attrs.evolve(account)
    assert from_snapshot == attrs.evolve(account)
    assert account.balance >= 0
    assert account.version == len(events)


@given(plan=moves, every=st.integers(min_value=1, max_value=7))
async def test_any_history_saved_in_pieces_loads_back_equal(plan, every):
    _, events, repo = make_repo(snapshot_every=every)
    account = Account.open(f"acc_{every}", "Ada")
    await repo.save(account)
    for kind, amount in plan:
        if kind == "deposit":
            account.deposit(amount)
        elif amount <= account.balance:
            account.withdraw(amount)
        if len(account.pending_events) >= 3:
            await repo.save(account)
    await repo.save(account)

    loaded = await repo.get(account.id)

    assert loaded == account
    snapshot = await events.load_snapshot(account.id)
    if account.version >= every:
        assert snapshot is not None
        assert snapshot.version <= account.version
    assert [s.version for s in await events.read_stream(account.id)] == list(
        range(1, account.version + 1)
    )
