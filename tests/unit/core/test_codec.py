"""The wire (JSON) and storage (document) forms of a Model."""

import datetime as dt
import json
import uuid
from decimal import Decimal

import pytest
from hk_testing.models import Address, Everything, Level, Line, Status, Task, User

from hexkernel.core import ValidationError


def everything(**overrides):
    values = {
        "text": "héllo",
        "count": 3,
        "ratio": 0.5,
        "flag": True,
        "amount": Decimal("12.50"),
        "ref": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "moment": dt.datetime(2024, 5, 1, 12, 30, 0, 250000, tzinfo=dt.UTC),
        "day": dt.date(2024, 5, 1),
        "status": Status.DOING,
        "level": Level.HIGH,
        "mode": "slow",
        "labels": {"b", "a"},
        "frozen": frozenset({3, 1}),
        "scores": {"x": 1.0},
        "home": Address(street="1 Main St", city="Springfield"),
        "lines": [Line(sku="ABC-123", quantity=2, price=Decimal("9.99"))],
        "stamp": dt.datetime(2024, 5, 1, tzinfo=dt.UTC),
        "stamp_ms": dt.datetime(2024, 5, 1, 0, 0, 0, 5000, tzinfo=dt.UTC),
        "birthday": dt.date(1990, 2, 3),
    }
    values.update(overrides)
    return Everything(**values)


class TestWireForm:
    def test_every_type_has_its_json_representation(self):
        data = everything(id="evr_1").to_dict()
        assert data == {
            "id": "evr_1",
            "inserted": None,
            "updated": None,
            "version": 0,
            "text": "héllo",
            "count": 3,
            "ratio": 0.5,
            "flag": True,
            "amount": "12.50",
            "ref": "12345678-1234-5678-1234-567812345678",
            "moment": "2024-05-01T12:30:00.250Z",
            "day": "2024-05-01",
            "status": "doing",
            "level": 2,
            "mode": "slow",
            "maybe": None,
            "names": [],
            "labels": ["a", "b"],
            "frozen": [1, 3],
            "scores": {"x": 1.0},
            "home": {"street": "1 Main St", "city": "Springfield", "zip": None},
            "lines": [{"sku": "ABC-123", "quantity": 2, "price": "9.99"}],
            "stamp": 1714521600.0,
            "stamp_ms": 1714521600005,
            "birthday": "1990-02-03T00:00:00Z",
        }
        assert json.loads(everything().to_json())["text"] == "héllo"

    def test_json_round_trip_restores_an_equal_instance(self):
        original = everything()
        assert Everything.from_json(original.to_json()) == original

    @pytest.mark.parametrize(
        ("field", "raw", "code"),
        [
            ("count", "3", "invalid_type"),
            ("count", 3.5, "invalid_type"),
            ("count", True, "invalid_type"),
            ("ratio", "0.5", "invalid_type"),
            ("flag", 1, "invalid_type"),
            ("amount", "12,5", "invalid_type"),
            ("amount", "NaN", "invalid_number"),
            ("amount", [1], "invalid_type"),
            ("ref", 12, "invalid_type"),
            ("moment", "2024-05-01T12:00:00", "naive_datetime"),
            ("moment", "2024-05-01", "invalid_datetime"),
            ("moment", "yesterday at noon", "invalid_datetime"),
            ("moment", 1714521600, "invalid_type"),
            ("day", "2024-02-30", "invalid_date"),
            ("day", "20240501", "invalid_date"),
            ("status", "OPEN", "invalid_choice"),
            ("level", True, "invalid_choice"),
            ("level", "2", "invalid_choice"),
            ("mode", "medium", "invalid_choice"),
            ("labels", "ab", "invalid_type"),
            ("names", "ab", "invalid_type"),
            ("scores", [1], "invalid_type"),
            ("home", "Springfield", "invalid_type"),
            ("text", None, "required"),
            ("stamp", "2024-05-01T00:00:00Z", "invalid_type"),
            ("stamp_ms", 1.5, "invalid_type"),
            ("birthday", "1990-02-03T10:00:00Z", "invalid_date"),
            ("stamp", 1e300, "invalid_datetime"),
        ],
    )
    def test_values_of_the_wrong_json_type_are_rejected_with_the_field_named(
        self, field, raw, code
    ):
        data = everything().to_dict()
        data[field] = raw
        with pytest.raises(ValidationError) as caught:
            Everything.from_dict(data)
        assert [(e.field, e.code) for e in caught.value.errors] == [(field, code)]

    def test_accepted_spellings(self):
        data = everything().to_dict()
        data.update(
            count=4.0,
            amount=12.5,
            moment="2024-05-01T14:30:00.250+02:00",
            ratio=1,
            ref="12345678123456781234567812345678",
        )
        loaded = Everything.from_dict(data)
        assert loaded.count == 4
        assert loaded.amount == Decimal("12.5")
        assert loaded.moment == dt.datetime(2024, 5, 1, 12, 30, 0, 250000, tzinfo=dt.UTC)
        assert loaded.ratio == 1.0
        assert isinstance(loaded.ratio, float)

    def test_unknown_fields_are_errors(self):
        data = Task(title="a").to_dict()
        data["colour"] = "red"
        with pytest.raises(ValidationError) as caught:
            Task.from_dict(data)
        assert [(e.field, e.code) for e in caught.value.errors] == [("colour", "unknown_field")]

    def test_unknown_fields_in_nested_models_are_errors(self):
        data = everything().to_dict()
        data["home"]["country"] = "US"
        with pytest.raises(ValidationError) as caught:
            Everything.from_dict(data)
        assert [(e.field, e.code) for e in caught.value.errors] == [
            ("home.country", "unknown_field")
        ]

    def test_non_object_payloads_are_errors(self):
        for payload in ([], "x", 1, None):
            with pytest.raises(ValidationError) as caught:
                Task.from_dict(payload)
            assert caught.value.errors[0].code == "invalid_type"

    def test_malformed_json_is_reported_as_such(self):
        with pytest.raises(ValidationError) as caught:
            Task.from_json('{"title": ')
        assert caught.value.errors[0].code == "malformed_json"

    def test_client_input_may_not_set_read_only_fields(self):
        data = {"title": "a", "id": "tsk_forged", "version": 7}
        with pytest.raises(ValidationError) as caught:
            Task.from_dict(data, writable_only=True)
        assert {(e.field, e.code) for e in caught.value.errors} == {
            ("id", "read_only"),
            ("version", "read_only"),
        }
        assert Task.from_dict(data).id == "tsk_forged", "trusted input may carry them"

    def test_excluded_fields_are_read_but_never_written(self):
        user = User.from_dict(
            {"email": "ann@example.com", "name": "Ann", "password": "long secret"}
        )
        assert user.password.startswith("$argon2id$")
        assert "password" not in user.to_dict()
        assert "argon2" not in user.to_json()


