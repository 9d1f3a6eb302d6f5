"""The Principal, its binding per task, and the current user the Models read."""

import asyncio

import pytest

from hexkernel.core import Field, Model
from hexkernel.core.context import acting_as, current_user
from hexkernel.core.generators import CurrentUser
from hexkernel.core.security import (
    ANONYMOUS,
    Principal,
    as_principal,
    current_principal,
    principal_from_claims,
)


class Note(Model, prefix="not"):
    text: str
    author: str | None = Field(factory=CurrentUser())


def test_nobody_bound_is_anonymous():
    assert current_principal() is ANONYMOUS
    assert not ANONYMOUS.is_authenticated
    assert current_user() is None


def test_binding_sets_the_subject_models_read_and_restores_it():
    alice = Principal(subject="usr_alice", roles={"user"}, scopes="tasks:read tasks:write")
    with as_principal(alice):
        assert current_principal() == alice
        assert current_user() == "usr_alice"
        assert Note(text="hi").author == "usr_alice"
        with acting_as("usr_bob"):
            assert current_user() == "usr_bob"
            assert current_principal().roles == frozenset()
        assert current_user() == "usr_alice"
    assert current_principal() is ANONYMOUS
    assert alice.scopes == frozenset({"tasks:read", "tasks:write"})
    assert alice.has_role("admin", "user")
    assert not alice.has_role("admin")
    assert alice.has_scope("tasks:read")


def test_acting_as_none_is_anonymous():
    with acting_as(None):
        assert current_principal() is ANONYMOUS


def test_a_client_without_a_user_is_authenticated():
    assert Principal(client_id="svc").is_authenticated


@pytest.mark.anyio
async def test_concurrent_tasks_keep_their_own_principal():
    async def work(name: str) -> str | None:
        with as_principal(Principal(subject=name)):
            await asyncio.sleep(0.01)
            return current_user()

    results = await asyncio.gather(*(work(f"usr_{i}") for i in range(20)))
    assert results == [f"usr_{i}" for i in range(20)]


def test_claims_are_read_only_and_not_part_of_equality():
    one = Principal(subject="a", claims={"x": 1})
    assert one == Principal(subject="a", claims={"y": 2})
    with pytest.raises(TypeError):
        one.claims["x"] = 2  # type: ignore[index]
    assert hash(one) == hash(Principal(subject="a"))


def test_principal_from_local_claims():
    p = principal_from_claims(
        {"sub": "usr_1", "roles": ["user", 3], "scope": "a b", "client_id": "web"}
    )
    assert p == Principal(subject="usr_1", roles={"user"}, scopes={"a", "b"}, client_id="web")
    assert p.claims["client_id"] == "web"


def test_principal_from_keycloak_claims():
    claims = {
        "sub": "f3a9",
        "azp": "frontend",
        "realm_access": {"roles": ["admin"]},
        "scp": ["profile", 1],
    }
    p = principal_from_claims(claims, roles_claim="realm_access.roles")
    assert p.roles == frozenset({"admin"})
    assert p.scopes == frozenset({"profile"})
    assert p.client_id == "frontend"
    assert principal_from_claims({"sub": 5, "roles": "admin"}).subject is None
    assert principal_from_claims({"sub": "x", "roles": "admin"}).roles == frozenset()
    assert principal_from_claims({"sub": "x"}, roles_claim="realm_access.roles").roles == set()
