"""Resource-server mode: keys fetched from a JWKS URL, cached, refetched with limits and retries."""

import httpx
import pytest
from hk_testing.security import AUDIENCE, ISSUER, forge, make_key_files

from hexkernel.adapters.security import RemoteJwksVerifier, SigningKey
from hexkernel.core.errors import InvalidToken, IssuerUnavailable

pytestmark = pytest.mark.anyio

URL = "https://idp.test/realms/main/protocol/openid-connect/certs"


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return make_key_files(tmp_path_factory.mktemp("keys"))


class Issuer:
    """A fake identity provider over httpx.MockTransport: its JWKS, and failures on demand."""

    def __init__(self, keys, kids=("k1",)):
        self.keys = keys
        self.kids = list(kids)
        self.failures: list[object] = []
        self.requests = 0

    def jwks(self):
        published = [
            SigningKey(kid=k, public_key=self.keys.keys[k].public_key()).jwk() for k in self.kids
        ]
        ignored = {"kty": "EC", "kid": "ec", "crv": "P-256", "x": "", "y": ""}
        return {"keys": [*published, ignored]}

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        assert str(request.url) == URL
        if self.failures:
            failure = self.failures.pop(0)
            if isinstance(failure, Exception):
                raise failure
            return httpx.Response(int(failure))
        return httpx.Response(200, json=self.jwks())


@pytest.fixture
def issuer(keys):
    return Issuer(keys)


def _verifier(issuer, **options):
    now = [0.0]
    verifier = RemoteJwksVerifier(
        URL,
        issuer=ISSUER,
        audience=AUDIENCE,
        client=httpx.AsyncClient(transport=httpx.MockTransport(issuer.handler)),
        clock=lambda: now[0],
        **options,
    )
    return verifier, now


async def test_keys_are_fetched_once_and_cached(issuer, keys):
    verifier, _ = _verifier(issuer)
    for subject in ("a", "b", "c"):
        claims = await verifier.verify(forge(keys.keys["k1"], subject=subject))
        assert claims["sub"] == subject
    assert issuer.requests == 1
    await verifier.aclose()


async def test_an_unknown_kid_refetches_at_most_once_per_interval(issuer, keys):
    verifier, now = _verifier(issuer, min_refetch_interval=30)
    await verifier.verify(forge(keys.keys["k1"]))
    for _ in range(5):
        with pytest.raises(InvalidToken) as caught:
            await verifier.verify(forge(keys.keys["k1"], kid="forged"))
        assert caught.value.reason == "unknown_kid"
    assert issuer.requests == 1  # the first fetch was just now: no refetch yet
    issuer.kids.append("k2")  # the issuer rotates
    now[0] = 31
    claims = await verifier.verify(forge(keys.keys["k2"], kid="k2"))
    assert claims["sub"] == "usr_nobody"
    assert issuer.requests == 2
    await verifier.verify(forge(keys.keys["k1"]))
    assert issuer.requests == 2


async def test_a_failing_fetch_is_retried(issuer, keys):
    issuer.failures = [503, httpx.ConnectError("refused")]
    verifier, _ = _verifier(issuer, attempts=3)
    claims = await verifier.verify(forge(keys.keys["k1"]))
    assert claims["iss"] == ISSUER
    assert issuer.requests == 3
    assert verifier.fetches == 3


async def test_an_unreachable_issuer_without_known_keys_is_unavailable(issuer, keys):
    issuer.failures = [500, 502, 503, 504]
    verifier, now = _verifier(issuer, attempts=3, min_refetch_interval=30)
    with pytest.raises(IssuerUnavailable):
        await verifier.verify(forge(keys.keys["k1"]))
    assert issuer.requests == 3
    with pytest.raises(IssuerUnavailable):  # rate-limited: no new request
        await verifier.verify(forge(keys.keys["k1"]))
    assert issuer.requests == 3
    now[0] = 31
    assert (await verifier.verify(forge(keys.keys["k1"])))["aud"] == AUDIENCE


async def test_a_failed_refresh_keeps_the_known_keys(issuer, keys):
    verifier, _ = _verifier(issuer, attempts=2, min_refetch_interval=0)
    await verifier.verify(forge(keys.keys["k1"]))
    issuer.failures = [500, 500]
    with pytest.raises(InvalidToken):
        await verifier.verify(forge(keys.keys["k2"], kid="k2"))
    token = forge(keys.keys["k1"], subject="still")
    assert (await verifier.verify(token))["sub"] == "still"


async def test_a_client_error_is_not_retried(issuer, keys):
    issuer.failures = [404]
    verifier, _ = _verifier(issuer)
    with pytest.raises(IssuerUnavailable):
        await verifier.verify(forge(keys.keys["k1"]))
    assert issuer.requests == 1


async def test_issuer_and_audience_are_checked(issuer, keys):
    verifier, _ = _verifier(issuer)
    with pytest.raises(InvalidToken) as wrong_issuer:
        await verifier.verify(forge(keys.keys["k1"], iss="https://other.test"))
    assert wrong_issuer.value.reason == "wrong_issuer"
    with pytest.raises(InvalidToken) as wrong_audience:
        await verifier.verify(forge(keys.keys["k1"], aud="other"))
    assert wrong_audience.value.reason == "wrong_audience"
    with pytest.raises(InvalidToken) as bad_signature:
        await verifier.verify(forge(keys.stranger, kid="k1"))
    assert bad_signature.value.reason == "bad_signature"
    with pytest.raises(InvalidToken) as algorithm:
        await verifier.verify(forge(None, algorithm="none"))
    assert algorithm.value.reason == "algorithm"


async def test_a_document_without_usable_keys_is_unavailable(keys):
    def handler(_):
        return httpx.Response(200, json={"keys": [{"kty": "oct", "kid": "x", "k": "c2VjcmV0"}]})

    verifier = RemoteJwksVerifier(
        URL,
        issuer=ISSUER,
        audience=AUDIENCE,
        client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
    )
    with pytest.raises(IssuerUnavailable):
        await verifier.verify(forge(keys.keys["k1"]))


async def test_an_invalid_url_is_unavailable_without_retries(keys):
    verifier = RemoteJwksVerifier(
        "http://127.0.0.1:notaport/jwks", issuer=ISSUER, audience=AUDIENCE
    )
    with pytest.raises(IssuerUnavailable):
        await verifier.verify(forge(keys.keys["k1"]))
    assert verifier.fetches == 1
    await verifier.aclose()


async def test_closing_keeps_an_injected_client_open_and_its_own_reopens(issuer, keys):
    verifier, _ = _verifier(issuer)
    await verifier.aclose()
    assert (await verifier.verify(forge(keys.keys["k1"])))["sub"] == "usr_nobody"
    own = RemoteJwksVerifier(
        "http://127.0.0.1:1/jwks", issuer=ISSUER, audience=AUDIENCE, attempts=1
    )
    with pytest.raises(IssuerUnavailable):
        await own.verify(forge(keys.keys["k1"]))
    await own.aclose()
    own._fetched_at = None
    with pytest.raises(IssuerUnavailable):  # a fresh client, not a closed one
        await own.verify(forge(keys.keys["k1"]))
    await own.aclose()
