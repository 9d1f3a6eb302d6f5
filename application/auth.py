"""Authentication use cases: the OAuth2 token service, bearer authentication, user lookup.

:class:`TokenService` implements the token endpoint's grants (RFC 6749):
``password`` and ``client_credentials`` issue an RS256 access token, and
``password`` also a refresh token; ``refresh_token`` spends a refresh token
(single use) and issues a new pair of the same family. Presenting a spent
refresh token again revokes its whole family: whoever holds the newer tokens
of that login, legitimate or not, has to log in again. Every refusal is an
:class:`OAuthError` carrying the RFC 6749 section 5.2 code and HTTP status.

:class:`Authenticator` turns a bearer token into the :class:`Principal` of a
request, refusing tokens whose user no longer exists; :class:`ModelUserDirectory`
lets any Model with a username, a password hash and roles serve the
``password`` grant.
"""

import datetime as dt
import logging
import secrets
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any

import argon2
import attrs

from hexkernel.application.principals import CacheEntry, PrincipalCache
from hexkernel.core.errors import (
    HexkernelError,
    InvalidToken,
    RefreshTokenReused,
)
from hexkernel.core.model.converters import HashPassword, verify_password
from hexkernel.core.persistence import bound_repository
from hexkernel.core.ports.repository import FieldReader, Repository
from hexkernel.core.ports.security import (
    RefreshRecord,
    RefreshTokenStore,
    TokenIssuer,
    TokenVerifier,
    UserDirectory,
)
from hexkernel.core.query import Query
from hexkernel.core.security import Principal, principal_from_claims

__all__ = (
    "GRANT_TYPES",
    "Authenticator",
    "ModelUserDirectory",
    "OAuthClient",
    "OAuthError",
    "TokenResponse",
    "TokenService",
    "hash_client_secret",
)

log = logging.getLogger("hexkernel.security")

GRANT_TYPES = frozenset({"password", "client_credentials", "refresh_token"})


class OAuthError(HexkernelError):
    """A token request refused, as RFC 6749 section 5.2 describes it.

    Attributes:
        error: The RFC 6749 code (``invalid_request``, ``invalid_client``,
            ``invalid_grant``, ``unauthorized_client``,
            ``unsupported_grant_type``, ``invalid_scope``).
        description: A human-readable explanation (never a secret).
        status: 401 for ``invalid_client``, else 400.
    """

    def __init__(self, error: str, description: str) -> None:
        self.error = error
        self.description = description
        self.status = 401 if error == "invalid_client" else 400
        super().__init__(f"{error}: {description}")

    def as_dict(self) -> dict[str, str]:
        """The RFC 6749 error body."""
        return {"error": self.error, "error_description": self.description}


def hash_client_secret(secret: str) -> str:
    """Return the argon2id hash of a client secret, as the configuration expects it."""
    return str(HashPassword()(secret))


def _names(values: Iterable[str]) -> frozenset[str]:
    return frozenset(values)


@attrs.frozen(kw_only=True)
class OAuthClient:
    """An OAuth2 client allowed to request tokens.

    Attributes:
        client_id: Its id.
        secret_hash: The argon2id hash of its secret; ``None`` for a public
            client (a browser or mobile app), which may not use
            ``client_credentials``.
        grants: The grant types it may use.
        scopes: The scopes it may request (all of them by default).
        roles: Roles of the client itself, in its ``client_credentials`` tokens.
    """

    client_id: str
    secret_hash: str | None = attrs.field(default=None, repr=False)
    grants: frozenset[str] = attrs.field(
        default=frozenset({"client_credentials"}), converter=_names
    )
    scopes: frozenset[str] = attrs.field(default=frozenset(), converter=_names)
    roles: frozenset[str] = attrs.field(default=frozenset(), converter=_names)

    def __attrs_post_init__(self) -> None:
        unknown = self.grants - GRANT_TYPES
        if unknown:
            raise ValueError(f"client {self.client_id!r}: unknown grant types {sorted(unknown)}")
        if self.secret_hash is None and "client_credentials" in self.grants:
            raise ValueError(f"client {self.client_id!r}: client_credentials needs a secret_hash")