class TestStorageForm:
    def test_document_holds_every_field_with_native_types(self):
        user = User(
            id="usr_1",
            email="ann@example.com",
            name="Ann",
            password="long secret",
            born=dt.date(1990, 1, 2),
        )
        document = user.to_document()
        assert document["_id"] == "usr_1"
        assert "id" not in document
        assert document["password"].startswith("$argon2id$"), "excluded fields are persisted"
        assert document["born"] == dt.datetime(1990, 1, 2, tzinfo=dt.UTC), "no date type in MongoDB"

    def test_round_trip_keeps_types(self):
        original = everything()
        document = original.to_document()
        assert isinstance(document["amount"], Decimal)
        assert isinstance(document["ref"], uuid.UUID)
        assert document["day"] == dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
        assert document["status"] == "doing"
        assert document["labels"] in (["a", "b"], ["b", "a"])
        assert document["home"] == {"street": "1 Main St", "city": "Springfield", "zip": None}
        assert Everything.from_document(document) == original

    def test_loading_trusts_the_document_and_skips_validators_and_converters(self):
        user = User(email="ann@example.com", name="Ann", password="long secret")
        stored_hash = user.password
        loaded = User.from_document(user.to_document())
        assert loaded.password == stored_hash
        assert loaded == user

    def test_loading_tolerates_old_documents(self):
        document = Task(title="a").to_document()
        document["obsolete"] = 1
        del document["tags"]
        loaded = Task.from_document(document)
        assert loaded.tags == []

    def test_loading_accepts_driver_types(self):
        class Decimal128Like:
            def to_decimal(self):
                return Decimal("1.25")

        document = everything().to_document()
        document["amount"] = Decimal128Like()
        document["moment"] = dt.datetime(2024, 5, 1, 12, 0)  # noqa: DTZ001 - naive, as a driver without tz_aware
        loaded = Everything.from_document(document)
        assert loaded.amount == Decimal("1.25")
        assert loaded.moment == dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)

    def test_a_corrupt_document_is_a_validation_error(self):
        document = Task(title="a").to_document()
        document["priority"] = "high"
        del document["title"]
        with pytest.raises(ValidationError) as caught:
            Task.from_document(document)
        assert {(e.field, e.code) for e in caught.value.errors} == {
            ("priority", "invalid_type"),
            ("title", "required"),
        }
