"""The generated ``from_storage`` of a Model gives exactly what the field-by-field loop gives.

``ModelCodec.from_storage`` first runs code generated once per Model (a type
test per field, the value kept when it already has the field's type), and
falls back to the loop that collects every error on any surprise. Each test
loads the same document both ways and compares the outcomes: the values, their
exact types (an ``int`` is not a ``bool``, a ``list`` not a ``tuple``), the
datetimes' ``tzinfo`` object, and the errors, in order.
"""

import datetime as dt
import enum
import uuid
from decimal import Decimal
from typing import Any, Literal

import pytest
from hk_testing.models import Address, Everything, Level, Line, Status, Task, User
from hk_testing.strategies import instances
from hypothesis import given
from hypothesis import strategies as st

from hexkernel.core import Field, Model, ValidationError
from hexkernel.core.model import _codec


class DriverUtc(dt.tzinfo):
    """UTC under a driver's own tzinfo class, as pymongo's ``tz_aware`` decoding gives it."""

    def utcoffset(self, _: dt.datetime | None) -> dt.timedelta:
        return dt.timedelta(0)

    def tzname(self, _: dt.datetime | None) -> str:
        return "UTC"

    def dst(self, _: dt.datetime | None) -> dt.timedelta:
        return dt.timedelta(0)


DRIVER_UTC = DriverUtc()
PARIS_SUMMER = dt.timezone(dt.timedelta(hours=2))


class Moment(dt.datetime):
    """A datetime subclass: not the exact type the generated code keeps."""


class Word(str):
    __slots__ = ()


class Count(int):
    pass


class Decimal128Like:
    """A driver's decimal type: converted by ``to_decimal``."""

    def to_decimal(self) -> Decimal:
        return Decimal("1.25")


class Colour(enum.Enum):
    RED = "red"
    NOTHING = None


class Shapes(Model, prefix="shp"):
    """The kinds Everything does not cover: nullable items, float and enum items, defaults."""

    colour: Colour = Colour.RED
    optional_colour: Colour | None = None
    mode: Literal["a", 1] = "a"
    numbers: list[float] = Field(factory=list)
    flags: set[bool] = Field(factory=set)
    maybe_items: list[str | None] = Field(factory=list)
    levels: list[Level] = Field(factory=list)
    when: dt.date = dt.date(2024, 1, 1)
    nested: dict[str, list[int]] = Field(factory=dict)
    lines: list[Line] | None = None


def everything_document(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
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
        "maybe": 4,
        "names": ["x", "y"],
        "labels": {"b", "a"},
        "frozen": frozenset({3, 1}),
        "scores": {"x": 1.0},
        "home": Address(street="1 Main St", city="Springfield"),
        "lines": [Line(sku="ABC-123", quantity=2, price=Decimal("9.99"))],
        "stamp": dt.datetime(2024, 5, 1, tzinfo=dt.UTC),
        "stamp_ms": dt.datetime(2024, 5, 1, 0, 0, 0, 5000, tzinfo=dt.UTC),
        "birthday": dt.date(1990, 2, 3),
    }
    document = Everything(id="evr_1", **values).to_document()
    for key, value in changes.items():
        if value is DROP:
            del document[key]
        else:
            document[key] = value
    return document


DROP = object()


def shape(value: Any) -> Any:
    """A comparable picture of a value: its exact type, its content, a datetime's tzinfo."""
    if hasattr(type(value), "__model__"):
        fields = type(value).__model__.fields
        return (type(value), tuple((f.name, shape(getattr(value, f.name))) for f in fields))
    if isinstance(value, (list, tuple)):
        return (type(value), tuple(shape(item) for item in value))
    if isinstance(value, (set, frozenset)):
        return (type(value), frozenset(shape(item) for item in value))
    if isinstance(value, dict):
        return (type(value), tuple((key, shape(item)) for key, item in value.items()))
    if isinstance(value, dt.datetime):
        return (type(value), value, id(value.tzinfo), value.fold)
    return (type(value), value)


