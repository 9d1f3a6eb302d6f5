"""Messages: declaration, the data form, type names, versions and upcasting."""

import datetime as dt
import enum
import uuid
from decimal import Decimal

import attrs
import pytest
from hk_testing.es_models import LEGACY, Deposited, DepositedV1, GetBalance
from hypothesis import given
from hypothesis import strategies as st

from hexkernel.core.errors import ModelDefinitionError, ValidationError
from hexkernel.core.messages import (
    Command,
    Event,
    Message,
    MessageRegistry,
    Query,
    message,
    registry,
)


class Level(enum.Enum):
    LOW = "low"
    HIGH = "high"


REGISTRY = MessageRegistry()


@message("test.Everything", version=3, into=REGISTRY)
class Everything(Event):
    text: str
    count: int
    amount: Decimal
    at: dt.datetime
    day: dt.date
    ref: uuid.UUID
    level: Level
    tags: list[str] = attrs.field(factory=list)
    note: str | None = None


def make_everything(**overrides):
    values = {
        "text": "hello",
        "count": 3,
        "amount": Decimal("45.00"),
        "at": dt.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC),
        "day": dt.date(2026, 1, 2),
        "ref": uuid.UUID(int=7),
        "level": Level.HIGH,
        "tags": ["a", "b"],
    }
    return Everything(**{**values, **overrides})


def test_a_message_is_a_frozen_keyword_only_value():
    event = make_everything()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        event.text = "changed"  # type: ignore[misc]
    with pytest.raises(TypeError):
        Everything("positional")  # type: ignore[misc]
    assert event == make_everything()
    deposit = Deposited(account_id="a", amount=Decimal(1), memo="")
    assert hash(deposit) == hash(Deposited(account_id="a", amount=Decimal(1), memo=""))


def test_the_type_name_and_version_are_on_the_class():
    assert Everything.__message_type__ == "test.Everything"
    assert Everything.__message_version__ == 3
    assert REGISTRY.resolve("test.Everything") is Everything
    assert isinstance(GetBalance(account_id="a"), Query)


def test_the_data_form_is_the_models_json_form():
    assert make_everything().to_dict() == {
        "text": "hello",
        "count": 3,
        "amount": "45.00",
        "at": "2026-01-02T03:04:05.678Z",
        "day": "2026-01-02",
        "ref": "00000000-0000-0000-0000-000000000007",
        "level": "high",
        "tags": ["a", "b"],
        "note": None,
    }


def test_the_data_form_reads_back_equal():
    event = make_everything(note="n")
    assert Everything.from_dict(event.to_dict()) == event
    assert REGISTRY.load(*REGISTRY.dump(event)) == event


def test_bad_data_lists_every_problem_with_its_path():
    with pytest.raises(ValidationError) as caught:
        Everything.from_dict(
            {
                "text": 1,
                "count": "3",
                "amount": "x",
                "at": "yesterday",
                "day": "2026-01-02",
                "ref": "not-a-uuid",
                "level": "medium",
                "tags": ["ok", 2],
                "extra": True,
            }
        )
    found = {(item.field, item.code) for item in caught.value.errors}
    assert {
        ("text", "invalid_type"),
        ("count", "invalid_type"),
        ("amount", "invalid_type"),
        ("ref", "invalid_type"),
        ("level", "invalid_choice"),
        ("tags[1]", "invalid_type"),
        ("extra", "unknown_field"),
    } <= found
    assert caught.value.model == "Everything"


def test_data_that_is_not_an_object_is_refused():
    with pytest.raises(ValidationError) as caught:
        Everything.from_dict(["text"])
    assert caught.value.errors[0].code == "invalid_type"


def test_a_missing_field_is_reported():
    with pytest.raises(ValidationError) as caught:
        Deposited.from_dict({"account_id": "a", "amount": "1.00"})
    assert [item.field for item in caught.value.errors] == ["memo"]


def test_an_upcaster_turns_old_data_into_the_current_version():
    old = DepositedV1(account_id="acc_1", amount=Decimal("3.00"))
    type_name, version, data = LEGACY.dump(old)

    assert (type_name, version) == ("hk_test.Deposited", 1)
    assert registry.load(type_name, version, data) == Deposited(
        account_id="acc_1", amount=Decimal("3.00"), memo="(before memos)"
    )


def test_upcasters_chain_from_any_old_version():
    chain = MessageRegistry()

    @message("test.Renamed", version=3, into=chain)
    class Renamed(Event):
        full_name: str
        source: str

    @chain.upcaster("test.Renamed", 1)
    def _(data):
        return {"full_name": data["name"]}

    @chain.upcaster("test.Renamed", 2)
    def _(data):
        return {**data, "source": "v2"}

    assert chain.load("test.Renamed", 1, {"name": "Ada"}) == Renamed(full_name="Ada", source="v2")
    assert chain.load("test.Renamed", 3, {"full_name": "B", "source": "s"}).source == "s"


def test_a_missing_upcaster_or_a_future_version_is_a_lookup_error():
    with pytest.raises(LookupError):
        REGISTRY.load("test.Everything", 1, {})
    with pytest.raises(LookupError):
        REGISTRY.load("test.Everything", 4, {})
    with pytest.raises(LookupError):
        REGISTRY.load("test.Unknown", 1, {})


def test_a_type_name_cannot_be_taken_twice():
    with pytest.raises(ModelDefinitionError):

        @message("test.Everything", into=REGISTRY)
        class Impostor(Event):
            x: int


def test_declarations_are_checked():
    with pytest.raises(ModelDefinitionError):
        message("test.Bad", version=0)
    with pytest.raises(ModelDefinitionError):

        @message("test.NotAMessage", into=REGISTRY)
        class Plain:  # type: ignore[type-var]
            x: int

    class Undeclared(Command):
        pass

    with pytest.raises(ModelDefinitionError):
        REGISTRY.dump(Undeclared())


def test_the_message_bases_are_distinct_kinds():
    assert issubclass(Deposited, Event)
    assert not issubclass(Deposited, Command)
    assert all(issubclass(k, Message) for k in (Command, Query, Event))


@given(
    amount=st.decimals(allow_nan=False, allow_infinity=False, places=2),
    memo=st.text(),
    account=st.text(min_size=1),
)
def test_data_round_trips_for_any_values(amount, memo, account):
    event = Deposited(account_id=account, amount=amount, memo=memo)
    assert Deposited.from_dict(event.to_dict()) == event
