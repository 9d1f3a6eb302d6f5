"""Wire-format marshallers: how a field's value is written to and read from JSON.

By default datetimes travel as RFC 3339 strings in UTC (``...Z``) and dates as
``YYYY-MM-DD``. A field can choose another representation with
``Field(marshaller=...)``; the JSON Schema follows the choice. A marshaller
applies to the field's non-null value as a whole.

MongoDB has no date type: the storage format always writes dates as UTC
midnight datetimes and reads them back as dates, whatever the wire format.

Example::

    class Reading(Model):
        taken_at: datetime = Field(marshaller=EpochMillis())
        day: date = Field(marshaller=DateAsDatetime())
"""

import datetime as dt
import math
from typing import Any, Protocol, runtime_checkable

import attrs

from hexkernel.core.model._types import Invalid, to_utc

__all__ = (
    "DateAsDatetime",
    "EpochMillis",
    "EpochSeconds",
    "Marshaller",
    "parse_datetime",
)


@runtime_checkable
class Marshaller(Protocol):
    """Converts a field value to its wire form and back."""

    def dump(self, value: Any) -> Any:
        """Return the JSON-compatible form of ``value``."""

    def load(self, raw: Any) -> Any:
        """Return the field value for ``raw``; raise :class:`Invalid` if it does not fit."""

    def json_schema(self) -> dict[str, Any]:
        """Return the JSON Schema of the wire form."""


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _finite_number(raw: Any) -> float | int:
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise Invalid("invalid_type", "must be a number")
    if not math.isfinite(raw):
        raise Invalid("invalid_number", "must be a finite number")
    return raw


def _out_of_range() -> Invalid:
    return Invalid("invalid_datetime", "is outside the supported range of datetimes")


@attrs.frozen
class EpochSeconds:
    """Datetime as seconds since the Unix epoch (a number, millisecond precision)."""

    def dump(self, value: dt.datetime) -> float:
        """Return seconds since the epoch."""
        return round((value - _EPOCH) / dt.timedelta(milliseconds=1)) / 1000

    def load(self, raw: Any) -> dt.datetime:
        """Read seconds since the epoch."""
        try:
            return to_utc(_EPOCH + dt.timedelta(milliseconds=round(_finite_number(raw) * 1000)))
        except OverflowError:
            raise _out_of_range() from None

    def json_schema(self) -> dict[str, Any]:
        """A number."""
        return {"type": "number", "description": "seconds since 1970-01-01T00:00:00Z"}


@attrs.frozen
class EpochMillis:
    """Datetime as whole milliseconds since the Unix epoch (an integer)."""

    def dump(self, value: dt.datetime) -> int:
        """Return milliseconds since the epoch."""
        return (value - _EPOCH) // dt.timedelta(milliseconds=1)

    def load(self, raw: Any) -> dt.datetime:
        """Read milliseconds since the epoch."""
        number = _finite_number(raw)
        if isinstance(number, float) and not number.is_integer():
            raise Invalid("invalid_type", "must be a whole number of milliseconds")
        try:
            return _EPOCH + dt.timedelta(milliseconds=int(number))
        except OverflowError:
            raise _out_of_range() from None

    def json_schema(self) -> dict[str, Any]:
        """An integer."""
        return {"type": "integer", "description": "milliseconds since 1970-01-01T00:00:00Z"}


@attrs.frozen
class DateAsDatetime:
    """Date as an RFC 3339 datetime at UTC midnight (``2024-05-01T00:00:00Z``)."""

    def dump(self, value: dt.date) -> str:
        """Return midnight UTC of the date."""
        return f"{value.isoformat()}T00:00:00Z"

    def load(self, raw: Any) -> dt.date:
        """Read a datetime; it must be midnight UTC."""
        moment = parse_datetime(raw)
        if moment.time() != dt.time(0):
            raise Invalid("invalid_date", "must be midnight UTC (the field holds a date)")
        return moment.date()

    def json_schema(self) -> dict[str, Any]:
        """An RFC 3339 date-time string."""
        return {"type": "string", "format": "date-time"}


def parse_datetime(raw: Any) -> dt.datetime:
    """Parse an RFC 3339 datetime with an offset; return it in UTC at millisecond precision.

    Raises:
        Invalid: For a non-string, an unparseable string, or a missing offset.
    """
    if not isinstance(raw, str):
        raise Invalid("invalid_type", "must be an RFC 3339 date-time string")
    # RFC 3339 allows a space or a lower-case "t"; fromisoformat takes both forms.
    if len(raw) < 19 or raw[4] != "-" or raw[10] not in "Tt ":  # noqa: PLR2004 - shortest form
        raise Invalid(
            "invalid_datetime", "must be an RFC 3339 date-time such as 2024-05-01T12:00:00Z"
        )
    try:
        value = dt.datetime.fromisoformat(raw.upper() if raw[-1] == "z" else raw)
    except ValueError:
        raise Invalid(
            "invalid_datetime", "must be an RFC 3339 date-time such as 2024-05-01T12:00:00Z"
        ) from None
    if value.tzinfo is None:
        raise Invalid("naive_datetime", "must carry a time zone offset or Z")
    try:
        return to_utc(value)
    except OverflowError:
        raise _out_of_range() from None
