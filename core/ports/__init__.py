"""Ports: the Protocols the domain needs from the outside world, one module per role."""

from hexkernel.core.ports.repository import IndexReport, Repository
from hexkernel.core.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory

__all__ = ("IndexReport", "Repository", "UnitOfWork", "UnitOfWorkFactory")
