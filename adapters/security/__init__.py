"""Security adapters: RS256 signing keys, JWT issuing and verifying, refresh-token stores.

The MongoDB store lives in :mod:`hexkernel.adapters.security.mongo_refresh_tokens`
so that importing this package never pulls in pymongo.
"""

from hexkernel.adapters.security.jwt import JwtIssuer, JwtVerifier, TokenCache
from hexkernel.adapters.security.keys import KeyRing, KeySource, SigningKey
from hexkernel.adapters.security.refresh_tokens import InMemoryRefreshTokenStore
from hexkernel.adapters.security.remote import RemoteJwksVerifier

__all__ = (
    "InMemoryRefreshTokenStore",
    "JwtIssuer",
    "JwtVerifier",
    "KeyRing",
    "KeySource",
    "RemoteJwksVerifier",
    "SigningKey",
    "TokenCache",
)
