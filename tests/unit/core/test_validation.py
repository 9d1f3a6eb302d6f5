"""Validation reports every problem at once, with paths, and nothing but ValidationError escapes."""

import datetime as dt
from decimal import Decimal

import pytest
from hk_testing.models import Address, Everything, Status, Task, User

from hexkernel.core import Embedded, ErrorItem, Field, Invalid, Model, ValidationError, model_check
from hexkernel.core import validators as v


def codes(exc: pytest.ExceptionInfo[ValidationError]) -> dict[str, str]:
    return {item.field: item.code for item in exc.value.errors}


class TestConstruction:
    def test_every_problem_is_reported_at_once(self):
        with pytest.raises(ValidationError) as caught:
            Task(title="   ", priority=9, tags=["a", "a"], estimate=0.0)
        assert codes(caught) == {
            "title": "empty",
            "priority": "too_large",
            "tags[1]": "duplicate_item",
            "estimate": "too_small",
        }
        assert caught.value.model == "Task"

    def test_wrong_types_missing_and_unknown_arguments_are_validation_errors(self):
        with pytest.raises(ValidationError) as caught:
            Task(priority="high", colour="red")  # type: ignore[call-arg]
        assert codes(caught) == {
            "title": "required",
            "colour": "unknown_field",
            "priority": "invalid_type",
        }

    def test_positional_arguments_are_refused(self):
        with pytest.raises(ValidationError) as caught:
            Task("Write docs")  # type: ignore[misc]
        assert "positional_arguments" in {e.code for e in caught.value.errors}

    def test_null_for_a_required_field_is_reported(self):
        with pytest.raises(ValidationError) as caught:
            Task(title=None)  # type: ignore[arg-type]
        assert codes(caught) == {"title": "required"}

    def test_bool_is_not_an_int(self):
        with pytest.raises(ValidationError) as caught:
            Task(title="a", priority=True)
        assert codes(caught) == {"priority": "invalid_type"}

    def test_enum_values_are_accepted_for_enum_fields(self):
        assert Task(title="a", status="done").status is Status.DONE  # type: ignore[arg-type]

    def test_assignment_is_converted_and_validated(self):
        task = Task(title="a")
        task.title = "  Trimmed  "
        assert task.title == "Trimmed"
        with pytest.raises(ValidationError) as caught:
            task.priority = 0
        assert codes(caught) == {"priority": "too_small"}
        assert task.priority == 3, "a rejected assignment changes nothing"

    def test_validation_error_is_a_value_error_and_reads_well(self):
        with pytest.raises(ValueError, match=r"priority: must be at most 5 \[too_large\]"):
            Task(title="a", priority=6)

    def test_messages_never_quote_the_value(self):
        secret = "hunter2-is-my-password"
        with pytest.raises(ValidationError) as caught:
            User(email=secret, name="x", password="pw1")
        text = str(caught.value) + repr(caught.value.as_list())
        assert secret not in text
        assert "pw1" not in text


class TestNestedPaths:
    def test_paths_reach_into_nested_models_and_lists_from_the_wire(self):
        payload = {
            "text": "t",
            "count": "3",
            "ratio": 1.5,
            "flag": True,
            "amount": "1.50",
            "ref": "not-a-uuid",
            "moment": "2024-05-01T12:00:00Z",
            "day": "2024-05-01",
            "status": "open",
            "level": 1,
            "mode": "fast",
            "home": {"street": "", "city": "Springfield", "zip": "12"},
            "lines": [
                {"sku": "ABC-123", "quantity": 1, "price": "2.00"},
                {"sku": "bad", "quantity": 0, "price": "-1"},
            ],
            "names": ["a", 2],
            "scores": {"x": "high"},
        }
        with pytest.raises(ValidationError) as caught:
            Everything.from_dict(payload)
        assert codes(caught) == {
            "count": "invalid_type",
            "ref": "invalid_type",
            "home.street": "empty",
            "home.zip": "pattern_mismatch",
            "lines[1].sku": "pattern_mismatch",
            "lines[1].quantity": "too_small",
            "lines[1].price": "too_small",
            "names[1]": "invalid_type",
            "scores.x": "invalid_type",
        }

    def test_item_validators_name_the_index(self):
        with pytest.raises(ValidationError) as caught:
            Task(title="a", tags=["ok", "", "x" * 21])
        assert codes(caught) == {"tags[1]": "too_short", "tags[2]": "too_long"}


