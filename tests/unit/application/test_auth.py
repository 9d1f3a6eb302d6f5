"""The token service's grants, the authenticator and the Model user directory, in memory."""

import datetime as dt

import pytest
from hk_testing.models import FAST_HASHER, User
from hk_testing.security import AUDIENCE, ISSUER, make_key_files

from hexkernel.adapters.memory import InMemoryRepository, InMemoryStore
from hexkernel.adapters.memory.invalidation import InMemoryInvalidationChannel, InvalidationHub
from hexkernel.adapters.security import (
    InMemoryRefreshTokenStore,
    JwtIssuer,
    JwtVerifier,
    KeyRing,
    KeySource,
)
from hexkernel.application.auth import (
    Authenticator,
    ModelUserDirectory,
    OAuthClient,
    OAuthError,
    TokenService,
    hash_client_secret,
)
from hexkernel.application.principals import PrincipalCache
from hexkernel.core.errors import InvalidToken
from hexkernel.core.security import Principal
from hexkernel.core.writes import on_written

pytestmark = pytest.mark.anyio

SECRET = "client-secret-123"
PASSWORD = "correct horse"


@pytest.fixture(scope="module")
def ring(tmp_path_factory):
    keys = make_key_files(tmp_path_factory.mktemp("keys"))
    return KeyRing.from_sources([KeySource(kid="k1", private_key_file=str(keys.paths["k1"]))])


class Clock:
    def __init__(self):
        self.now = dt.datetime.now(dt.UTC).replace(microsecond=0)

    def __call__(self):
        return self.now


class World:
    def __init__(self, ring):
        self.clock = Clock()
        self.users = InMemoryRepository(User, InMemoryStore())
        self.directory = ModelUserDirectory(self.users, username_field="email")
        self.refresh = InMemoryRefreshTokenStore()
        secret_hash = FAST_HASHER.hash(SECRET)
        self.clients = [
            OAuthClient(
                client_id="web",
                secret_hash=secret_hash,
                grants={"password", "refresh_token"},
                scopes={"read", "write"},
            ),
            OAuthClient(
                client_id="svc",
                secret_hash=secret_hash,
                grants={"client_credentials"},
                scopes={"read"},
                roles={"service"},
            ),
            OAuthClient(client_id="spa", grants={"password"}, scopes={"read"}),
        ]
        self.service = TokenService(
            issuer=JwtIssuer(ring),
            refresh_tokens=self.refresh,
            users=self.directory,
            clients=self.clients,
            issuer_id=ISSUER,
            audience=AUDIENCE,
            access_token_seconds=300,
            refresh_token_seconds=3600,
            clock=self.clock,
        )
        self.verifier = JwtVerifier(ring, issuer=ISSUER, audience=AUDIENCE)
        self.authenticator = Authenticator(
            self.verifier, users=self.directory, clients=["web", "svc", "spa"]
        )

    async def add_user(self, roles=("user",)):
        return await self.users.insert(
            User(email="ann@example.org", name="Ann", password=PASSWORD, roles=list(roles))
        )

    async def login(self, client="web", secret=SECRET, **params):
        form = {
            "grant_type": "password",
            "username": "ann@example.org",
            "password": PASSWORD,
            **params,
        }
        return await self.service.grant(form, client_id=client, client_secret=secret)


@pytest.fixture
def world(ring):
    return World(ring)


async def refused(call, error):
    with pytest.raises(OAuthError) as caught:
        await call
    assert caught.value.error == error
    assert caught.value.as_dict()["error"] == error
    return caught.value


async def test_password_grant_issues_a_verified_token_pair(world):
    user = await world.add_user(roles=("user", "admin"))
    issued = await world.login(username="  ANN@example.org ")
    assert issued.token_type == "Bearer"
    assert issued.expires_in == 300
    assert issued.refresh_token
    assert issued.scope == "read write"
    claims = await world.verifier.verify(issued.access_token)
    assert claims["sub"] == user.id
    assert claims["roles"] == ["admin", "user"]
    assert claims["client_id"] == "web"
    assert claims["exp"] - claims["iat"] == 300
    assert {"iss", "aud", "nbf", "jti", "scope"} <= claims.keys()
    principal = await world.authenticator.authenticate(issued.access_token)
    assert principal.subject == user.id
    assert principal.roles == frozenset({"admin", "user"})
    assert principal.scopes == frozenset({"read", "write"})


