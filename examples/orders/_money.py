"""Amounts: decimal strings with two places on the wire, ``Decimal`` inside."""

from decimal import Decimal, InvalidOperation
from typing import Any

from hexkernel.core.errors import ValidationError

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("1000000000.00")


def parse_amount(value: Any, field: str) -> Decimal:
    """Read a non-negative amount given as a decimal string with at most two places.

    Raises:
        ValidationError: Naming ``field``, for anything else.
    """
    if not isinstance(value, str):
        raise ValidationError.single(field, "invalid_type", 'must be a decimal string ("45.00")')
    try:
        amount = Decimal(value.strip())
    except InvalidOperation:
        raise ValidationError.single(field, "invalid_format", "is not a decimal number") from None
    if not amount.is_finite():
        raise ValidationError.single(field, "invalid_format", "is not a finite number")
    if amount < 0 or amount > MAX_AMOUNT:
        raise ValidationError.single(field, "out_of_range", "must be between 0 and 1000000000.00")
    if amount != amount.quantize(CENT):
        raise ValidationError.single(field, "invalid_format", "has more than two decimal places")
    return amount.quantize(CENT)


def money(amount: Decimal) -> str:
    """``Decimal("45")`` -> ``"45.00"``."""
    return str(amount.quantize(CENT))
