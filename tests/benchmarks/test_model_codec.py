"""JSON -> validated Model -> JSON for a 12-field model with a nested list.

Three implementations of the same model and rules, in the same run:
hexkernel, a hand-written attrs + cattrs baseline (attrs validators, one
configured cattrs converter), and pydantic v2. Run with ``make bench``.
"""

import datetime as dt
import enum
import json
from decimal import Decimal
from typing import Annotated, Any

import attrs
import cattrs
import pydantic
import pytest

from hexkernel.core import Embedded, Field, ValidationError
from hexkernel.core import validators as v


class Status(enum.Enum):
    NEW = "new"
    PAID = "paid"
    SHIPPED = "shipped"


PAYLOAD = json.dumps(
    {
        "name": "Ann Lee",
        "email": "ann.lee@example.com",
        "age": 42,
        "score": 87.5,
        "active": True,
        "status": "paid",
        "created": "2024-05-01T12:30:00.250Z",
        "tags": ["vip", "newsletter", "beta"],
        "notes": None,
        "priority": 2,
        "total": "129.95",
        "items": [
            {"sku": "ABC-123", "quantity": 2, "price": "19.99"},
            {"sku": "XYZ-999", "quantity": 1, "price": "89.97"},
            {"sku": "QRS-042", "quantity": 5, "price": "0.00"},
        ],
    }
)
_SKU = r"^[A-Z]{3}-[0-9]{3}$"
_EMAIL = r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$"


# ------------------------------------------------------------------ hexkernel
class Item(Embedded):
    sku: str = Field(validators=[v.Pattern(_SKU)])
    quantity: int = Field(validators=[v.Range(min=1, max=1000)])
    price: Decimal = Field(validators=[v.Range(min=Decimal(0))])


class Customer(Embedded):
    name: str = Field(validators=[v.NotEmpty(), v.Length(max=100)])
    email: str = Field(validators=[v.Email()])
    age: int = Field(validators=[v.Range(min=0, max=150)])
    score: float = Field(validators=[v.Range(min=0, max=100)])
    active: bool
    status: Status
    created: dt.datetime
    tags: list[str] = Field(factory=list, validators=[v.UniqueItems()])
    notes: str | None = None
    priority: int = Field(default=3, validators=[v.Range(min=1, max=5)])
    total: Decimal = Field(validators=[v.Range(min=Decimal(0))])
    items: list[Item] = Field(factory=list, validators=[v.Length(max=100)])


def hexkernel_round_trip(payload: str) -> str:
    return Customer.from_json(payload).to_json()


# ----------------------------------------------------- attrs + cattrs baseline
def _between(low: Any, high: Any) -> Any:
    def check(_instance: Any, attribute: Any, value: Any) -> None:
        if (low is not None and value < low) or (high is not None and value > high):
            raise ValueError(f"{attribute.name} out of range")

    return check


def _unique(_instance: Any, attribute: Any, value: list[Any]) -> None:
    if len(set(value)) != len(value):
        raise ValueError(f"{attribute.name} has duplicates")


@attrs.define
class BaseItem:
    sku: str = attrs.field(validator=attrs.validators.matches_re(_SKU))
    quantity: int = attrs.field(validator=_between(1, 1000))
    price: Decimal = attrs.field(validator=_between(Decimal(0), None))


@attrs.define(kw_only=True)
class BaseCustomer:
    name: str = attrs.field(
        validator=[
            attrs.validators.instance_of(str),
            attrs.validators.min_len(1),
            attrs.validators.max_len(100),
        ]
    )
    email: str = attrs.field(validator=attrs.validators.matches_re(_EMAIL))
    age: int = attrs.field(validator=_between(0, 150))
    score: float = attrs.field(validator=_between(0, 100))
    active: bool = attrs.field(validator=attrs.validators.instance_of(bool))
    status: Status
    created: dt.datetime
    tags: list[str] = attrs.field(factory=list, validator=_unique)
    notes: str | None = None
    priority: int = attrs.field(default=3, validator=_between(1, 5))
    total: Decimal = attrs.field(validator=_between(Decimal(0), None))
    items: list[BaseItem] = attrs.field(factory=list, validator=attrs.validators.max_len(100))


_converter = cattrs.Converter(forbid_extra_keys=True)
_converter.register_structure_hook(
    dt.datetime, lambda s, _: dt.datetime.fromisoformat(s).astimezone(dt.UTC)
)
_converter.register_unstructure_hook(
    dt.datetime, lambda d: d.isoformat(timespec="milliseconds").replace("+00:00", "Z")
)
_converter.register_structure_hook(Decimal, lambda s, _: Decimal(s))
_converter.register_unstructure_hook(Decimal, str)


def baseline_round_trip(payload: str) -> str:
    customer = _converter.structure(json.loads(payload), BaseCustomer)
    return json.dumps(_converter.unstructure(customer), separators=(",", ":"))


# ------------------------------------------------------------------ pydantic
class PItem(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", strict=False)
    sku: Annotated[str, pydantic.Field(pattern=_SKU)]
    quantity: Annotated[int, pydantic.Field(ge=1, le=1000)]
    price: Annotated[Decimal, pydantic.Field(ge=0)]


class PCustomer(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    name: Annotated[str, pydantic.Field(min_length=1, max_length=100)]
    email: Annotated[str, pydantic.Field(pattern=_EMAIL)]
    age: Annotated[int, pydantic.Field(ge=0, le=150)]
    score: Annotated[float, pydantic.Field(ge=0, le=100)]
    active: bool
    status: Status
    created: dt.datetime
    tags: Annotated[list[str], pydantic.Field(default_factory=list)]
    notes: str | None = None
    priority: Annotated[int, pydantic.Field(ge=1, le=5)] = 3
    total: Annotated[Decimal, pydantic.Field(ge=0)]
    items: Annotated[list[PItem], pydantic.Field(default_factory=list, max_length=100)]

    @pydantic.field_validator("tags")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("duplicates")
        return value


def pydantic_round_trip(payload: str) -> str:
    return PCustomer.model_validate_json(payload).model_dump_json()


# ----------------------------------------------------------------- benchmarks
def test_the_three_implementations_agree():
    ours = json.loads(hexkernel_round_trip(PAYLOAD))
    theirs = json.loads(baseline_round_trip(PAYLOAD))
    assert ours == theirs
    assert json.loads(pydantic_round_trip(PAYLOAD))["items"][0]["sku"] == "ABC-123"
    broken = PAYLOAD.replace('"ABC-123"', '"abc"')
    with pytest.raises(ValidationError, match=r"items\[0\]\.sku"):
        Customer.from_json(broken)
    with pytest.raises(cattrs.errors.ClassValidationError):
        baseline_round_trip(broken)


@pytest.mark.benchmark(group="model: json -> model -> json")
def test_round_trip_baseline(benchmark):
    benchmark(baseline_round_trip, PAYLOAD)


@pytest.mark.benchmark(group="model: json -> model -> json")
def test_round_trip_hexkernel(benchmark):
    benchmark(hexkernel_round_trip, PAYLOAD)


@pytest.mark.benchmark(group="model: json -> model -> json")
def test_round_trip_pydantic(benchmark):
    benchmark(pydantic_round_trip, PAYLOAD)
