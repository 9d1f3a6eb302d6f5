"""Time-ordered, prefixed identifiers: ``tsk_01JD8X3M9Q4W5E6R7T8Y9U0V1W``.

The suffix is a ULID: 48 bits of Unix milliseconds and 80 random bits,
written in Crockford's base 32 (26 characters). Identifiers therefore sort by
creation time, both as strings and in a database index, which keeps B-tree
inserts at the right edge and makes ``sort=id`` meaningful.

Written here rather than taken from a ULID package because ``core`` may only
depend on the standard library, attrs, cattrs and argon2-cffi, and the whole
algorithm is a few lines. Identifiers made in the same millisecond by one
process are strictly increasing (the random part is incremented), as the ULID
specification's monotonic mode describes.
"""

import os
import re
import threading
import time

__all__ = ("IdFactory", "is_prefixed_id", "new_id")

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_RANDOM_BITS = 80
_RANDOM_MAX = (1 << _RANDOM_BITS) - 1
_PREFIX = re.compile(r"^[a-z][a-z0-9]{0,15}$")


def _encode(number: int) -> str:
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[number & 31])
        number >>= 5
    return "".join(reversed(chars))


class IdFactory:
    """Makes monotonic ULID-suffixed identifiers; safe to share between threads.

    Args:
        clock: Returns the current time in Unix milliseconds (a seam for tests).
        entropy: Returns ``n`` random bytes.
    """

    def __init__(
        self,
        clock: "type[int] | None" = None,
        entropy: "type[bytes] | None" = None,
    ) -> None:
        self._clock = clock or (lambda: time.time_ns() // 1_000_000)
        self._entropy = entropy or os.urandom
        self._lock = threading.Lock()
        self._last_ms = -1
        self._last_random = 0

    def ulid(self) -> str:
        """Return a new 26-character ULID, greater than every earlier one."""
        with self._lock:
            now = self._clock()
            if now <= self._last_ms:
                # Same (or a backwards-stepping) millisecond: stay monotonic.
                now = self._last_ms
                random = self._last_random + 1
                if random > _RANDOM_MAX:
                    now += 1
                    random = int.from_bytes(self._entropy(10), "big")
            else:
                random = int.from_bytes(self._entropy(10), "big")
            self._last_ms, self._last_random = now, random
        return _encode((now << _RANDOM_BITS) | random)

    def new_id(self, prefix: str) -> str:
        """Return ``<prefix>_<ulid>``."""
        return f"{prefix}_{self.ulid()}"


_DEFAULT = IdFactory()


def new_id(prefix: str) -> str:
    """Return a new prefixed, time-ordered identifier from the process-wide factory."""
    return _DEFAULT.new_id(prefix)


def is_prefixed_id(value: str, prefix: str) -> bool:
    """Tell whether ``value`` is ``<prefix>_`` followed by a well-formed ULID."""
    head, sep, tail = value.partition("_")
    return (
        sep == "_"
        and head == prefix
        and len(tail) == 26  # noqa: PLR2004 - ULID length
        and tail[0] in "01234567"
        and all(c in _ALPHABET for c in tail)
    )


def check_prefix(prefix: str) -> str:
    """Return ``prefix`` if it is a valid id prefix, else raise ``ValueError``."""
    if not _PREFIX.match(prefix):
        raise ValueError(f"an id prefix is 1-16 lower-case letters or digits, not {prefix!r}")
    return prefix
