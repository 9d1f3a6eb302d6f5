"""Key ring, RS256 issuer and verifier, and the verified-token cache."""

import base64
import hashlib
import hmac
import json
import logging
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hk_testing.security import AUDIENCE, ISSUER, forge, make_key_files

from hexkernel.adapters.security import JwtIssuer, JwtVerifier, KeyRing, KeySource, TokenCache
from hexkernel.core.errors import InvalidToken

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return make_key_files(tmp_path_factory.mktemp("keys"))


@pytest.fixture
def ring(keys):
    return KeyRing.from_sources(
        [
            KeySource(kid="k1", private_key_file=str(keys.paths["k1"])),
            KeySource(kid="k2", public_key_file=str(keys.paths["k2.pub"])),
        ],
        active_kid="k1",
    )


def _verifier(ring, **options):
    return JwtVerifier(ring, issuer=ISSUER, audience=AUDIENCE, **options)


def _claims(**overrides):
    now = int(time.time())
    return {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "usr_1",
        "iat": now,
        "nbf": now,
        "exp": now + 60,
        **overrides,
    }


async def test_issued_tokens_carry_the_active_kid_and_verify(ring):
    issuer = JwtIssuer(ring)
    token = issuer.sign(_claims())
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "RS256", "kid": "k1", "typ": "at+jwt"}
    assert (await _verifier(ring).verify(token))["sub"] == "usr_1"
    assert issuer.active_kid == "k1"


async def test_a_verify_only_key_still_verifies_its_tokens(ring, keys):
    token = forge(keys.keys["k2"], kid="k2")
    assert (await _verifier(ring).verify(token))["sub"] == "usr_nobody"


def test_jwks_publishes_every_public_key_and_nothing_private(ring, keys):
    document = ring.jwks()
    assert [k["kid"] for k in document["keys"]] == ["k1", "k2"]
    for entry in document["keys"]:
        assert entry["kty"] == "RSA"
        assert entry["alg"] == "RS256"
        assert entry["use"] == "sig"
        assert not {"d", "p", "q", "dp", "dq", "qi"} & entry.keys()
    public = jwt.PyJWK.from_dict(document["keys"][0]).key
    assert public.public_numbers() == keys.keys["k1"].public_key().public_numbers()


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda _: forge(None, algorithm="none"), "algorithm"),
        (lambda k: forge(k.keys["k1"], kid="k9"), "unknown_kid"),
        (lambda k: forge(k.keys["k1"], kid=None), "malformed"),
        (lambda k: forge(k.stranger, kid="k1"), "bad_signature"),
        (lambda k: forge(k.keys["k1"], exp=int(time.time()) - 10), "expired"),
        (lambda k: forge(k.keys["k1"], nbf=int(time.time()) + 600), "not_yet_valid"),
        (lambda k: forge(k.keys["k1"], iss="https://evil.test"), "wrong_issuer"),
        (lambda k: forge(k.keys["k1"], aud="another-api"), "wrong_audience"),
        (lambda k: forge(k.keys["k1"], exp=None), "missing_claim"),
        (lambda k: forge(k.keys["k1"], sub=None), "missing_claim"),
        (lambda _: "not-a-token", "malformed"),
    ],
)
async def test_refusals_name_their_reason(ring, keys, make, reason):
    with pytest.raises(InvalidToken) as caught:
        await _verifier(ring).verify(make(keys))
    assert caught.value.reason == reason


async def test_hs256_signed_with_the_public_key_is_refused(ring, keys):
    pem = (
        keys.keys["k1"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    header = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "kid": "k1"}).encode())
    body = base64.urlsafe_b64encode(json.dumps(_claims()).encode())
    signing_input = header.rstrip(b"=") + b"." + body.rstrip(b"=")
    mac = hmac.new(pem, signing_input, hashlib.sha256).digest()
    token = (signing_input + b"." + base64.urlsafe_b64encode(mac).rstrip(b"=")).decode()
    with pytest.raises(InvalidToken) as caught:
        await _verifier(ring).verify(token)
    assert caught.value.reason == "algorithm"


async def test_a_tampered_payload_fails_the_signature(ring):
    token = JwtIssuer(ring).sign(_claims(roles=["user"]))
    head, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["roles"] = ["admin"]
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(InvalidToken) as caught:
        await _verifier(ring).verify(f"{head}.{forged}.{signature}")
    assert caught.value.reason == "bad_signature"