async def test_wrong_passwords_and_unknown_users_are_the_same_invalid_grant(world):
    await world.add_user()
    wrong = await refused(world.login(password="nope nope"), "invalid_grant")
    unknown = await refused(world.login(username="bob@example.org"), "invalid_grant")
    assert wrong.description == unknown.description
    assert wrong.status == 400
    await refused(world.login(username="not an email"), "invalid_grant")


async def test_client_authentication(world):
    await world.add_user()
    assert (await refused(world.login(secret="wrong"), "invalid_client")).status == 401
    await refused(world.login(secret=None), "invalid_client")
    await refused(world.login(client="nobody"), "invalid_client")
    await refused(world.login(client=None), "invalid_client")
    await refused(world.login(client="spa", secret="anything"), "invalid_client")
    public = await world.login(client="spa", secret=None)
    assert public.refresh_token is None  # spa may not use the refresh_token grant
    assert public.scope == "read"


async def test_grant_and_scope_rules(world):
    await world.add_user()
    await refused(world.login(grant_type=""), "invalid_request")
    await refused(world.login(grant_type="authorization_code"), "unsupported_grant_type")
    await refused(world.login(client="svc"), "unauthorized_client")
    await refused(world.login(scope="read admin"), "invalid_scope")
    await refused(world.login(password=""), "invalid_request")
    assert (await world.login(scope="read")).scope == "read"


async def test_client_credentials(world):
    issued = await world.service.grant(
        {"grant_type": "client_credentials"}, client_id="svc", client_secret=SECRET
    )
    assert issued.refresh_token is None
    principal = await world.authenticator.authenticate(issued.access_token)
    assert principal == Principal(
        subject="svc", client_id="svc", roles={"service"}, scopes={"read"}
    )


async def test_refresh_rotates_and_reuse_revokes_the_family(world, caplog):
    await world.add_user()
    first = await world.login()
    second = await world.service.grant(
        {"grant_type": "refresh_token", "refresh_token": first.refresh_token},
        client_id="web",
        client_secret=SECRET,
    )
    assert second.refresh_token not in (None, first.refresh_token)
    assert second.scope == "read write"
    narrowed = await world.service.grant(
        {"grant_type": "refresh_token", "refresh_token": second.refresh_token, "scope": "read"},
        client_id="web",
        client_secret=SECRET,
    )
    assert narrowed.scope == "read"
    # The first token comes back: the whole family is revoked, the newest token too.
    reused = await refused(
        world.service.grant(
            {"grant_type": "refresh_token", "refresh_token": first.refresh_token},
            client_id="web",
            client_secret=SECRET,
        ),
        "invalid_grant",
    )
    assert "revoked" in reused.description
    assert "presented again (client web)" in caplog.text
    assert first.refresh_token not in caplog.text
    await refused(
        world.service.grant(
            {"grant_type": "refresh_token", "refresh_token": narrowed.refresh_token},
            client_id="web",
            client_secret=SECRET,
        ),
        "invalid_grant",
    )
    other_login = await world.login()
    assert other_login.refresh_token


async def test_refresh_refusals(world):
    user = await world.add_user()
    issued = await world.login()

    def refresh(token, **extra):
        return world.service.grant(
            {"grant_type": "refresh_token", "refresh_token": token, **extra},
            client_id="web",
            client_secret=SECRET,
        )

    await refused(refresh(""), "invalid_request")
    await refused(refresh("made-up"), "invalid_grant")
    await refused(refresh(issued.refresh_token, scope="admin"), "invalid_scope")
    expired = await world.login()
    world.clock.now += dt.timedelta(seconds=3601)
    await refused(refresh(expired.refresh_token), "invalid_grant")
    world.clock.now -= dt.timedelta(seconds=3601)
    gone = await world.login()
    await world.users.delete(user.id)
    await refused(refresh(gone.refresh_token), "invalid_grant")