def outcome(load: Any) -> Any:
    try:
        instance = load()
    except ValidationError as exc:
        return ("error", exc.model, [(e.field, e.code, e.message) for e in exc.errors])
    return ("loaded", shape(instance))


def assert_same(model: Any, document: Any, *, partial: bool = False) -> Any:
    """Load ``document`` both ways; they must agree. Return the outcome."""
    codec = model.__model__.codec
    fast = outcome(lambda: codec.from_storage(document, partial=partial))
    generic = outcome(lambda: codec._from_storage(document, partial=partial))
    assert fast == generic
    return fast


def assert_fast(model: Any, document: dict[str, Any], *, partial: bool = False) -> None:
    """The generated code loads ``document`` itself, without falling back."""
    model.__model__.codec._fast_from_storage(document, partial)


class TestStoredForms:
    """Documents as hexkernel writes them load in the generated code, as the loop loads them."""

    def test_every_kind_at_its_storage_form(self):
        document = everything_document()
        assert assert_same(Everything, document)[0] == "loaded"
        assert_fast(Everything, document)

    def test_nulls_and_empty_containers(self):
        document = everything_document(
            maybe=None, home=None, stamp=None, stamp_ms=None, birthday=None, names=[], labels=[]
        )
        assert assert_same(Everything, document)[0] == "loaded"
        assert_fast(Everything, document)

    def test_models_with_excluded_and_generated_fields(self):
        user = User(id="usr_1", email="ann@example.com", name="Ann", password="long secret")
        task = Task(id="tsk_1", title="a", tags=["x"], due=dt.date(2024, 1, 2), estimate=1.5)
        for model, document in ((User, user.to_document()), (Task, task.to_document())):
            assert assert_same(model, document)[0] == "loaded"
            assert_fast(model, document)

    def test_the_other_kinds(self):
        document = Shapes(
            id="shp_1",
            optional_colour=Colour.RED,
            mode=1,
            numbers=[1.5, 2.0],
            flags={True},
            maybe_items=["a", None],
            levels=[Level.LOW],
            nested={"a": [1, 2]},
            lines=[Line(sku="ABC-123", quantity=2, price=Decimal("9.99"))],
        ).to_document()
        assert assert_same(Shapes, document)[0] == "loaded"
        assert_fast(Shapes, document)

    def test_fields_without_a_slot_descriptor_are_set_by_name(self, monkeypatch):
        monkeypatch.setattr(_codec, "_class_attribute", lambda _cls, _name: None)
        generated = _codec._generate_from_storage(Everything.__model__)
        document = everything_document()
        expected = Everything.__model__.codec._from_storage(document, partial=False)
        assert shape(generated(document, False)) == shape(expected)

    @given(data=st.data())
    def test_any_valid_instance(self, data):
        for model in (Task, Everything):
            document = data.draw(instances(model)).to_document()
            assert assert_same(model, document)[0] == "loaded"
            assert_fast(model, document)


