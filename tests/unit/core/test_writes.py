"""Notices of writes: every write of a collection through a repository reaches its listeners."""

import logging

import pytest
from hk_testing.models import User

from hexkernel.adapters.memory import InMemoryRepository, InMemoryStore, InMemoryUnitOfWork
from hexkernel.core.errors import NotFound
from hexkernel.core.writes import on_written

pytestmark = pytest.mark.anyio


class Heard:
    def __init__(self):
        self.calls = []

    async def __call__(self, keys):
        self.calls.append(keys)


@pytest.fixture
def heard():
    listener = Heard()
    remove = on_written(User, listener)
    yield listener
    remove()


def make_user(email="ann@example.org"):
    return User(email=email, name="Ann", password="long enough")


async def test_every_kind_of_write_is_announced_with_its_keys(heard):
    users = InMemoryRepository(User, InMemoryStore())
    ann = await users.insert(make_user())
    bob, cy = await users.insert_many([make_user("b@example.org"), make_user("c@example.org")])
    ann.name = "Annie"
    await users.save(ann)
    await users.update_one(bob.id, [User.roles.set(["admin"])])
    await users.update(User.name == "Ann", [User.roles.set(["user"])])
    await users.delete(cy.id)
    assert heard.calls == [
        (ann.id,),
        (bob.id, cy.id),
        (ann.id,),
        (bob.id,),
        None,  # a multi-document update: which ones is not known
        (cy.id,),
    ]


async def test_a_failed_write_is_announced_too_when_it_reached_the_store(heard):
    users = InMemoryRepository(User, InMemoryStore())
    with pytest.raises(NotFound):
        await users.delete("usr_missing")
    assert heard.calls == [("usr_missing",)]  # a spare eviction costs one read


async def test_reads_are_not_announced_and_a_removed_listener_hears_nothing():
    listener = Heard()
    remove = on_written(User, listener)
    users = InMemoryRepository(User, InMemoryStore())
    ann = await users.insert(make_user())
    await users.get(ann.id)
    await users.count()
    remove()
    await users.delete(ann.id)
    assert listener.calls == [(ann.id,)]


async def test_a_subclass_on_the_same_collection_is_announced(heard):
    class Member(User, collection="users"):
        pass

    assert Member.__model__.collection == User.__model__.collection
    members = InMemoryRepository(Member, InMemoryStore())
    member = await members.insert(Member(email="m@example.org", name="M", password="long enough"))
    assert heard.calls == [(member.id,)]


async def test_a_failing_listener_is_logged_and_the_write_stands(heard, caplog):
    async def broken(_keys):
        raise RuntimeError("the cache is on fire")

    remove = on_written(User, broken)
    try:
        users = InMemoryRepository(User, InMemoryStore())
        with caplog.at_level(logging.ERROR, logger="hexkernel"):
            ann = await users.insert(make_user())
        assert await users.get(ann.id)
        assert heard.calls == [(ann.id,)]
        assert "a write listener failed" in caplog.text
    finally:
        remove()


async def test_a_unit_of_work_announces_its_writes_again_when_it_ends(heard):
    store = InMemoryStore()
    users = InMemoryRepository(User, store)
    ann = await users.insert(make_user())
    heard.calls.clear()
    async with InMemoryUnitOfWork(store) as uow:
        await uow.repository(User).update_one(ann.id, [User.name.set("Annie")])
        assert heard.calls == [(ann.id,)]  # at the write
    assert heard.calls == [(ann.id,), (ann.id,)]  # and after the commit
    assert (await users.get(ann.id)).name == "Annie"


async def test_a_rolled_back_unit_of_work_announces_too(heard):
    store = InMemoryStore()
    users = InMemoryRepository(User, store)
    ann = await users.insert(make_user())
    heard.calls.clear()

    async def abort() -> None:
        async with InMemoryUnitOfWork(store) as uow:
            await uow.repository(User).delete(ann.id)
            raise RuntimeError("abort")

    with pytest.raises(RuntimeError):
        await abort()
    assert heard.calls == [(ann.id,), (ann.id,)]
    assert await users.get(ann.id)