async def test_a_refresh_token_of_another_client_is_refused_and_revoked(world, ring):
    await world.add_user()
    issued = await world.login()
    other = OAuthClient(
        client_id="other",
        secret_hash=FAST_HASHER.hash(SECRET),
        grants={"refresh_token"},
        scopes={"read", "write"},
    )
    service = TokenService(
        issuer=JwtIssuer(ring),
        refresh_tokens=world.refresh,
        users=world.directory,
        clients=[*world.clients, other],
        issuer_id=ISSUER,
        audience=AUDIENCE,
    )
    await refused(
        service.grant(
            {"grant_type": "refresh_token", "refresh_token": issued.refresh_token},
            client_id="other",
            client_secret=SECRET,
        ),
        "invalid_grant",
    )


async def test_a_deleted_user_s_tokens_are_refused(world):
    user = await world.add_user()
    issued = await world.login()
    assert (await world.authenticator.authenticate(issued.access_token)).subject == user.id
    await world.users.delete(user.id)
    with pytest.raises(InvalidToken) as caught:
        await world.authenticator.authenticate(issued.access_token)
    assert caught.value.reason == "unknown_subject"


async def test_roles_come_from_the_directory_so_a_demotion_counts_at_once(world):
    user = await world.add_user(roles=("user", "admin"))
    issued = await world.login()
    user.roles = ["user"]
    await world.users.save(user)
    principal = await world.authenticator.authenticate(issued.access_token)
    assert principal.roles == frozenset({"user"})


async def test_the_principal_cache_remembers_lookups_for_its_ttl(world):
    user = await world.add_user()
    issued = await world.login()
    now = [0.0]
    cached = Authenticator(
        world.verifier, users=world.directory, principal_ttl=10, clock=lambda: now[0]
    )
    await cached.authenticate(issued.access_token)
    await world.users.delete(user.id)
    assert (await cached.authenticate(issued.access_token)).subject == user.id
    now[0] = 11
    with pytest.raises(InvalidToken):
        await cached.authenticate(issued.access_token)


async def test_without_a_directory_claims_are_trusted(world, ring):
    token = JwtIssuer(ring).sign(
        {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "external-user",
            "iat": 0,
            "nbf": 0,
            "exp": 4102444800,
            "roles": ["auditor"],
        }
    )
    principal = await Authenticator(world.verifier).authenticate(token)
    assert principal.subject == "external-user"
    assert principal.roles == frozenset({"auditor"})


async def test_a_service_without_users_only_serves_clients(ring):
    service = TokenService(
        issuer=JwtIssuer(ring),
        refresh_tokens=InMemoryRefreshTokenStore(),
        users=None,
        clients=[
            OAuthClient(
                client_id="c",
                secret_hash=FAST_HASHER.hash(SECRET),
                grants={"client_credentials", "password"},
            )
        ],
        issuer_id=ISSUER,
        audience=AUDIENCE,
    )
    assert service.grant_types == ["client_credentials"]
    await refused(
        service.grant(
            {"grant_type": "password", "username": "a", "password": "b"},
            client_id="c",
            client_secret=SECRET,
        ),
        "unsupported_grant_type",
    )


def test_metadata_lists_what_the_clients_can_do(world):
    body = world.service.metadata(token_endpoint="https://x/auth/token", jwks_uri="https://x/j")
    assert body["issuer"] == ISSUER
    assert body["grant_types_supported"] == ["client_credentials", "password", "refresh_token"]
    assert body["scopes_supported"] == ["read", "write"]
    assert body["token_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "client_secret_post",
        "none",
    ]