class TestDriverForms:
    """What drivers hand back: the generated code gives what the loop gives."""

    @pytest.mark.parametrize(
        "moment",
        [
            dt.datetime(2024, 5, 1, 12, 30, 0, 250000, tzinfo=DRIVER_UTC),
            dt.datetime(2024, 5, 1, 12, 30, 0, 250000, tzinfo=DRIVER_UTC, fold=1),
            dt.datetime(2024, 5, 1, 12, 30),  # noqa: DTZ001 - naive: a driver without tz_aware
            dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.timezone(dt.timedelta(0), "Z")),
            dt.datetime(2024, 5, 1, 14, 30, tzinfo=PARIS_SUMMER),
            dt.datetime(2024, 5, 1, 12, 30, 0, 250999, tzinfo=dt.UTC),
            dt.datetime(2024, 5, 1, 12, 30, 0, 250999, tzinfo=DRIVER_UTC),
            dt.datetime(2024, 5, 1, 14, 30, 0, 999, tzinfo=PARIS_SUMMER),
            Moment(2024, 5, 1, 12, 30, tzinfo=dt.UTC),
            "2024-05-01T12:30:00Z",
        ],
        ids=repr,
    )
    def test_datetimes(self, moment):
        loaded = assert_same(Everything, everything_document(moment=moment, stamp=moment))
        assert loaded[0] == "loaded"

    def test_zero_offset_datetimes_are_relabelled_in_the_generated_code(self):
        moment = dt.datetime(2024, 5, 1, 12, 30, tzinfo=DRIVER_UTC)
        document = everything_document(moment=moment, stamp=moment, inserted=moment)
        assert_fast(Everything, document)
        loaded = Everything.from_document(document)
        assert loaded.moment.tzinfo is dt.UTC
        assert loaded.moment == moment

    @pytest.mark.parametrize(
        "day",
        [
            dt.datetime(2024, 5, 1, tzinfo=DRIVER_UTC),
            dt.datetime(2024, 5, 1),  # noqa: DTZ001 - naive
            dt.datetime(2024, 5, 1, 23, 0, tzinfo=PARIS_SUMMER),
            Moment(2024, 5, 1, tzinfo=dt.UTC),
            dt.date(2024, 5, 1),
            "2024-05-01",
        ],
        ids=repr,
    )
    def test_dates(self, day):
        assert assert_same(Everything, everything_document(day=day, birthday=day))[0] == "loaded"

    @pytest.mark.parametrize(
        ("key", "value"),
        [
            ("ratio", 2),
            ("count", Count(4)),
            ("text", Word("hi")),
            ("amount", Decimal128Like()),
            ("amount", "1.5"),
            ("amount", 1.5),
            ("ref", "12345678-1234-5678-1234-567812345678"),
            ("labels", ["a", "b"]),
            ("labels", frozenset({"a"})),
            ("frozen", [1, 2]),
            ("frozen", {1, 2}),
            ("names", [Word("a")]),
            ("status", "done"),
            ("level", 1),
            ("mode", "fast"),
            ("scores", {"x": 2}),
            ("home", {"street": "s", "city": "c", "old_key": 1}),
            ("home", {"street": "s", "city": "c"}),
            ("obsolete", "kept out of the instance"),
        ],
        ids=repr,
    )
    def test_other_values(self, key, value):
        assert assert_same(Everything, everything_document(**{key: value}))[0] == "loaded"

    @pytest.mark.parametrize(
        ("key", "value"),
        [
            ("numbers", [1, 2.5]),
            ("flags", [True, False]),
            ("flags", (True,)),
            ("maybe_items", [None, "a"]),
            ("levels", [2]),
            ("colour", None),  # a member whose value is None cannot be loaded: both refuse it
            ("optional_colour", "red"),
            ("mode", 1),
            ("mode", True),
            ("when", dt.datetime(2024, 2, 3, tzinfo=DRIVER_UTC)),
            ("nested", {"a": []}),
        ],
        ids=repr,
    )
    def test_other_kinds(self, key, value):
        document = Shapes(id="shp_1").to_document()
        document[key] = value
        assert_same(Shapes, document)

    def test_lists_are_copies(self):
        names = ["x", "y"]
        loaded = Everything.from_document(everything_document(names=names))
        assert loaded.names == names
        assert loaded.names is not names


