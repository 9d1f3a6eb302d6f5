"""Ports: the Protocols the domain needs from the outside world, one module per role."""

from hexkernel.core.ports.event_store import EventStore, Snapshot, StoredEvent
from hexkernel.core.ports.invalidation import Eviction, InvalidationChannel
from hexkernel.core.ports.message_broker import (
    BrokerUnavailable,
    Delivery,
    MessageBroker,
    Subscription,
)
from hexkernel.core.ports.outbox import Inbox, OutboxMessage, OutboxStore
from hexkernel.core.ports.repository import FieldReader, IndexReport, Repository
from hexkernel.core.ports.saga_store import SagaStore
from hexkernel.core.ports.security import (
    RefreshRecord,
    RefreshTokenStore,
    TokenIssuer,
    TokenVerifier,
    UserDirectory,
)
from hexkernel.core.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory

__all__ = (
    "BrokerUnavailable",
    "Delivery",
    "EventStore",
    "Eviction",
    "FieldReader",
    "Inbox",
    "IndexReport",
    "InvalidationChannel",
    "MessageBroker",
    "OutboxMessage",
    "OutboxStore",
    "RefreshRecord",
    "RefreshTokenStore",
    "Repository",
    "SagaStore",
    "Snapshot",
    "StoredEvent",
    "Subscription",
    "TokenIssuer",
    "TokenVerifier",
    "UnitOfWork",
    "UnitOfWorkFactory",
    "UserDirectory",
)
