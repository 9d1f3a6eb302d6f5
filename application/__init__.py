"""Application layer: use cases, command and query buses, saga coordination.

It depends on :mod:`hexkernel.core` only; the ports it needs are handed in by
the composition root.
"""

from hexkernel.application.buses import (
    CommandBus,
    HandlerAlreadyRegistered,
    Middleware,
    NoHandler,
    QueryBus,
)
from hexkernel.application.consumers import ConsumerRunner
from hexkernel.application.dispatcher import EventDispatcher
from hexkernel.application.event_sourced import EventSourcedRepository
from hexkernel.application.middleware import (
    LoggingMiddleware,
    MessageMetric,
    MetricsMiddleware,
    UnitOfWorkMiddleware,
    current_unit_of_work,
    using_unit_of_work,
)
from hexkernel.application.outbox import NoUnitOfWork, Outbox, OutboxMiddleware
from hexkernel.application.projections import Projection, ProjectionCheckpoint, ProjectionRunner
from hexkernel.application.relay import OutboxRelay
from hexkernel.application.sagas import SagaCoordinator, UnknownSagaType

__all__ = (
    "CommandBus",
    "ConsumerRunner",
    "EventDispatcher",
    "EventSourcedRepository",
    "HandlerAlreadyRegistered",
    "LoggingMiddleware",
    "MessageMetric",
    "MetricsMiddleware",
    "Middleware",
    "NoHandler",
    "NoUnitOfWork",
    "Outbox",
    "OutboxMiddleware",
    "OutboxRelay",
    "Projection",
    "ProjectionCheckpoint",
    "ProjectionRunner",
    "QueryBus",
    "SagaCoordinator",
    "UnitOfWorkMiddleware",
    "UnknownSagaType",
    "current_unit_of_work",
    "using_unit_of_work",
)