async def test_the_cache_serves_verified_tokens_until_exp():
    now = [1000.0]
    cache = TokenCache(ttl=60, clock=lambda: now[0])
    cache.put("t", {"exp": 1030})
    assert cache.get("t") == {"exp": 1030}
    now[0] = 1029.9
    assert cache.get("t") is not None
    now[0] = 1030
    assert cache.get("t") is None
    cache.put("u", {"exp": 5000})
    now[0] = 1091
    assert cache.get("u") is None
    cache.put("late", {"exp": 10})
    assert cache.get("late") is None


def test_a_full_cache_drops_stale_entries_first():
    now = [0.0]
    cache = TokenCache(ttl=10, max_entries=2, clock=lambda: now[0])
    cache.put("a", {"exp": 5})
    cache.put("b", {"exp": 100})
    now[0] = 6
    cache.put("c", {"exp": 100})
    assert cache.get("a") is None
    assert cache.get("b") is not None
    assert cache.get("c") is not None


def test_a_disabled_cache_keeps_nothing():
    cache = TokenCache(ttl=0)
    cache.put("t", {"exp": time.time() + 60})
    assert cache.get("t") is None


async def test_verification_uses_the_cache(ring, keys):
    cache = TokenCache(ttl=60)
    verifier = _verifier(ring, cache=cache)
    token = forge(keys.keys["k1"])
    await verifier.verify(token)
    assert cache.get(token) is not None
    assert (await verifier.verify(token))["sub"] == "usr_nobody"


def test_without_keys_the_ring_is_ephemeral_and_warns(caplog):
    with caplog.at_level(logging.WARNING, logger="hexkernel.security"):
        ring = KeyRing.from_sources([])
    assert ring.active_kid in caplog.text
    assert "ephemeral" in caplog.text
    assert ring.kids == (ring.active_kid,)


def test_key_errors_name_the_file_but_never_the_content(tmp_path):
    missing = tmp_path / "missing.pem"
    with pytest.raises(ValueError, match="cannot read"):
        KeyRing.from_sources([KeySource(kid="a", private_key_file=str(missing))])
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ValueError, match="not a readable PEM") as caught:
        KeyRing.from_sources([KeySource(kid="a", private_key_file=str(garbage))])
    assert "c2VjcmV0" not in str(caught.value)
    small = tmp_path / "small.pem"
    small.write_bytes(
        rsa.generate_private_key(65537, 1024).private_bytes(  # noqa: S505 - refused on purpose
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(ValueError, match="at least 2048"):
        KeyRing.from_sources([KeySource(kid="a", private_key_file=str(small))])
    curve = tmp_path / "ec.pem"
    curve.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(ValueError, match="not an RSA key"):
        KeyRing.from_sources([KeySource(kid="a", private_key_file=str(curve))])
    with pytest.raises(ValueError, match="give private_key_file"):
        KeyRing.from_sources([KeySource(kid="a")])


def test_ring_rules(keys):
    signing = KeySource(kid="k1", private_key_file=str(keys.paths["k1"]))
    public = KeySource(kid="k2", public_key_file=str(keys.paths["k2.pub"]))
    with pytest.raises(ValueError, match="unique"):
        KeyRing.from_sources([signing, signing])
    with pytest.raises(ValueError, match="no key can sign"):
        KeyRing.from_sources([public])
    with pytest.raises(ValueError, match="has no private key"):
        KeyRing.from_sources([signing, public], active_kid="k2")
    with pytest.raises(ValueError, match="not configured"):
        KeyRing.from_sources([signing], active_kid="zz")
    assert KeyRing.from_sources([public, signing]).active_kid == "k1"


def test_an_encrypted_key_needs_its_passphrase(tmp_path, keys):
    path = tmp_path / "enc.pem"
    path.write_bytes(
        keys.keys["k1"].private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"open sesame"),
        )
    )
    ring = KeyRing.from_sources(
        [KeySource(kid="e", private_key_file=str(path), passphrase="open sesame")]
    )
    assert ring.active_kid == "e"
    with pytest.raises(ValueError, match="passphrase"):
        KeyRing.from_sources([KeySource(kid="e", private_key_file=str(path), passphrase="no")])