@attrs.frozen(kw_only=True)
class TokenResponse:
    """A successful token response (RFC 6749 section 5.1)."""

    access_token: str = attrs.field(repr=False)
    expires_in: int
    refresh_token: str | None = attrs.field(default=None, repr=False)
    scope: str | None = None
    token_type: str = "Bearer"  # noqa: S105 - the RFC 6750 token type, not a secret

    def as_dict(self) -> dict[str, Any]:
        """The JSON body, without the absent optional members."""
        body: dict[str, Any] = {
            "access_token": self.access_token,
            "token_type": self.token_type,
            "expires_in": self.expires_in,
        }
        if self.refresh_token is not None:
            body["refresh_token"] = self.refresh_token
        if self.scope:
            body["scope"] = self.scope
        return body


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class _Dummy:
    """A hash to verify against when there is nothing to verify, so failures take as long."""

    def __init__(self, hasher: argon2.PasswordHasher | None = None) -> None:
        self._hasher = hasher
        self._hash: str | None = None

    def waste_time(self, password: str) -> None:
        if self._hash is None:
            self._hash = (self._hasher or argon2.PasswordHasher()).hash(secrets.token_hex(16))
        verify_password(self._hash, password)


def _hasher_like(hashes: Iterable[str | None]) -> argon2.PasswordHasher | None:
    """A hasher with the parameters of the first well-formed hash (for equal-time failures)."""
    for value in hashes:
        if value is None:
            continue
        try:
            return argon2.PasswordHasher.from_parameters(argon2.extract_parameters(value))
        except argon2.exceptions.InvalidHashError:
            continue
    return None


