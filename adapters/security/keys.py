"""RS256 signing keys: a key ring read from PEM files, with one active key id.

Several keys may be configured at once so that keys can rotate: new tokens
are signed with the active ``kid``; tokens signed with any other configured
key still verify until that key is removed. A retired key may be given by its
public key alone. Without configured keys the ring makes an ephemeral
2048-bit pair and warns: tokens then stop verifying when the process restarts.

Nothing here logs or reports key material: messages name key ids and file
paths only.
"""

import base64
import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

__all__ = ("KeyRing", "KeySource", "SigningKey")

log = logging.getLogger("hexkernel.security")

_MIN_BITS = 2048


@attrs.frozen(kw_only=True)
class KeySource:
    """Where one key of the ring comes from.

    Attributes:
        kid: The key id published in the JWKS and in token headers.
        private_key_file: A PEM file with the RSA private key (PKCS#1 or PKCS#8).
        public_key_file: A PEM file with the public key only (a retired key
            that still verifies tokens but never signs).
        passphrase: The passphrase of an encrypted private key file.
    """

    kid: str
    private_key_file: str | None = None
    public_key_file: str | None = None
    passphrase: str | None = attrs.field(default=None, repr=False)


@attrs.frozen(kw_only=True)
class SigningKey:
    """One RSA key: its id, its public half and, if it can sign, its private half."""

    kid: str
    public_key: rsa.RSAPublicKey = attrs.field(repr=False)
    private_key: rsa.RSAPrivateKey | None = attrs.field(default=None, repr=False)

    def jwk(self) -> dict[str, Any]:
        """The public key as a JSON Web Key (RFC 7517) with ``kid``, ``use`` and ``alg``."""
        data = RSAAlgorithm.to_jwk(self.public_key, as_dict=True)
        assert isinstance(data, Mapping)  # noqa: S101 - as_dict=True returns a mapping
        public = {k: v for k, v in data.items() if k != "key_ops"}  # "use" says it instead
        return {**public, "kid": self.kid, "use": "sig", "alg": "RS256"}


def _thumbprint(public_key: rsa.RSAPublicKey) -> str:
    """RFC 7638 thumbprint: a key id derived from the key itself."""
    jwk = RSAAlgorithm.to_jwk(public_key, as_dict=True)
    assert isinstance(jwk, Mapping)  # noqa: S101 - as_dict=True returns a mapping
    canonical = json.dumps(
        {"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}, separators=(",", ":"), sort_keys=True
    )
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _read(kid: str, path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"key {kid!r}: cannot read {path} ({exc.strerror})") from None


def _load(source: KeySource) -> SigningKey:
    if source.private_key_file is not None:
        data = _read(source.kid, source.private_key_file)
        password = source.passphrase.encode() if source.passphrase is not None else None
        try:
            private = serialization.load_pem_private_key(data, password=password)
        except (ValueError, TypeError):
            raise ValueError(
                f"key {source.kid!r}: {source.private_key_file} is not a readable PEM private key"
                " (or the passphrase is wrong)"
            ) from None
        if not isinstance(private, rsa.RSAPrivateKey):
            raise ValueError(f"key {source.kid!r}: {source.private_key_file} is not an RSA key")
        if private.key_size < _MIN_BITS:
            raise ValueError(f"key {source.kid!r}: RSA keys need at least {_MIN_BITS} bits")
        return SigningKey(kid=source.kid, public_key=private.public_key(), private_key=private)
    if source.public_key_file is not None:
        data = _read(source.kid, source.public_key_file)
        try:
            public = serialization.load_pem_public_key(data)
        except ValueError:
            raise ValueError(
                f"key {source.kid!r}: {source.public_key_file} is not a readable PEM public key"
            ) from None
        if not isinstance(public, rsa.RSAPublicKey):
            raise ValueError(f"key {source.kid!r}: {source.public_key_file} is not an RSA key")
        return SigningKey(kid=source.kid, public_key=public)
    raise ValueError(f"key {source.kid!r}: give private_key_file or public_key_file")


class KeyRing:
    """The RSA keys of an issuer, by ``kid``, with the one that signs.

    Args:
        keys: The keys; ids must be unique.
        active_kid: The key that signs; it must have a private key. Defaults
            to the first key that has one.

    Raises:
        ValueError: Duplicate ids, no signing key, or an unknown ``active_kid``.
    """

    def __init__(self, keys: Sequence[SigningKey], active_kid: str | None = None) -> None:
        self._keys = {k.kid: k for k in keys}
        if len(self._keys) != len(keys):
            raise ValueError("key ids must be unique")
        if active_kid is None:
            active_kid = next((k.kid for k in keys if k.private_key is not None), None)
            if active_kid is None:
                raise ValueError("no key can sign: give at least one private_key_file")
        active = self._keys.get(active_kid)
        if active is None:
            raise ValueError(f"the active key {active_kid!r} is not configured")
        if active.private_key is None:
            raise ValueError(f"the active key {active_kid!r} has no private key")
        self._active = active

    @classmethod
    def from_sources(cls, sources: Sequence[KeySource], active_kid: str | None = None) -> "KeyRing":
        """Read every key from its PEM file; without sources, make an ephemeral pair.

        Raises:
            ValueError: A file cannot be read or holds no usable RSA key
                (the message names the key id and the path, never the content).
        """
        if not sources:
            return cls.ephemeral()
        ring = cls([_load(s) for s in sources], active_kid)
        log.info("signing keys loaded: %s (active: %s)", ", ".join(ring.kids), ring.active_kid)
        return ring

    @classmethod
    def ephemeral(cls) -> "KeyRing":
        """A ring holding one fresh 2048-bit key; warns that tokens die with the process."""
        private = rsa.generate_private_key(public_exponent=65537, key_size=_MIN_BITS)
        kid = _thumbprint(private.public_key())
        log.warning(
            "no signing keys configured (auth.keys): using an ephemeral key %s; "
            "tokens will not verify after a restart or on another instance",
            kid,
        )
        return cls([SigningKey(kid=kid, public_key=private.public_key(), private_key=private)])

    @property
    def active_kid(self) -> str:
        """The id of the signing key."""
        return self._active.kid

    @property
    def active(self) -> SigningKey:
        """The signing key."""
        return self._active

    @property
    def kids(self) -> tuple[str, ...]:
        """Every key id, in configuration order."""
        return tuple(self._keys)

    def public_key(self, kid: str) -> rsa.RSAPublicKey | None:
        """The public key with id ``kid``, or ``None``."""
        key = self._keys.get(kid)
        return key.public_key if key is not None else None

    def jwks(self) -> dict[str, Any]:
        """The JSON Web Key Set of every public key."""
        return {"keys": [k.jwk() for k in self._keys.values()]}