class TestMissingKeys:
    @pytest.mark.parametrize(
        "key", ["maybe", "names", "labels", "home", "stamp", "inserted", "version"]
    )
    def test_optional_fields_take_their_defaults(self, key):
        document = everything_document(**{key: DROP})
        assert assert_same(Everything, document)[0] == "loaded"
        assert_fast(Everything, document)

    def test_factories_are_called_for_each_instance(self):
        document = everything_document(names=DROP)
        first = Everything.from_document(document)
        second = Everything.from_document(document)
        assert first.names == second.names == []
        assert first.names is not second.names

    def test_a_missing_required_field_is_an_error(self):
        loaded = assert_same(Everything, everything_document(text=DROP, count=DROP))
        assert loaded == (
            "error",
            "Everything",
            [
                ("text", "required", "is missing from the document"),
                ("count", "required", "is missing from the document"),
            ],
        )

    def test_a_projection_leaves_missing_required_fields_none(self):
        document = {"_id": "evr_1", "count": 3, "status": "open"}
        assert assert_same(Everything, document, partial=True)[0] == "loaded"
        assert_fast(Everything, document, partial=True)
        loaded = Everything.__model__.codec.from_storage(document, partial=True)
        assert loaded.text is None
        assert loaded.count == 3


class TestErrors:
    """Broken documents fall back to the loop, which names every broken field."""

    @pytest.mark.parametrize(
        ("key", "value"),
        [
            ("text", None),
            ("text", 3),
            ("count", True),
            ("count", 2.5),
            ("count", "3"),
            ("ratio", "0.5"),
            ("ratio", False),
            ("flag", 1),
            ("amount", "not a number"),
            ("ref", "not a uuid"),
            ("moment", 17),
            ("moment", "yesterday"),
            ("day", 17),
            ("day", "01/05/2024"),
            ("status", "closed"),
            ("status", ["open"]),
            ("status", None),
            ("level", True),
            ("level", Level.LOW),
            ("level", "2"),
            ("level", 3),
            ("mode", "medium"),
            ("names", ["x", 2]),
            ("names", ("x",)),
            ("names", "x"),
            ("names", None),
            ("labels", ["a", None]),
            ("labels", "ab"),
            ("frozen", [1, "2"]),
            ("scores", {"x": "y"}),
            ("scores", [1]),
            ("home", {"street": "s"}),
            ("home", "1 Main St"),
            ("lines", [{"sku": "ABC-123", "quantity": "two", "price": Decimal(1)}]),
            ("stamp", "soon"),
            ("birthday", 3),
        ],
        ids=repr,
    )
    def test_one_broken_field(self, key, value):
        loaded = assert_same(Everything, everything_document(**{key: value}))
        assert loaded[0] == "error"
        assert {field.split(".")[0].split("[")[0] for field, _, _ in loaded[2]} == {key}

    @pytest.mark.parametrize(
        ("key", "value"),
        [
            ("numbers", [1, "2"]),
            ("flags", [1]),
            ("maybe_items", [1]),
            ("levels", [3]),
            ("optional_colour", "blue"),
            ("mode", "b"),
            ("when", "tomorrow"),
            ("nested", {"a": [1.5]}),
            ("lines", [{"sku": "ABC-123"}]),
        ],
        ids=repr,
    )
    def test_one_broken_field_of_the_other_kinds(self, key, value):
        document = Shapes(id="shp_1").to_document()
        document[key] = value
        assert assert_same(Shapes, document)[0] == "error"

    def test_every_broken_field_is_reported(self):
        document = everything_document(text=3, count=DROP, moment="x", names=[1], home={})
        loaded = assert_same(Everything, document)
        assert [field for field, _, _ in loaded[2]] == [
            "text",
            "count",
            "moment",
            "names[0]",
            "home.street",
            "home.city",
        ]

    @pytest.mark.parametrize("document", [None, [], "x", ("a",)], ids=repr)
    def test_something_that_is_not_a_document(self, document):
        assert assert_same(Everything, document) == (
            "error",
            "Everything",
            [("", "invalid_type", "must be a document")],
        )

    def test_a_dict_subclass_takes_the_loop(self):
        class Son(dict):  # type: ignore[type-arg]
            pass

        assert assert_same(Everything, Son(everything_document()))[0] == "loaded"
