"""Helpers for the security tests: PEM keys, a small app with users, a real server.

:func:`security_settings` configures two RS256 keys from PEM files (``k1``
signs, ``k2`` is an older key that still verifies), three OAuth2 clients and
short lifetimes. :func:`build_security_app` serves Tasks and Users with
authentication, plus ``GET /me`` (authenticated callers only, echoing the
principal). :func:`serve` runs any ASGI app under uvicorn on a free port.
"""

import base64
import hashlib
import hmac
import json
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from litestar import Request, get

from hexkernel.core.security import current_principal
from hexkernel.interfaces.bootstrap import RootContainer, Service
from hexkernel.interfaces.config import (
    AuthSettings,
    ClientSettings,
    KeySettings,
    MongoSettings,
    Secret,
    Settings,
)
from hexkernel.interfaces.http.app import create_app
from hexkernel.interfaces.http.auth import requires_authentication
from hexkernel.interfaces.http.resources import Resource
from hk_testing.models import FAST_HASHER, Task, User
from hk_testing.servers import free_port, serve

__all__ = (
    "AUDIENCE",
    "CLIENT_SECRETS",
    "ISSUER",
    "KeyFiles",
    "SecurityApp",
    "build_security_app",
    "forge",
    "free_port",
    "hs256_with_public_key",
    "make_key_files",
    "security_settings",
    "serve",
    "tamper",
)

ISSUER = "https://issuer.test"
AUDIENCE = "hexkernel-tests"
CLIENT_SECRETS = {
    "svc": "svc-secret-0f9e8d7c",
    "web": "web-secret-1a2b3c4d",
    "odd": "p+q:r/s %zz",  # characters that HTTP Basic clients encode differently
}


class KeyFiles:
    """Two RSA keys written as PEM files (``k1`` active, ``k2`` verify-only) and a stranger."""

    def __init__(self, folder: Path) -> None:
        self.keys = {kid: rsa.generate_private_key(65537, 2048) for kid in ("k1", "k2")}
        self.stranger = rsa.generate_private_key(65537, 2048)
        self.paths: dict[str, Path] = {}
        for kid, key in self.keys.items():
            path = folder / f"{kid}.pem"
            path.write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
            self.paths[kid] = path
        public = folder / "k2.pub.pem"
        public.write_bytes(
            self.keys["k2"]
            .public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        self.paths["k2.pub"] = public

    def pem_texts(self) -> list[str]:
        """The private keys' PEM text (to prove it never appears in logs)."""
        return [p.read_text() for kid, p in self.paths.items() if kid in self.keys]


def make_key_files(folder: Path) -> KeyFiles:
    return KeyFiles(folder)


def security_settings(
    keys: KeyFiles, *, mongo: MongoSettings | None = None, **auth: Any
) -> Settings:
    clients = {
        "svc": ClientSettings(
            secret_hash=Secret(FAST_HASHER.hash(CLIENT_SECRETS["svc"])),
            grants=["client_credentials"],
            scopes=["tasks:read", "tasks:write"],
            roles=["service"],
        ),
        "web": ClientSettings(
            secret_hash=Secret(FAST_HASHER.hash(CLIENT_SECRETS["web"])),
            grants=["password", "refresh_token"],
            scopes=["tasks:read", "tasks:write"],
        ),
        "spa": ClientSettings(grants=["password", "refresh_token"], scopes=["tasks:read"]),
        "odd": ClientSettings(secret_hash=Secret(FAST_HASHER.hash(CLIENT_SECRETS["odd"]))),
    }
    options: dict[str, Any] = {
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "keys": [
            KeySettings(kid="k1", private_key_file=str(keys.paths["k1"])),
            KeySettings(kid="k2", public_key_file=str(keys.paths["k2.pub"])),
        ],
        "active_kid": "k1",
        "clients": clients,
        "leeway_seconds": 0,
        **auth,
    }
    return Settings(mongo=mongo or MongoSettings(), auth=AuthSettings(**options))


@get("/me", name="me", guards=[requires_authentication], sync_to_thread=False)
def me(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """The bound principal, as the handlers of a service see it."""
    principal = current_principal()
    assert request.user is principal
    return {
        "subject": principal.subject,
        "roles": sorted(principal.roles),
        "scopes": sorted(principal.scopes),
        "client_id": principal.client_id,
    }


class SecurityApp:
    """The app under test with its service (to reach repositories directly)."""

    def __init__(self, settings: Settings, *, users: bool = True) -> None:
        self.service = Service(RootContainer.from_settings(settings), [Task, User])
        self.security = self.service.security(users=User if users else None)
        self.app = create_app(
            self.service,
            [
                Resource(Task, methods={"POST", "PATCH", "DELETE"}),
                Resource(User, methods={"POST", "DELETE"}),
            ],
            security=self.security,
        )
        self.app.register(me)


def build_security_app(settings: Settings, *, users: bool = True) -> SecurityApp:
    return SecurityApp(settings, users=users)


def forge(
    key: Any,
    *,
    kid: str | None = "k1",
    algorithm: str = "RS256",
    subject: str = "usr_nobody",
    **overrides: Any,
) -> str:
    """A token signed with ``key``, valid for the test settings unless ``overrides`` differ."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": subject,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
        "roles": ["user"],
        "scope": "tasks:read",
    }
    for name, value in overrides.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    headers = {"kid": kid} if kid is not None else {}
    return jwt.encode(claims, key, algorithm=algorithm, headers=headers)


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def hs256_with_public_key(public_key: rsa.RSAPublicKey, **overrides: Any) -> str:
    """The classic confusion attack: HS256 with the issuer's public PEM as the HMAC secret.

    Built by hand: pyjwt rightly refuses to sign HS256 with a PEM key.
    """
    valid = jwt.decode(
        forge(None, algorithm="none", kid=None, **overrides),
        options={"verify_signature": False},
    )
    pem = public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "k1"}).encode())
    signing_input = header + b"." + _b64(json.dumps(valid).encode())
    mac = hmac.new(pem, signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + _b64(mac)).decode()


def tamper(token: str, **changes: Any) -> str:
    """``token`` with its payload changed and its signature kept."""
    head, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    return f"{head}.{_b64(json.dumps(claims).encode()).decode()}.{signature}"
