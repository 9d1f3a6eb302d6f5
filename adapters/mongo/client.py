"""A pymongo ``AsyncMongoClient`` configured for hexkernel's storage form.

Datetimes come back timezone-aware in UTC, UUIDs are stored as standard
binary (subtype 4), and ``Decimal`` values travel as BSON ``Decimal128`` both
ways, through a type codec so that the C encoder does the work.
"""

from decimal import Decimal
from typing import Any

from bson.codec_options import TypeCodec, TypeRegistry
from bson.decimal128 import Decimal128
from pymongo import AsyncMongoClient

__all__ = ("DecimalCodec", "connect")


class DecimalCodec(TypeCodec):
    """``decimal.Decimal`` <-> BSON ``Decimal128``."""

    python_type = Decimal
    bson_type = Decimal128

    def transform_python(self, value: Decimal) -> Decimal128:
        """Encode a Decimal."""
        return Decimal128(value)

    def transform_bson(self, value: Decimal128) -> Decimal:
        """Decode a Decimal128."""
        return value.to_decimal()


def connect(uri: str, **options: Any) -> AsyncMongoClient[dict[str, Any]]:
    """Return a client for ``uri`` with hexkernel's codec options (others may be added)."""
    settings: dict[str, Any] = {
        "tz_aware": True,
        "uuidRepresentation": "standard",
        "type_registry": TypeRegistry([DecimalCodec()]),
        "serverSelectionTimeoutMS": 5000,
        "appname": "hexkernel",
    }
    settings.update(options)
    return AsyncMongoClient(uri, **settings)
