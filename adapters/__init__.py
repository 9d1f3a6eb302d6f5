"""Adapters: implementations of the ports of :mod:`hexkernel.core.ports`.

Adapters are grouped by technology (``memory``, ``mongo``, ...). This package
imports nothing heavy, so importing one adapter never pulls in the driver of
another.
"""

__all__ = ()
