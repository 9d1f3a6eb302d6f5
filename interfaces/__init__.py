"""Interfaces: the HTTP API (Litestar), the command line, and the composition root."""

__all__ = ()