class TokenService:
    """The grants of the OAuth2 token endpoint.

    Args:
        issuer: Signs the access tokens.
        refresh_tokens: Keeps the refresh tokens single-use.
        users: Authenticates users (the ``password`` grant); ``None`` when the
            service has no users, and then only ``client_credentials`` works.
        clients: The OAuth2 clients.
        issuer_id: The ``iss`` of every token.
        audience: The ``aud`` of every token.
        access_token_seconds: Lifetime of an access token.
        refresh_token_seconds: Lifetime of a refresh token.
        public_login: Let token requests that name no client use the
            ``password`` and ``refresh_token`` grants, as a public client
            without scopes (RFC 6749 requires client authentication only of
            clients that have credentials). Their tokens carry no ``client_id``.
        clock: The current UTC time.
    """

    def __init__(
        self,
        *,
        issuer: TokenIssuer,
        refresh_tokens: RefreshTokenStore,
        users: UserDirectory | None,
        clients: Sequence[OAuthClient],
        issuer_id: str,
        audience: str,
        access_token_seconds: int = 900,
        refresh_token_seconds: int = 1_209_600,
        public_login: bool = False,
        clock: Callable[[], dt.datetime] = _utcnow,
    ) -> None:
        self._issuer = issuer
        self._refresh = refresh_tokens
        self._users = users
        self._clients = {c.client_id: c for c in clients}
        self.issuer_id = issuer_id
        self.audience = audience
        self._access_ttl = access_token_seconds
        self._refresh_ttl = refresh_token_seconds
        self._clock = clock
        self._dummy = _Dummy(_hasher_like(c.secret_hash for c in clients))
        self._anonymous = (
            OAuthClient(client_id="", grants={"password", "refresh_token"})
            if public_login and users is not None
            else None
        )

    @property
    def client_ids(self) -> frozenset[str]:
        """The ids of the configured clients."""
        return frozenset(self._clients)

    @property
    def grant_types(self) -> list[str]:
        """The grant types at least one client may use, sorted."""
        grants = set().union(*(c.grants for c in self._clients.values()))
        if self._anonymous is not None:
            grants |= self._anonymous.grants
        if self._users is None:
            grants -= {"password", "refresh_token"}
        return sorted(grants)

    @property
    def scopes(self) -> list[str]:
        """Every scope some client may request, sorted."""
        return sorted(set().union(*(c.scopes for c in self._clients.values())))

    @property
    def auth_methods(self) -> list[str]:
        """How clients authenticate at the token endpoint (RFC 8414 names)."""
        methods = ["client_secret_basic", "client_secret_post"]
        if self._anonymous is not None or any(
            c.secret_hash is None for c in self._clients.values()
        ):
            methods.append("none")
        return methods

    def metadata(self, *, token_endpoint: str, jwks_uri: str) -> dict[str, Any]:
        """The authorization server metadata of RFC 8414."""
        body: dict[str, Any] = {
            "issuer": self.issuer_id,
            "token_endpoint": token_endpoint,
            "jwks_uri": jwks_uri,
            "grant_types_supported": self.grant_types,
            "response_types_supported": [],
            "token_endpoint_auth_methods_supported": self.auth_methods,
        }
        scopes = self.scopes
        if scopes:
            body["scopes_supported"] = scopes
        return body

    async def grant(
        self,
        params: Mapping[str, str],
        *,
        client_id: str | None,
        client_secret: str | None,
    ) -> TokenResponse:
        """Run the grant a token request asks for.

        Args:
            params: The form fields (``grant_type``, ``scope``, ``username``, ...).
            client_id: The client's id, from HTTP Basic or the form.
            client_secret: The client's secret, likewise.

        Raises:
            OAuthError: With the RFC 6749 code of the refusal.
        """
        grant_type = params.get("grant_type")
        if not grant_type:
            raise OAuthError("invalid_request", "grant_type is required")
        if grant_type not in GRANT_TYPES:
            raise OAuthError("unsupported_grant_type", "this grant type is not supported")
        client = self._authenticate_client(client_id, client_secret)
        if client is self._anonymous and grant_type not in client.grants:
            raise OAuthError("invalid_client", "the client is not authenticated")
        if grant_type not in client.grants:
            raise OAuthError("unauthorized_client", "the client may not use this grant type")
        if grant_type == "client_credentials":
            return self._client_credentials(client, params.get("scope"))
        if self._users is None:
            raise OAuthError("unsupported_grant_type", "this service has no users")
        if grant_type == "password":
            return await self._password(client, self._users, params)
        return await self._refresh_grant(client, self._users, params)

    def _authenticate_client(self, client_id: str | None, secret: str | None) -> OAuthClient:
        if not client_id:
            if self._anonymous is not None and not secret:
                return self._anonymous
            raise OAuthError("invalid_client", "the client is not authenticated")
        client = self._clients.get(client_id)
        if client is None:
            self._dummy.waste_time(secret or "")
            raise OAuthError("invalid_client", "the client is not authenticated")
        if client.secret_hash is None:
            if secret:
                raise OAuthError("invalid_client", "a public client has no secret")
            return client
        if not secret or not verify_password(client.secret_hash, secret):
            raise OAuthError("invalid_client", "the client is not authenticated")
        return client

    @staticmethod
    def _scopes(requested: str | None, allowed: frozenset[str]) -> frozenset[str]:
        if requested is None or not requested.strip():
            return allowed
        wanted = frozenset(requested.split())
        if not wanted <= allowed:
            raise OAuthError("invalid_scope", "a requested scope is not allowed")
        return wanted

    def _access_token(
        self, subject: str, client: OAuthClient, roles: Iterable[str], scopes: frozenset[str]
    ) -> tuple[str, int]:
        now = self._clock()
        stamp = int(now.timestamp())
        claims = {
            "iss": self.issuer_id,
            "sub": subject,
            "aud": self.audience,
            "iat": stamp,
            "nbf": stamp,
            "exp": stamp + self._access_ttl,
            "jti": uuid.uuid4().hex,
            "roles": sorted(roles),
            "scope": " ".join(sorted(scopes)),
        }
        if client.client_id:
            claims["client_id"] = client.client_id
        return self._issuer.sign(claims), self._access_ttl

    def _client_credentials(self, client: OAuthClient, scope: str | None) -> TokenResponse:
        scopes = self._scopes(scope, client.scopes)
        token, ttl = self._access_token(client.client_id, client, client.roles, scopes)
        return TokenResponse(access_token=token, expires_in=ttl, scope=" ".join(sorted(scopes)))

    async def _issue_pair(
        self,
        principal: Principal,
        client: OAuthClient,
        scopes: frozenset[str],
        family: str,
        granted: frozenset[str],
    ) -> TokenResponse:
        assert principal.subject is not None  # noqa: S101 - directories return users
        token, ttl = self._access_token(principal.subject, client, principal.roles, scopes)
        refresh = secrets.token_urlsafe(32)
        record = RefreshRecord(
            family=family,
            subject=principal.subject,
            client_id=client.client_id,
            scopes=granted,
            expires_at=self._clock() + dt.timedelta(seconds=self._refresh_ttl),
        )
        await self._refresh.add(refresh, record)
        return TokenResponse(
            access_token=token,
            expires_in=ttl,
            refresh_token=refresh if "refresh_token" in client.grants else None,
            scope=" ".join(sorted(scopes)),
        )

    async def _password(
        self, client: OAuthClient, users: UserDirectory, params: Mapping[str, str]
    ) -> TokenResponse:
        username = params.get("username")
        password = params.get("password")
        if not username or not password:
            raise OAuthError("invalid_request", "username and password are required")
        scopes = self._scopes(params.get("scope"), client.scopes)
        principal = await users.authenticate(username, password)
        if principal is None or principal.subject is None:
            raise OAuthError("invalid_grant", "the username or password is wrong")
        return await self._issue_pair(principal, client, scopes, uuid.uuid4().hex, scopes)

    async def _refresh_grant(
        self, client: OAuthClient, users: UserDirectory, params: Mapping[str, str]
    ) -> TokenResponse:
        presented = params.get("refresh_token")
        if not presented:
            raise OAuthError("invalid_request", "refresh_token is required")
        try:
            record = await self._refresh.consume(presented, now=self._clock())
        except RefreshTokenReused as exc:
            revoked = await self._refresh.revoke_family(exc.family)
            log.warning(
                "a spent refresh token was presented again (client %s): its login %s is "
                "revoked (%d unspent tokens)",
                client.client_id,
                exc.family,
                revoked,
            )
            raise OAuthError(
                "invalid_grant", "the refresh token was already used; its login is revoked"
            ) from None
        except InvalidToken as exc:
            raise OAuthError(
                "invalid_grant", f"the refresh token is not valid ({exc.reason})"
            ) from None
        if record.client_id != client.client_id:
            await self._refresh.revoke_family(record.family)
            raise OAuthError("invalid_grant", "the refresh token was issued to another client")
        principal = await users.principal(record.subject)
        if principal is None:
            await self._refresh.revoke_family(record.family)
            raise OAuthError("invalid_grant", "the user no longer exists")
        scopes = self._scopes(params.get("scope"), record.scopes)
        return await self._issue_pair(principal, client, scopes, record.family, record.scopes)