class TestBuiltInValidators:
    @pytest.mark.parametrize(
        ("validator", "good", "bad", "code"),
        [
            (v.NotEmpty(), "x", " \t", "empty"),
            (v.NotEmpty(), [1], [], "empty"),
            (v.Length(min=2, max=3), "ab", "a", "too_short"),
            (v.Length(min=2, max=3), "abc", "abcd", "too_long"),
            (v.Range(min=1, max=5), 5, 6, "too_large"),
            (v.Range(min=1, exclusive_min=True), 2, 1, "too_small"),
            (v.Range(max=Decimal("9.99")), Decimal("9.99"), Decimal(10), "too_large"),
            (v.Pattern(r"^[a-z]+$"), "abc", "abc1", "pattern_mismatch"),
            (v.Email(), "ann.lee+tag@mail.example.org", "ann@localhost", "invalid_email"),
            (v.Email(), "a@b.co", "a b@c.de", "invalid_email"),
            (v.Url(), "https://example.org/a?b=c", "ftp://example.org", "invalid_url"),
            (v.Url(), "http://localhost:8000", "https://", "invalid_url"),
            (v.Url(), "http://example.org", "http://example.org:99999", "invalid_url"),
            (v.OneOf(["a", "b"]), "a", "c", "invalid_choice"),
            (v.UniqueItems(), [1, 2], [1, 2, 1], "duplicate_item"),
            (v.Past(), dt.date(2000, 1, 1), dt.date(2999, 1, 1), "not_past"),
            (
                v.Future(),
                dt.datetime(2999, 1, 1, tzinfo=dt.UTC),
                dt.datetime(2000, 1, 1, tzinfo=dt.UTC),
                "not_future",
            ),
            (v.Each(v.Range(min=0)), [0, 1], [0, -1], "too_small"),
        ],
    )
    def test_accepts_good_and_rejects_bad(self, validator, good, bad, code):
        validator(good)
        with pytest.raises(Invalid) as caught:
            validator(bad)
        assert caught.value.code == code

    def test_custom_callables_are_validators(self):
        def even(value: int) -> bool:
            return value % 2 == 0

        def no_thirteen(value: int) -> None:
            if value == 13:
                raise ValueError("is unlucky")

        class Ticket(Model):
            number: int = Field(
                validators=[even, no_thirteen, v.Check(lambda n: n < 100, "too_big", "is big")]
            )

        assert Ticket(number=4).number == 4
        with pytest.raises(ValidationError) as caught:
            Ticket(number=13)
        assert [(e.code, e.message) for e in caught.value.errors] == [
            ("invalid", "is not valid"),
            ("invalid", "is unlucky"),
        ]
        with pytest.raises(ValidationError) as caught:
            Ticket(number=102)
        assert [e.code for e in caught.value.errors] == ["too_big"]

    def test_several_validators_on_one_field_all_report(self):
        class Code(Model):
            value: str = Field(validators=[v.Length(min=5), v.Pattern(r"^[0-9]+$")])

        with pytest.raises(ValidationError) as caught:
            Code(value="ab")
        assert [e.code for e in caught.value.errors] == ["too_short", "pattern_mismatch"]

    def test_validators_skip_null_values(self):
        assert Task(title="a", estimate=None).estimate is None


class TestModelChecks:
    class Booking(Model):
        start: dt.date
        end: dt.date

        @model_check
        def _ordered(self) -> None:
            if self.end < self.start:
                raise Invalid("invalid_range", "must not be before start", field="end")

    def test_runs_after_the_fields_are_valid(self):
        with pytest.raises(ValidationError) as caught:
            self.Booking(start=dt.date(2024, 5, 2), end=dt.date(2024, 5, 1))
        assert caught.value.errors == (
            ErrorItem("end", "invalid_range", "must not be before start"),
        )

    def test_does_not_run_while_a_field_is_invalid(self):
        with pytest.raises(ValidationError) as caught:
            self.Booking(start="x", end=dt.date(2024, 5, 1))  # type: ignore[arg-type]
        assert [e.code for e in caught.value.errors] == ["invalid_type"]


def test_converter_failures_are_reported_not_raised():
    class Numbered(Embedded):
        n: int = Field(converters=[int])

    assert Numbered(n="12").n == 12  # type: ignore[arg-type]
    with pytest.raises(ValidationError) as caught:
        Numbered(n="twelve")  # type: ignore[arg-type]
    assert codes(caught) == {"n": "invalid"}


def test_nested_models_must_be_instances_of_their_class():
    with pytest.raises(ValidationError) as caught:
        User(email="a@b.co", name="x", password="long enough", roles={"user"})  # type: ignore[arg-type]
    assert codes(caught) == {"roles": "invalid_type"}
    errors = Everything.__model__.check_values({"home": {"street": "a", "city": "b"}})
    assert [(e.field, e.code) for e in errors] == [("home", "invalid_type")]
    assert Address(street="a", city="b").zip is None
