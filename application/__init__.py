"""Application layer: use cases, command and query buses, saga coordination.

It depends on :mod:`hexkernel.core` only; the ports it needs are handed in by
the composition root.
"""

__all__ = ()