class Authenticator:
    """Turns a bearer token into the request's :class:`Principal`.

    The token is verified by the verifier; then, when a user directory is
    given, its subject must still exist (and its roles are the directory's
    current ones, so a demoted admin loses the role at once). Tokens a client
    obtained for itself (``client_credentials``: ``sub`` is a configured
    client id) skip the directory.

    Lookups are remembered by a :class:`PrincipalCache` when one is given
    (or made from ``principal_ttl``); the service evicts a user from it when
    the user is written. The principal of a token is built once per verified
    claims and user lookup, and the same object is returned while neither
    changes, so that what is cached per principal downstream (row rules)
    stays valid.

    Args:
        verifier: Verifies the token.
        users: The user directory, or ``None`` (resource-server mode: the
            token's claims are trusted as they are).
        clients: Ids of the local OAuth2 clients.
        roles_claim: Where the roles are in the claims (a dotted path).
        principal_ttl: Seconds to remember a user lookup when no ``cache`` is
            given (0: look up on every request).
        cache: The cache of user lookups (takes precedence over ``principal_ttl``).
        clock: Monotonic seconds, for the cache made from ``principal_ttl``.
    """

    def __init__(
        self,
        verifier: TokenVerifier,
        *,
        users: UserDirectory | None = None,
        clients: Collection[str] = (),
        roles_claim: str = "roles",
        principal_ttl: float = 0,
        cache: PrincipalCache | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._verifier = verifier
        self._users = users
        self._clients = frozenset(clients)
        self._roles_claim = roles_claim
        if cache is None and principal_ttl > 0:
            cache = PrincipalCache(principal_ttl, clock=clock)
        self.cache = cache
        # Per verified claims (by identity: the token cache hands out the same
        # object while it holds the token): the claims, the token's principal,
        # the user lookup it was combined with, and the combination.
        self._derived: dict[int, list[Any]] = {}

    async def authenticate(self, token: str) -> Principal:
        """Return the principal of a bearer ``token``.

        Raises:
            InvalidToken: The token is refused, or its user no longer exists
                (``unknown_subject``).
            IssuerUnavailable: A remote issuer's keys cannot be fetched.
        """
        claims = await self._verifier.verify(token)
        derived = self._derived.get(id(claims))
        if derived is None or derived[0] is not claims:
            derived = self._derive(claims)
        principal: Principal = derived[1]
        users = self._users
        if users is None:
            return principal
        subject = principal.subject
        if principal.client_id == subject and subject in self._clients:
            return principal
        assert subject is not None  # noqa: S101 - _derive refused the token otherwise
        cache = self.cache
        if cache is None:
            entry: CacheEntry = (0.0, await users.principal(subject))
        else:
            found = cache.get(subject)
            if found is None:
                generation = cache.generation
                found = cache.put(subject, await users.principal(subject), generation)
            entry = found
        if derived[2] is entry:
            return derived[3]  # type: ignore[no-any-return]
        current = entry[1]
        if current is None:
            raise InvalidToken("unknown_subject")
        combined = attrs.evolve(principal, roles=current.roles)
        derived[2], derived[3] = entry, combined
        return combined

    def _derive(self, claims: Mapping[str, Any]) -> list[Any]:
        principal = principal_from_claims(claims, roles_claim=self._roles_claim)
        if principal.subject is None:
            raise InvalidToken("missing_claim")
        derived = [claims, principal, None, None]
        if len(self._derived) >= 10_000:  # noqa: PLR2004 - a bound on memory
            self._derived.clear()
        self._derived[id(claims)] = derived
        return derived


class ModelUserDirectory:
    """The users of a Model (e.g. ``User``) as a :class:`UserDirectory`.

    The username field is looked up with the field's own converters applied
    (so an e-mail normalised to lower case matches however it is typed); the
    password field must hold an argon2 hash (``HashPassword``). Lookups ignore
    the Model's predefined filters: authentication must see every account.

    Example::

        users = ModelUserDirectory(User, username_field="email")

    Args:
        source: The user Model (its bound repository is used at each call,
            see :func:`hexkernel.core.persistence.bind`), or a repository of it.
        username_field: The field users log in with.
        password_field: The field holding the password hash.
        roles_field: A list-of-strings field with the roles, or ``None``.
    """

    def __init__(
        self,
        source: Repository[Any] | type[Any],
        *,
        username_field: str = "email",
        password_field: str = "password",  # noqa: S107 - a field name
        roles_field: str | None = "roles",
    ) -> None:
        if isinstance(source, type):
            model: type[Any] = source
            self._fixed: Repository[Any] | None = None
        else:
            model = source.model
            self._fixed = source
        info = model.__model__
        for name in (username_field, password_field, roles_field):
            if name is not None and name not in info.by_name:
                raise ValueError(f"{model.__name__} has no field {name!r}")
        self._model = model
        self._roles_only = Query(model).only(roles_field).projection if roles_field else None
        self._read = frozenset({roles_field or "id"})
        self._reader: tuple[Any, bool] | None = None
        self._username = username_field
        self._password = password_field
        self._roles = roles_field
        converters = info.by_name[username_field].spec.converters
        self._normalisers = tuple(c for c in converters if not getattr(c, "final", False))
        hashers = [
            c.hasher
            for c in info.by_name[password_field].spec.converters
            if isinstance(c, HashPassword)
        ]
        self._dummy = _Dummy(hashers[0] if hashers else None)

    @property
    def _repository(self) -> Repository[Any]:
        return self._fixed if self._fixed is not None else bound_repository(self._model)

    def _principal(self, user: Any) -> Principal:
        roles = getattr(user, self._roles) if self._roles is not None else ()
        return Principal(subject=user.id, roles=frozenset(roles or ()))

    async def authenticate(self, username: str, password: str) -> Principal | None:
        """Return the user's principal when the password is right, else ``None``."""
        value: Any = username
        try:
            for convert in self._normalisers:
                value = convert(value)
            condition = getattr(self._model, self._username) == value
        except (ValueError, TypeError, HexkernelError):
            self._dummy.waste_time(password)
            return None
        found = await self._repository.find(
            Query(self._model).where(condition).take(1), unfiltered=True
        )
        if not found:
            self._dummy.waste_time(password)
            return None
        user = found[0]
        stored = getattr(user, self._password)
        if not isinstance(stored, str) or not verify_password(stored, password):
            return None
        return self._principal(user)

    async def principal(self, subject: str) -> Principal | None:
        """Return the current principal of user ``subject``, or ``None`` if it is gone.

        Runs whenever the authenticator's cache misses (on every request
        without one), so it reads the roles alone, by id, and with a
        repository that offers it (:class:`FieldReader`, as both stores'
        do) without building a query or a Model.
        """
        repository = self._repository
        known = self._reader
        if known is None or known[0] is not repository:
            # isinstance() against a Protocol is slow: once per repository.
            known = self._reader = (repository, isinstance(repository, FieldReader))
        if known[1]:
            found = await repository.read_fields(subject, self._read, unfiltered=True)  # type: ignore[attr-defined]
            if found is None:
                return None
            roles = found.get(self._roles) if self._roles is not None else None
            return Principal(subject=subject, roles=_role_names(roles))
        same_id = self._model.id == subject
        if self._roles is None:
            found_count = await repository.count(same_id, unfiltered=True)
            return Principal(subject=subject) if found_count else None
        query = Query(self._model, filter=same_id, limit=1, projection=self._roles_only)
        users = await repository.find(query, unfiltered=True)
        return self._principal(users[0]) if users else None


def _role_names(stored: Any) -> frozenset[str]:
    """The roles of a stored list of strings (anything else: none)."""
    if not isinstance(stored, list):
        return frozenset()
    return frozenset(r for r in stored if isinstance(r, str))