def test_client_rules():
    with pytest.raises(ValueError, match="unknown grant"):
        OAuthClient(client_id="x", secret_hash="h", grants={"implicit"})
    with pytest.raises(ValueError, match="needs a secret_hash"):
        OAuthClient(client_id="x", grants={"client_credentials"})
    assert "h4sh" not in repr(OAuthClient(client_id="x", secret_hash="h4sh"))
    assert hash_client_secret("s3cret").startswith("$argon2id$")


def test_the_directory_checks_its_fields():
    users = InMemoryRepository(User, InMemoryStore())
    with pytest.raises(ValueError, match="no field 'login'"):
        ModelUserDirectory(users, username_field="login")


def test_failures_for_unknown_clients_hash_like_the_known_ones():
    from hexkernel.application.auth import _hasher_like

    hasher = _hasher_like([None, "not a hash", FAST_HASHER.hash("x")])
    assert hasher is not None
    assert hasher.time_cost == FAST_HASHER.time_cost
    assert hasher.memory_cost == FAST_HASHER.memory_cost
    assert _hasher_like([None]) is None


async def test_public_login_lets_requests_without_a_client_log_users_in(ring):
    world = World(ring)
    service = TokenService(
        issuer=JwtIssuer(ring),
        refresh_tokens=world.refresh,
        users=world.directory,
        clients=world.clients,
        issuer_id=ISSUER,
        audience=AUDIENCE,
        public_login=True,
    )
    user = await world.add_user()
    form = {"grant_type": "password", "username": "ann@example.org", "password": PASSWORD}
    issued = await service.grant(form, client_id=None, client_secret=None)
    claims = await world.verifier.verify(issued.access_token)
    assert claims["sub"] == user.id
    assert "client_id" not in claims
    assert "scope" not in issued.as_dict()
    renewed = await service.grant(
        {"grant_type": "refresh_token", "refresh_token": issued.refresh_token},
        client_id=None,
        client_secret=None,
    )
    assert renewed.refresh_token
    # A real client cannot spend the public login's refresh token, nor the reverse.
    await refused(
        service.grant(
            {"grant_type": "refresh_token", "refresh_token": renewed.refresh_token},
            client_id="web",
            client_secret=SECRET,
        ),
        "invalid_grant",
    )
    await refused(
        service.grant({"grant_type": "client_credentials"}, client_id=None, client_secret=None),
        "invalid_client",
    )
    await refused(service.grant(form, client_id=None, client_secret="x"), "invalid_client")
    assert "none" in service.auth_methods
    assert "none" in world.service.auth_methods  # spa is a public client
    assert (await world.authenticator.authenticate(issued.access_token)).client_id is None


async def test_the_directory_can_follow_the_model_s_bound_repository():
    from hexkernel.core.errors import RepositoryNotBound
    from hexkernel.core.persistence import bind, unbind

    directory = ModelUserDirectory(User)
    with pytest.raises(RepositoryNotBound):
        await directory.principal("usr_x")
    users = InMemoryRepository(User, InMemoryStore())
    bind(User, users)
    try:
        user = await users.insert(User(email="ann@example.org", name="Ann", password=PASSWORD))
        found = await directory.authenticate("ann@example.org", PASSWORD)
        assert found == Principal(subject=user.id, roles={"user"})
        assert await directory.principal(user.id) == found
        assert await directory.principal("usr_gone") is None
    finally:
        unbind(User)


async def test_a_directory_without_roles_only_checks_existence():
    users = InMemoryRepository(User, InMemoryStore())
    directory = ModelUserDirectory(users, roles_field=None)
    user = await users.insert(
        User(email="ann@example.org", name="Ann", password=PASSWORD, roles=["admin"])
    )
    assert await directory.principal(user.id) == Principal(subject=user.id)
    assert (await directory.authenticate("ann@example.org", PASSWORD)).roles == frozenset()
    await users.delete(user.id)
    assert await directory.principal(user.id) is None


# ------------------------------------------- the principal cache, evicted on writes
class Counting:
    """A user directory that counts its lookups."""

    def __init__(self, directory):
        self.directory = directory
        self.lookups = 0

    async def authenticate(self, username, password):
        return await self.directory.authenticate(username, password)

    async def principal(self, subject):
        self.lookups += 1
        return await self.directory.principal(subject)


