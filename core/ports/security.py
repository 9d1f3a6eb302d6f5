"""Security ports: signing and verifying tokens, refresh tokens, the users who may log in.

Adapters implement them in :mod:`hexkernel.adapters.security`; the token
service and the authenticator of :mod:`hexkernel.application.auth` use them.
No port method ever logs or returns a password, a hash, a key or a token in an
error.
"""

import datetime as dt
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import attrs

from hexkernel.core.security import Principal

__all__ = (
    "RefreshRecord",
    "RefreshTokenStore",
    "TokenIssuer",
    "TokenVerifier",
    "UserDirectory",
)


@runtime_checkable
class TokenIssuer(Protocol):
    """Signs access tokens with the active key and publishes the public keys."""

    @property
    def active_kid(self) -> str:
        """The id of the key new tokens are signed with."""
        ...

    def sign(self, claims: Mapping[str, Any]) -> str:
        """Return a signed JWT holding ``claims``, with the active ``kid`` in its header."""
        ...

    def jwks(self) -> dict[str, Any]:
        """Return the JSON Web Key Set of every public key that verifies tokens."""
        ...


@runtime_checkable
class TokenVerifier(Protocol):
    """Checks a bearer token: algorithm, key, signature, issuer, audience and times."""

    async def verify(self, token: str) -> Mapping[str, Any]:
        """Return the verified claims of ``token``.

        Raises:
            InvalidToken: The token is refused; ``reason`` names why.
            IssuerUnavailable: The keys of a remote issuer cannot be fetched.
        """
        ...


@attrs.frozen(kw_only=True)
class RefreshRecord:
    """What a refresh token stands for.

    Attributes:
        family: Shared by every refresh token descending from one login; a
            reuse revokes the whole family.
        subject: The user the token was issued to.
        client_id: The OAuth2 client it was issued to.
        scopes: The scopes granted at login (a refresh may narrow them).
        expires_at: When the token stops being accepted (UTC).
    """

    family: str
    subject: str
    client_id: str
    scopes: frozenset[str] = frozenset()
    expires_at: dt.datetime


@runtime_checkable
class RefreshTokenStore(Protocol):
    """Keeps refresh tokens single-use. Stores only a hash of each token, never the token."""

    async def add(self, token: str, record: RefreshRecord) -> None:
        """Remember a newly issued refresh ``token``."""
        ...

    async def consume(self, token: str, *, now: dt.datetime) -> RefreshRecord:
        """Spend ``token`` atomically (two concurrent calls cannot both succeed).

        Raises:
            RefreshTokenReused: It was spent before (carrying its family).
            InvalidToken: It is unknown (``unknown``), expired (``expired``)
                or its family was revoked (``revoked``).
        """
        ...

    async def revoke_family(self, family: str) -> int:
        """Revoke every token of ``family``; return how many were still usable."""
        ...


@runtime_checkable
class UserDirectory(Protocol):
    """The users who may log in with the password grant."""

    async def authenticate(self, username: str, password: str) -> Principal | None:
        """Return the user's principal when the password is right, else ``None``.

        A wrong password and an unknown user are indistinguishable, also in time.
        """
        ...

    async def principal(self, subject: str) -> Principal | None:
        """Return the current principal of user ``subject``, or ``None`` if it no longer exists.

        Tokens of a user that no longer exists are refused.
        """
        ...
