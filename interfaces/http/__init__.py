"""The HTTP interface: REST resources generated from Models, on Litestar."""

__all__ = ()
