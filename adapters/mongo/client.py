"""A pymongo ``AsyncMongoClient`` configured for hexkernel's storage form.

Datetimes come back timezone-aware in UTC, UUIDs are stored as standard
binary (subtype 4), and ``Decimal`` values are written as BSON ``Decimal128``.
Only an *encoder* is registered: a type registry with decoders makes pymongo
decode every reply in Python instead of C, for every collection. Reads return
``Decimal128``, which the Model's storage loader turns into ``Decimal``.
"""

from decimal import Decimal
from typing import Any

from bson.codec_options import TypeEncoder, TypeRegistry
from bson.decimal128 import Decimal128
from pymongo import AsyncMongoClient

__all__ = ("DecimalEncoder", "connect")


class DecimalEncoder(TypeEncoder):
    """``decimal.Decimal`` -> BSON ``Decimal128``."""

    @property
    def python_type(self) -> type[Decimal]:
        """The Python type encoded."""
        return Decimal

    def transform_python(self, value: Decimal) -> Decimal128:
        """Encode a Decimal."""
        return Decimal128(value)


def connect(uri: str, **options: Any) -> AsyncMongoClient[dict[str, Any]]:
    """Return a client for ``uri`` with hexkernel's codec options (others may be added)."""
    settings: dict[str, Any] = {
        "tz_aware": True,
        "uuidRepresentation": "standard",
        "type_registry": TypeRegistry([DecimalEncoder()]),
        "serverSelectionTimeoutMS": 5000,
        "appname": "hexkernel",
    }
    settings.update(options)
    return AsyncMongoClient(uri, **settings)
