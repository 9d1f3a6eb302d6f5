"""Envelopes: wrapping messages with their ids, the JSON form, strict reading."""

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hexkernel.core.correlation import correlated
from hexkernel.core.envelope import Envelope, causation_id, caused_by
from hexkernel.core.errors import ValidationError
from hexkernel.core.messages import Event, MessageRegistry, message

MESSAGES = MessageRegistry()


@message("hk_env.Moved", version=2, into=MESSAGES)
class Moved(Event):
    to: str
    steps: int = 1


@MESSAGES.upcaster("hk_env.Moved", 1)
def _(data):
    return {**data, "steps": 0}


def test_wrapping_records_the_message_its_type_and_the_bound_ids():
    with correlated("corr-1"), caused_by("msg_earlier"):
        envelope = Envelope.wrap(Moved(to="north"), registry=MESSAGES)

    assert envelope.message_id.startswith("msg_")
    assert (envelope.type, envelope.version, envelope.data) == (
        "hk_env.Moved",
        2,
        {"to": "north", "steps": 1},
    )
    assert (envelope.correlation_id, envelope.causation_id) == ("corr-1", "msg_earlier")
    assert envelope.occurred_at.tzinfo is dt.UTC
    assert causation_id() is None
    assert envelope.open(MESSAGES) == Moved(to="north")


def test_an_old_version_is_upcast_when_opened():
    old = Envelope(message_id="msg_1", type="hk_env.Moved", version=1, data={"to": "east"})
    assert old.open(MESSAGES) == Moved(to="east", steps=0)


@given(
    to=st.text(),
    steps=st.integers(min_value=-(2**53), max_value=2**53),
    correlation=st.none() | st.text(min_size=1),
)
def test_the_json_form_reads_back_equal(to, steps, correlation):
    with correlated(correlation):
        envelope = Envelope.wrap(Moved(to=to, steps=steps), registry=MESSAGES)
    assert Envelope.from_json(envelope.to_json()) == envelope
    assert Envelope.from_dict(envelope.to_dict()) == envelope


def test_reading_reports_every_problem_at_once():
    with pytest.raises(ValidationError) as caught:
        Envelope.from_dict({"type": 3, "version": True, "data": [], "extra": 1})

    codes = {(item.field, item.code) for item in caught.value.errors}
    assert codes == {
        ("extra", "unknown_field"),
        ("message_id", "missing"),
        ("type", "invalid_type"),
        ("version", "invalid_type"),
        ("data", "invalid_type"),
        ("occurred_at", "missing"),
    }


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("not json", "invalid_json"),
        ("[]", "invalid_type"),
        (
            '{"message_id":"m","type":"t","version":1,"data":{},"occurred_at":"yesterday"}',
            "invalid_format",
        ),
        (
            '{"message_id":"m","type":"t","version":1,"data":{},"occurred_at":"2026-01-01T00:00:00"}',
            "invalid_format",
        ),
    ],
)
def test_malformed_text_is_refused_with_a_code(text, code):
    with pytest.raises(ValidationError) as caught:
        Envelope.from_json(text)
    assert [item.code for item in caught.value.errors] == [code]
