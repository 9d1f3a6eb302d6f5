"""Whatever a client sends as a bearer token, the refusal is an InvalidToken, never a crash."""

import pytest
from hk_testing.security import AUDIENCE, ISSUER, make_key_files
from hypothesis import given
from hypothesis import strategies as st

from hexkernel.adapters.security import JwtVerifier, KeyRing, KeySource
from hexkernel.core.errors import InvalidToken
from hexkernel.interfaces.http.auth import _bearer_token, _header_token

B64 = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=", max_size=60
)


@pytest.fixture(scope="module")
def verifier(tmp_path_factory):
    keys = make_key_files(tmp_path_factory.mktemp("keys"))
    ring = KeyRing.from_sources([KeySource(kid="k1", private_key_file=str(keys.paths["k1"]))])
    return JwtVerifier(ring, issuer=ISSUER, audience=AUDIENCE)


@given(st.binary(max_size=200))
def test_any_header_is_a_token_or_an_invalid_token(raw):
    try:
        token = _bearer_token([raw])
    except InvalidToken as exc:
        assert exc.reason == "malformed"
    else:
        assert raw.lower().startswith(b"bearer")
        assert token
        assert token in raw.decode()


def _outcome(parse, values):
    try:
        return parse(values)
    except InvalidToken as exc:
        return ("refused", exc.reason, str(exc))


@given(
    st.one_of(
        st.binary(max_size=200),
        st.builds(
            lambda scheme, gap, token, tail: scheme + gap + token + tail,
            st.sampled_from([b"Bearer", b"bearer", b"BEARER", b"BeArEr", b"Basic", b" Bearer"]),
            st.sampled_from([b" ", b"  ", b"\t", b"", b" \t "]),
            st.binary(max_size=80) | B64.map(str.encode),
            st.sampled_from([b"", b" ", b"\t", b"\r", b" x", b"\n"]),
        ),
    ),
    st.integers(min_value=1, max_value=2),
)
def test_the_fast_path_reads_every_header_as_the_full_parser_does(raw, count):
    values = [raw] * count
    assert _outcome(_header_token, values) == _outcome(_bearer_token, values)


def test_the_scheme_is_case_insensitive_and_one_header_only():
    assert _bearer_token([b"bearer abc.def.ghi"]) == "abc.def.ghi"
    assert _bearer_token([b"BEARER  abc.def.ghi "]) == "abc.def.ghi"
    with pytest.raises(InvalidToken):
        _bearer_token([b"Bearer a", b"Bearer a"])


@given(st.one_of(st.text(max_size=200), st.builds(".".join, st.lists(B64, min_size=1, max_size=4))))
@pytest.mark.anyio
async def test_any_token_text_is_refused_as_an_invalid_token(verifier, token):
    with pytest.raises(InvalidToken):
        await verifier.verify(token)
