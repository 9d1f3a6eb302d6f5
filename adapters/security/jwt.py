"""RS256 JSON Web Tokens with pyjwt: signing with a key ring, verifying with any published key.

Verification is strict and ordered so that each refusal names its reason:
the header must parse and name ``RS256`` (so ``none`` and ``HS256``, with the
public key as the HMAC secret, are refused before any key is used), the
``kid`` must be known, and then pyjwt checks the signature, ``exp``, ``nbf``,
``iss`` and ``aud`` and that every required claim is present. Tokens that
verified are kept in a small cache keyed by their SHA-256 digest (never by
the token), until their ``exp`` or the cache's time to live, whichever comes
first.
"""

import hashlib
import time
from collections.abc import Callable, Mapping
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from hexkernel.adapters.security.keys import KeyRing
from hexkernel.core.errors import InvalidToken

__all__ = ("REQUIRED_CLAIMS", "JwtIssuer", "JwtVerifier", "TokenCache", "decode_rs256")

ALGORITHM = "RS256"
REQUIRED_CLAIMS = ("exp", "iat", "nbf", "iss", "aud", "sub")

_REASONS: tuple[tuple[type[Exception], str], ...] = (
    (jwt.ExpiredSignatureError, "expired"),
    (jwt.ImmatureSignatureError, "not_yet_valid"),
    (jwt.InvalidIssuerError, "wrong_issuer"),
    (jwt.InvalidAudienceError, "wrong_audience"),
    (jwt.InvalidSignatureError, "bad_signature"),
    (jwt.MissingRequiredClaimError, "missing_claim"),
    (jwt.InvalidAlgorithmError, "algorithm"),
    (jwt.InvalidIssuedAtError, "invalid_claim"),
    (jwt.DecodeError, "malformed"),
)


class JwtIssuer:
    """Signs claims with the active key of a :class:`KeyRing` (the ``TokenIssuer`` port)."""

    def __init__(self, keys: KeyRing) -> None:
        self._keys = keys

    @property
    def active_kid(self) -> str:
        """The id of the key new tokens are signed with."""
        return self._keys.active_kid

    def sign(self, claims: Mapping[str, Any]) -> str:
        """Return the RS256 JWT of ``claims`` with ``kid`` and ``typ`` in its header."""
        active = self._keys.active
        assert active.private_key is not None  # noqa: S101 - the ring guarantees it
        return jwt.encode(
            dict(claims),
            active.private_key,
            algorithm=ALGORITHM,
            headers={"kid": active.kid, "typ": "at+jwt"},
        )

    def jwks(self) -> dict[str, Any]:
        """The JSON Web Key Set of every key of the ring."""
        return self._keys.jwks()


def unverified_kid(token: str) -> str:
    """Read the ``kid`` of a token's header after checking that it names RS256.

    Raises:
        InvalidToken: ``malformed`` (no readable header or no ``kid``) or
            ``algorithm`` (anything but RS256).
    """
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise InvalidToken("malformed") from None
    if header.get("alg") != ALGORITHM:
        raise InvalidToken("algorithm")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidToken("malformed", "the token names no key (kid)")
    return kid


def decode_rs256(
    token: str,
    key: rsa.RSAPublicKey,
    *,
    issuer: str,
    audience: str,
    leeway: float = 0,
) -> dict[str, Any]:
    """Verify ``token`` with ``key`` and return its claims.

    Raises:
        InvalidToken: Naming the first check that failed.
    """
    try:
        return jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=issuer,
            leeway=leeway,
            options={"require": list(REQUIRED_CLAIMS)},
        )
    except jwt.InvalidTokenError as exc:
        reason = next((r for kind, r in _REASONS if isinstance(exc, kind)), "invalid")
        raise InvalidToken(reason) from None


class TokenCache:
    """Verified claims by the SHA-256 digest of their token, until ``exp`` or ``ttl``.

    Written by hand because it is a dozen lines: a dict with expiry times,
    emptied of stale entries when it reaches ``max_entries``.

    Args:
        ttl: At most this many seconds per entry (0 turns the cache off).
        max_entries: The bound on memory.
        clock: Seconds since the epoch (``time.time``); tests pass their own.
    """

    def __init__(
        self,
        ttl: float = 60,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._clock = clock
        self._entries: dict[bytes, tuple[float, Mapping[str, Any]]] = {}

    @staticmethod
    def _key(token: str) -> bytes:
        return hashlib.sha256(token.encode()).digest()

    def get(self, token: str) -> Mapping[str, Any] | None:
        """The cached claims of ``token``, or ``None``."""
        if self._ttl <= 0:
            return None
        key = self._key(token)
        entry = self._entries.get(key)
        if entry is None:
            return None
        until, claims = entry
        if self._clock() >= until:
            self._entries.pop(key, None)
            return None
        return claims

    def put(self, token: str, claims: Mapping[str, Any]) -> None:
        """Remember the verified ``claims`` of ``token``."""
        if self._ttl <= 0:
            return
        now = self._clock()
        exp = claims.get("exp")
        until = now + self._ttl
        if isinstance(exp, (int, float)):
            until = min(until, float(exp))
        if until <= now:
            return
        if len(self._entries) >= self._max:
            self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
            if len(self._entries) >= self._max:
                self._entries.clear()
        self._entries[self._key(token)] = (until, claims)


class JwtVerifier:
    """Verifies tokens signed by a local key ring (the ``TokenVerifier`` port).

    Args:
        keys: The key ring; every key in it verifies.
        issuer: The required ``iss``.
        audience: The required ``aud``.
        leeway: Seconds of clock skew tolerated on ``exp`` and ``nbf``.
        cache: The verified-token cache (a default one when omitted).
    """

    def __init__(
        self,
        keys: KeyRing,
        *,
        issuer: str,
        audience: str,
        leeway: float = 0,
        cache: TokenCache | None = None,
    ) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway
        self._cache = cache if cache is not None else TokenCache()

    async def verify(self, token: str) -> Mapping[str, Any]:
        """Return the verified claims of ``token``.

        Raises:
            InvalidToken: The token is refused; ``reason`` names why.
        """
        cached = self._cache.get(token)
        if cached is not None:
            return cached
        kid = unverified_kid(token)
        key = self._keys.public_key(kid)
        if key is None:
            raise InvalidToken("unknown_kid")
        claims = decode_rs256(
            token, key, issuer=self._issuer, audience=self._audience, leeway=self._leeway
        )
        self._cache.put(token, claims)
        return claims
