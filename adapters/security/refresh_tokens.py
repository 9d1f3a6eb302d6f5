"""The in-memory refresh-token store: the embedded default and the test fake.

Like every store of the ``RefreshTokenStore`` port it keeps only the SHA-256
digest of each token. Refresh tokens are 256-bit random values, so a fast
digest is enough (a slow password hash protects guessable secrets only).
"""

import datetime as dt
import hashlib

import attrs

from hexkernel.core.errors import InvalidToken, RefreshTokenReused
from hexkernel.core.ports.security import RefreshRecord

__all__ = ("InMemoryRefreshTokenStore", "token_digest")


def token_digest(token: str) -> str:
    """The hex SHA-256 digest under which a refresh token is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


@attrs.define
class _Entry:
    record: RefreshRecord
    used: bool = False
    revoked: bool = False


class InMemoryRefreshTokenStore:
    """Refresh tokens in a dict, by digest. Single process only.

    Consuming is atomic because it never awaits between the check and the mark.
    """

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    async def add(self, token: str, record: RefreshRecord) -> None:
        """Remember a newly issued refresh ``token``."""
        self._entries[token_digest(token)] = _Entry(record)

    async def consume(self, token: str, *, now: dt.datetime) -> RefreshRecord:
        """Spend ``token``; see the port for the errors."""
        entry = self._entries.get(token_digest(token))
        if entry is None:
            raise InvalidToken("unknown", "the refresh token is not known")
        if entry.revoked:
            raise InvalidToken("revoked", "the refresh token was revoked")
        if entry.used:
            raise RefreshTokenReused(entry.record.family)
        if entry.record.expires_at <= now:
            raise InvalidToken("expired", "the refresh token has expired")
        entry.used = True
        return entry.record

    async def revoke_family(self, family: str) -> int:
        """Revoke every token of ``family``; return how many were still usable."""
        count = 0
        for entry in self._entries.values():
            if entry.record.family == family and not entry.revoked:
                count += not entry.used
                entry.revoked = True
        return count

    def __len__(self) -> int:
        return len(self._entries)
