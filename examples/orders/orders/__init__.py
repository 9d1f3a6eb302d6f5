"""The orders service: ``hexkernel run examples.orders.orders:app``.

The app is built on first access of ``app`` (from the configuration then in
force), so importing the package for its domain builds nothing.
"""

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "app":
        from examples.orders.orders.service import app  # noqa: PLC0415 - built on demand

        return app
    raise AttributeError(name)
