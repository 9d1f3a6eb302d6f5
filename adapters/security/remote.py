"""Resource-server mode: trust an external issuer (Keycloak, say) by its JWKS URL.

The issuer's keys are fetched with httpx and cached. A token naming a ``kid``
that is not in the cache triggers one refetch, at most once per
``min_refetch_interval`` seconds (so a flood of forged ``kid`` values cannot
turn into a flood of requests to the issuer); a failing fetch is retried with
tenacity (exponential back-off, a few attempts). Tokens are then checked as
locally issued ones are: RS256 only, signature, ``exp``, ``nbf``, ``iss``
and ``aud``.
"""

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from hexkernel.adapters.security.jwt import TokenCache, decode_rs256, unverified_kid
from hexkernel.core.errors import InvalidToken, IssuerUnavailable

__all__ = ("RemoteJwksVerifier",)

log = logging.getLogger("hexkernel.security")


class _Retryable(Exception):
    """A JWKS fetch failed in a way worth retrying (network, 5xx)."""


class RemoteJwksVerifier:
    """Verifies tokens of an external issuer against its published keys (``TokenVerifier``).

    Args:
        jwks_url: The issuer's JWKS document.
        issuer: The required ``iss``.
        audience: The required ``aud``.
        leeway: Seconds of clock skew tolerated on ``exp`` and ``nbf``.
        min_refetch_interval: Seconds between two fetches caused by unknown ``kid`` values.
        attempts: Attempts per fetch (tenacity).
        client: The httpx client (tests inject one with a mock transport);
            by default one is made and kept.
        cache: The verified-token cache.
        clock: Monotonic seconds, for the refetch limit.
    """

    def __init__(
        self,
        jwks_url: str,
        *,
        issuer: str,
        audience: str,
        leeway: float = 0,
        min_refetch_interval: float = 30,
        attempts: int = 3,
        client: httpx.AsyncClient | None = None,
        cache: TokenCache | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = jwks_url
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway
        self._interval = min_refetch_interval
        self._attempts = attempts
        self._client = client
        self._owns_client = client is None
        self._cache = cache if cache is not None else TokenCache()
        self._clock = clock
        self._keys: dict[str, rsa.RSAPublicKey] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0
        """How many times the JWKS was fetched (for monitoring and tests)."""

    async def verify(self, token: str) -> Mapping[str, Any]:
        """Return the verified claims of ``token``.

        Raises:
            InvalidToken: The token is refused; ``reason`` names why.
            IssuerUnavailable: No key is known and the JWKS cannot be fetched.
        """
        cached = self._cache.get(token)
        if cached is not None:
            return cached
        kid = unverified_kid(token)
        key = self._keys.get(kid)
        if key is None:
            key = await self._refetch_for(kid)
        claims = decode_rs256(
            token, key, issuer=self._issuer, audience=self._audience, leeway=self._leeway
        )
        self._cache.put(token, claims)
        return claims

    async def _refetch_for(self, kid: str) -> rsa.RSAPublicKey:
        async with self._lock:
            if kid in self._keys:  # another request fetched it meanwhile
                return self._keys[kid]
            now = self._clock()
            if self._fetched_at is not None and now - self._fetched_at < self._interval:
                if not self._keys:
                    raise IssuerUnavailable("the token issuer's keys cannot be fetched")
                raise InvalidToken("unknown_kid")
            self._fetched_at = now
            try:
                self._keys = await self._fetch()
            except IssuerUnavailable:
                if not self._keys:
                    raise
                log.warning("the issuer's JWKS could not be refreshed; keeping the known keys")
        key = self._keys.get(kid)
        if key is None:
            raise InvalidToken("unknown_kid")
        return key

    async def _fetch(self) -> dict[str, rsa.RSAPublicKey]:
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self._attempts),
                wait=wait_exponential(multiplier=0.1, max=2),
                retry=retry_if_exception_type(_Retryable),
                reraise=True,
            ):
                with attempt:
                    document = await self._get()
        except _Retryable as exc:
            log.warning("the issuer's JWKS at %s cannot be fetched: %s", self._url, exc)
            raise IssuerUnavailable("the token issuer's keys cannot be fetched") from None
        return self._parse(document)

    async def _get(self) -> Any:
        self.fetches += 1
        client = self._client
        if client is None:
            client = self._client = httpx.AsyncClient(timeout=5)
        try:
            response = await client.get(self._url, headers={"Accept": "application/json"})
        except httpx.InvalidURL:
            raise IssuerUnavailable("the JWKS URL is not valid") from None
        except httpx.HTTPError as exc:
            raise _Retryable(type(exc).__name__) from None
        if response.status_code >= 500:  # noqa: PLR2004 - server errors are worth a retry
            raise _Retryable(f"status {response.status_code}")
        if response.status_code != 200:  # noqa: PLR2004
            raise IssuerUnavailable(f"the JWKS URL answered {response.status_code}")
        try:
            return response.json()
        except ValueError:
            raise IssuerUnavailable("the JWKS URL did not answer JSON") from None

    def _parse(self, document: Any) -> dict[str, rsa.RSAPublicKey]:
        keys: dict[str, rsa.RSAPublicKey] = {}
        entries = document.get("keys") if isinstance(document, dict) else None
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, dict) or entry.get("kty") != "RSA" or not entry.get("kid"):
                continue
            if entry.get("use", "sig") != "sig":
                continue
            try:
                key = jwt.PyJWK.from_dict(entry, algorithm="RS256").key
            except jwt.PyJWKError:
                continue
            if isinstance(key, rsa.RSAPublicKey):
                keys[str(entry["kid"])] = key
        if not keys:
            raise IssuerUnavailable("the issuer publishes no usable RS256 key")
        log.info("keys of the token issuer: %s", ", ".join(sorted(keys)))
        return keys

    async def aclose(self) -> None:
        """Close the httpx client if this verifier made it (a later fetch makes a new one)."""
        if self._owns_client and self._client is not None:
            client, self._client = self._client, None
            await client.aclose()
