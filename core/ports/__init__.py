"""Ports: the Protocols the domain needs from the outside world, one module per role."""

__all__ = ()
