"""Value converters, applied when a Model is created and on every assignment.

A converter turns a value into its canonical form. Converters run *before*
the type check and the validators, in the order given, so validators see the
normalised value. A converter marked ``final`` (such as :class:`HashPassword`)
runs *after* the validators instead: they check the plain text, and only the
converted value is kept. A final converter also has ``is_final_form(value)``:
a value already in its final form (an existing hash) skips the validators,
which were written for the plain text.

Plain callables are converters too; if one raises :class:`ValueError` or
:class:`TypeError`, the field is reported as ``invalid``.

Example::

    class User(Model):
        email: str = Field(converters=[strip, lower], validators=[Email()])
        password: str = Field(exclude=True, converters=[HashPassword()],
                              validators=[Length(min=12)])
"""

import unicodedata
from collections.abc import Callable
from typing import Any

import argon2
import attrs

__all__ = (
    "Converter",
    "HashPassword",
    "is_password_hash",
    "lower",
    "nfc",
    "normalize_text",
    "strip",
    "verify_password",
)

Converter = Callable[[Any], Any]
"""A converter: any callable from the given value to the canonical one."""


def strip(value: Any) -> Any:
    """Remove leading and trailing whitespace from strings; leave other values alone."""
    return value.strip() if isinstance(value, str) else value


def lower(value: Any) -> Any:
    """Lower-case strings (Unicode case folding); leave other values alone."""
    return value.casefold() if isinstance(value, str) else value


def nfc(value: Any) -> Any:
    """Put strings in Unicode normal form C, so equal text compares equal."""
    return unicodedata.normalize("NFC", value) if isinstance(value, str) else value


def normalize_text(value: Any) -> Any:
    """Apply :func:`nfc` then :func:`strip`: the usual treatment of free text."""
    return strip(nfc(value))


_DEFAULT_HASHER = argon2.PasswordHasher(type=argon2.Type.ID)


def is_password_hash(value: str) -> bool:
    """Tell whether ``value`` is a well-formed argon2id hash (PHC string format)."""
    if not value.startswith("$argon2id$"):
        return False
    try:
        argon2.extract_parameters(value)
    except argon2.exceptions.InvalidHashError:
        return False
    return True


@attrs.frozen
class HashPassword:
    """Hash a plain-text password with argon2id; a value already hashed is kept.

    It is a *final* converter: the field's validators see the plain text, the
    Model keeps only the hash. Pair the field with ``exclude=True`` so the
    hash never leaves the service.

    Args:
        hasher: The argon2-cffi hasher; its parameters follow argon2-cffi's
            RFC 9106 defaults unless a cheaper one is given (in tests, say).
    """

    hasher: argon2.PasswordHasher = _DEFAULT_HASHER
    final: bool = attrs.field(default=True, init=False)

    def is_final_form(self, value: Any) -> bool:
        """Tell whether ``value`` is already a hash (then the validators are skipped)."""
        return isinstance(value, str) and is_password_hash(value)

    def __call__(self, value: Any) -> Any:
        """Return the argon2id hash of ``value``, or ``value`` if already hashed."""
        if not isinstance(value, str) or is_password_hash(value):
            return value
        return self.hasher.hash(value)


def verify_password(
    password_hash: str, password: str, hasher: argon2.PasswordHasher | None = None
) -> bool:
    """Check a plain-text password against a stored argon2 hash.

    Returns ``False`` for a wrong password and for a malformed hash alike, so
    callers cannot tell them apart (nor can an attacker through them).
    """
    checker = hasher or _DEFAULT_HASHER
    try:
        return checker.verify(password_hash, password)
    except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
        return False