@pytest.fixture
def cached_world(ring):
    made = World(ring)
    made.counting = Counting(made.directory)
    made.cache = PrincipalCache(60)
    made.cached = Authenticator(made.verifier, users=made.counting, cache=made.cache)
    remove = on_written(User, made.cache.written)
    yield made
    remove()


async def test_a_cached_user_is_read_once_and_the_same_principal_is_returned(cached_world):
    user = await cached_world.add_user()
    token = (await cached_world.login()).access_token
    first = await cached_world.cached.authenticate(token)
    second = await cached_world.cached.authenticate(token)
    assert first.subject == user.id
    assert first.roles == frozenset({"user"})
    assert second is first  # what is cached per principal downstream stays valid
    assert cached_world.counting.lookups == 1


async def test_a_deleted_user_is_refused_at_once_despite_the_cache(cached_world):
    user = await cached_world.add_user()
    token = (await cached_world.login()).access_token
    await cached_world.cached.authenticate(token)
    await cached_world.users.delete(user.id)
    with pytest.raises(InvalidToken) as caught:
        await cached_world.cached.authenticate(token)
    assert caught.value.reason == "unknown_subject"


async def test_a_demoted_user_loses_the_role_at_once_despite_the_cache(cached_world):
    user = await cached_world.add_user(roles=("user", "admin"))
    token = (await cached_world.login()).access_token
    assert (await cached_world.cached.authenticate(token)).has_role("admin")
    await cached_world.users.update_one(user.id, [User.roles.set(["user"])])
    demoted = await cached_world.cached.authenticate(token)
    assert demoted.roles == frozenset({"user"})
    user = await cached_world.users.get(user.id)
    user.roles = ["user", "admin"]
    await cached_world.users.save(user)  # a replace counts as well
    assert (await cached_world.cached.authenticate(token)).has_role("admin")


async def test_a_bulk_update_of_users_evicts_everybody(cached_world):
    await cached_world.add_user(roles=("user", "admin"))
    token = (await cached_world.login()).access_token
    await cached_world.cached.authenticate(token)
    await cached_world.users.update(User.email == "ann@example.org", [User.roles.set(["user"])])
    assert (await cached_world.cached.authenticate(token)).roles == frozenset({"user"})


async def test_another_process_s_cache_is_evicted_through_the_channel(cached_world):
    hub = InvalidationHub()
    here = PrincipalCache(60, channel=InMemoryInvalidationChannel(hub))
    there = PrincipalCache(60, channel=InMemoryInvalidationChannel(hub))
    remove = on_written(User, here.written)  # only "here" sees the write itself
    try:
        for cache in (here, there):
            await cache.start()
        elsewhere = Authenticator(cached_world.verifier, users=cached_world.directory, cache=there)
        user = await cached_world.add_user(roles=("user", "admin"))
        token = (await cached_world.login()).access_token
        assert (await elsewhere.authenticate(token)).has_role("admin")
        await cached_world.users.update_one(user.id, [User.roles.set(["user"])])
        assert not (await elsewhere.authenticate(token)).has_role("admin")
        await cached_world.users.delete(user.id)
        with pytest.raises(InvalidToken):
            await elsewhere.authenticate(token)
    finally:
        remove()
        await here.stop()
        await there.stop()


async def test_without_a_cache_every_request_reads_the_user(cached_world):
    await cached_world.add_user()
    token = (await cached_world.login()).access_token
    uncached = Authenticator(cached_world.verifier, users=cached_world.counting)
    await uncached.authenticate(token)
    await uncached.authenticate(token)
    assert cached_world.counting.lookups == 2


async def test_the_direct_lookup_reads_the_roles_or_finds_nobody(cached_world):
    user = await cached_world.add_user(roles=("user", "admin"))
    found = await cached_world.directory.principal(user.id)
    assert found == Principal(subject=user.id, roles={"user", "admin"})
    assert await cached_world.directory.principal("usr_nobody") is None
