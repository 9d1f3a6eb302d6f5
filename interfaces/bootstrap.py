"""The composition root: the one module that names concrete adapters.

:class:`RootContainer` picks the store from configuration (the embedded
in-memory store without ``mongo.uri``, MongoDB with it) and provides
repositories, the unit-of-work factory and the clock. :class:`Service` wires a
container to a set of Models: it binds each Model's repository for the
active-record methods, synchronises indexes and schemas at start-up and
closes the clients at shutdown. :meth:`Service.security` assembles
authentication (the token service, the bearer authenticator) from the
``auth`` settings and the service's user directory. Tests override any
provider::

    container = RootContainer.from_settings(settings)
    container.repository.override(providers.Factory(FakeRepository))
"""

import logging
from collections.abc import Callable, Sequence
from typing import Any

import attrs
from dependency_injector import containers, providers

from hexkernel.adapters._documents import utcnow
from hexkernel.adapters.memory.broker import InMemoryBroker
from hexkernel.adapters.memory.containers import InMemoryContainer
from hexkernel.adapters.memory.event_store import InMemoryEventStore
from hexkernel.adapters.memory.invalidation import InMemoryInvalidationChannel
from hexkernel.adapters.memory.outbox import InMemoryInbox, InMemoryOutboxStore
from hexkernel.adapters.memory.saga_store import InMemorySagaStore
from hexkernel.adapters.mongo.containers import MongoContainer
from hexkernel.adapters.mongo.event_store import MongoEventStore
from hexkernel.adapters.mongo.outbox import MongoInbox, MongoOutboxStore
from hexkernel.adapters.mongo.saga_store import MongoSagaStore
from hexkernel.adapters.redis import RedisBroker, RedisInvalidationChannel
from hexkernel.adapters.security import (
    InMemoryRefreshTokenStore,
    JwtIssuer,
    JwtVerifier,
    KeyRing,
    KeySource,
    RemoteJwksVerifier,
    TokenCache,
)
from hexkernel.adapters.security.mongo_refresh_tokens import MongoRefreshTokenStore
from hexkernel.application import (
    CommandBus,
    ConsumerRunner,
    EventDispatcher,
    LoggingMiddleware,
    MessageMetric,
    MetricsMiddleware,
    Outbox,
    OutboxMiddleware,
    OutboxRelay,
    ProjectionRunner,
    QueryBus,
    UnitOfWorkMiddleware,
)
from hexkernel.application.auth import Authenticator, ModelUserDirectory, OAuthClient, TokenService
from hexkernel.application.principals import PrincipalCache
from hexkernel.application.sagas import SagaCoordinator
from hexkernel.core.errors import DuplicateKey
from hexkernel.core.messages import registry
from hexkernel.core.persistence import bind, unbind
from hexkernel.core.ports.invalidation import InvalidationChannel
from hexkernel.core.ports.repository import IndexReport, Repository
from hexkernel.core.ports.security import TokenIssuer, UserDirectory
from hexkernel.core.writes import on_written
from hexkernel.interfaces.config import ConfigurationError, Settings, redacted

__all__ = ("RootContainer", "Security", "Service")

log = logging.getLogger("hexkernel")


def _key_ring(settings: Settings) -> KeyRing:
    sources = [
        KeySource(
            kid=k.kid,
            private_key_file=k.private_key_file,
            public_key_file=k.public_key_file,
            passphrase=k.passphrase.reveal() if k.passphrase is not None else None,
        )
        for k in settings.auth.keys
    ]
    try:
        return KeyRing.from_sources(sources, settings.auth.active_kid)
    except ValueError as exc:
        raise ConfigurationError({"auth.keys": str(exc)}) from None


def _token_cache(settings: Settings) -> TokenCache:
    return TokenCache(ttl=settings.auth.token_cache_seconds)


def _local_verifier(keys: KeyRing, settings: Settings, cache: TokenCache) -> JwtVerifier:
    auth = settings.auth
    return JwtVerifier(
        keys, issuer=auth.issuer, audience=auth.audience, leeway=auth.leeway_seconds, cache=cache
    )


def _remote_verifier(settings: Settings, cache: TokenCache) -> RemoteJwksVerifier:
    auth = settings.auth
    assert auth.jwks_url is not None  # noqa: S101 - the settings check it
    return RemoteJwksVerifier(
        auth.jwks_url,
        issuer=auth.issuer,
        audience=auth.audience,
        leeway=auth.leeway_seconds,
        min_refetch_interval=auth.jwks_refetch_seconds,
        cache=cache,
    )


def _clients(settings: Settings) -> list[OAuthClient]:
    try:
        return [
            OAuthClient(
                client_id=client_id,
                secret_hash=c.secret_hash.reveal() if c.secret_hash is not None else None,
                grants=c.grants,
                scopes=c.scopes,
                roles=c.roles,
            )
            for client_id, c in settings.auth.clients.items()
        ]
    except ValueError as exc:
        raise ConfigurationError({"auth.clients": str(exc)}) from None


def _principal_invalidation(settings: Settings) -> InvalidationChannel:
    """Where evictions of cached users go: Redis pub/sub when configured, else this process."""
    url = settings.auth.principal_invalidation or settings.broker.broker_url
    if url is None:
        return InMemoryInvalidationChannel()
    channel = f"{settings.broker.prefix}{settings.service}:principal-evictions"
    return RedisInvalidationChannel.from_url(url.reveal(), channel=channel)


def _no_metrics(metric: MessageMetric) -> None:
    """Drop message metrics (override ``message_metrics`` to export them)."""


class RootContainer(containers.DeclarativeContainer):
    """Everything a hexkernel service is made of, chosen by configuration."""

    config = providers.Configuration()
    settings = providers.Dependency(instance_of=Settings)

    memory = providers.Container(InMemoryContainer)
    mongo = providers.Container(MongoContainer, config=config.mongo)

    repository = providers.Selector(
        config.storage, memory=memory.repository, mongo=mongo.repository
    )
    uow_factory = providers.Selector(
        config.storage, memory=memory.uow_factory, mongo=mongo.uow_factory
    )
    clock = providers.Object(utcnow)

    # CQRS and event sourcing (docs/cqrs.md): services register their handlers
    # and projections by overriding the dictionaries and the list.
    event_store = providers.Selector(
        config.storage,
        memory=providers.Singleton(InMemoryEventStore, memory.store),
        mongo=providers.Singleton(MongoEventStore, mongo.database),
    )
    command_handlers = providers.Dict()
    query_handlers = providers.Dict()
    event_handlers = providers.Dict()
    projections = providers.List()
    message_metrics = providers.Object(_no_metrics)
    event_dispatcher = providers.Singleton(EventDispatcher, event_handlers)

    # Reliable messaging (docs/messaging.md): the broker from the ``broker``
    # settings, the outbox and inbox in the service's store, the relay, and the
    # consumer runner fed by the ``consumer_topics`` and ``consumer_handlers`` slots.
    broker = providers.Selector(
        config.broker_kind,
        memory=providers.Singleton(InMemoryBroker),
        redis=providers.Singleton(
            RedisBroker.from_url, config.broker.url, prefix=config.broker.prefix
        ),
    )
    outbox_store = providers.Selector(
        config.storage,
        memory=providers.Singleton(InMemoryOutboxStore, memory.store),
        mongo=providers.Singleton(MongoOutboxStore, mongo.database),
    )
    inbox = providers.Selector(
        config.storage,
        memory=providers.Singleton(InMemoryInbox, memory.store),
        mongo=providers.Singleton(MongoInbox, mongo.database),
    )
    message_routes = providers.Dict()
    message_registry = providers.Object(registry)
    outbox = providers.Singleton(Outbox, outbox_store, message_routes, registry=message_registry)
    outbox_relay = providers.Singleton(
        OutboxRelay,
        outbox_store,
        broker,
        owner=config.broker.consumer,
        batch_size=config.broker.relay_batch_size,
        lease=config.broker.relay_lease_seconds,
        poll_interval=config.broker.relay_poll_seconds,
        idle_poll_interval=config.broker.relay_idle_poll_seconds,
    )
    consumer_topics = providers.List()
    consumer_handlers = providers.Dict()
    consumer_runner = providers.Singleton(
        ConsumerRunner,
        broker,
        uow_factory,
        inbox,
        group=config.broker.group,
        topics=consumer_topics,
        handlers=consumer_handlers,
        consumer=config.broker.consumer,
        dispatcher=event_dispatcher,
        outbox=outbox,
        registry=message_registry,
        redeliver_after=config.broker.redeliver_after_seconds,
        max_attempts=config.broker.max_attempts,
    )
    consumers = providers.List(consumer_runner)
    command_bus = providers.Singleton(
        CommandBus,
        command_handlers,
        middleware=providers.List(
            providers.Singleton(LoggingMiddleware),
            providers.Singleton(MetricsMiddleware, message_metrics),
            providers.Singleton(UnitOfWorkMiddleware, uow_factory, event_dispatcher),
            providers.Singleton(OutboxMiddleware, outbox),
        ),
    )
    query_bus = providers.Singleton(
        QueryBus,
        query_handlers,
        middleware=providers.List(
            providers.Singleton(LoggingMiddleware),
            providers.Singleton(MetricsMiddleware, message_metrics),
        ),
    )
    projection_runner = providers.Singleton(ProjectionRunner, event_store, uow_factory, projections)

    # Sagas (docs/sagas.md): services list their SagaDefinitions in ``sagas``;
    # the coordinator's resume loop runs with the app (Service.start_background).
    saga_store = providers.Selector(
        config.storage,
        memory=providers.Singleton(InMemorySagaStore),
        mongo=providers.Singleton(MongoSagaStore, mongo.database),
    )
    sagas = providers.List()
    saga_coordinator = providers.Singleton(
        SagaCoordinator,
        saga_store,
        sagas,
        lease=config.sagas.lease_seconds,
        poll_interval=config.sagas.poll_seconds,
        batch_size=config.sagas.batch_size,
        concurrency=config.sagas.concurrency,
    )

    key_ring = providers.Singleton(_key_ring, settings)
    token_issuer = providers.Singleton(JwtIssuer, key_ring)
    token_cache = providers.Singleton(_token_cache, settings)
    token_verifier = providers.Selector(
        config.auth_mode,
        issuer=providers.Singleton(_local_verifier, key_ring, settings, token_cache),
        resource_server=providers.Singleton(_remote_verifier, settings, token_cache),
    )
    refresh_tokens = providers.Selector(
        config.storage,
        memory=providers.Singleton(InMemoryRefreshTokenStore),
        mongo=providers.Singleton(MongoRefreshTokenStore, mongo.database),
    )
    oauth_clients = providers.Singleton(_clients, settings)
    principal_invalidation = providers.Singleton(_principal_invalidation, settings)

    @classmethod
    def from_settings(cls, settings: Settings) -> "RootContainer":
        """Build a container configured from typed settings."""
        container = cls(settings=providers.Object(settings))
        uri = settings.mongo.uri
        broker = settings.broker
        broker_url = broker.broker_url
        container.config.from_dict(
            {
                "storage": "mongo" if uri is not None else "memory",
                "auth_mode": settings.auth.mode,
                "mongo": {
                    "uri": uri.reveal() if uri is not None else None,
                    "database": settings.mongo.database,
                    "server_selection_timeout_ms": settings.mongo.server_selection_timeout_ms,
                },
                "broker_kind": "redis" if broker_url is not None else "memory",
                "broker": {
                    "url": broker_url.reveal() if broker_url is not None else None,
                    "prefix": broker.prefix,
                    "group": broker.group or settings.service,
                    "consumer": broker.consumer,
                    "relay_batch_size": broker.relay_batch_size,
                    "relay_lease_seconds": broker.relay_lease_seconds,
                    "relay_poll_seconds": broker.relay_poll_seconds,
                    "relay_idle_poll_seconds": broker.relay_idle_poll_seconds,
                    "redeliver_after_seconds": broker.redeliver_after_seconds,
                    "max_attempts": broker.max_attempts,
                },
                "sagas": {
                    "lease_seconds": settings.sagas.lease_seconds,
                    "poll_seconds": settings.sagas.poll_seconds,
                    "batch_size": settings.sagas.batch_size,
                    "concurrency": settings.sagas.concurrency,
                },
            }
        )
        return container


@attrs.frozen(kw_only=True)
class Security:
    """Authentication of a service, as the HTTP interface needs it.

    Attributes:
        authenticator: Turns bearer tokens into principals.
        tokens: The token service; ``None`` in resource-server mode.
        issuer: Signs tokens and publishes the JWKS; ``None`` in resource-server mode.
    """

    authenticator: Authenticator
    tokens: TokenService | None = None
    issuer: TokenIssuer | None = None


class Service:
    """A container wired to a service's Models, with start-up and shutdown.

    Args:
        container: The composition root.
        models: The document Models the service stores.
    """

    def __init__(self, container: RootContainer, models: Sequence[type[Any]]) -> None:
        self.container = container
        self._user_model: type[Any] | None = None
        self._principal_cache: PrincipalCache | None = None
        self._forget_user_writes: Callable[[], None] | None = None
        self._background: list[OutboxRelay | ConsumerRunner | ProjectionRunner] = []
        self._relay_woken = False
        self.models = tuple(models)
        # Making a repository does no I/O (the MongoDB client connects lazily).
        self.repositories: dict[type[Any], Repository[Any]] = {
            m: container.repository(m) for m in self.models
        }

    def security(self, users: UserDirectory | type[Any] | None = None) -> Security:
        """Assemble authentication from the ``auth`` settings.

        Args:
            users: Who may log in with the ``password`` grant: a
                :class:`UserDirectory`, or a user Model stored by this service
                (then ``ModelUserDirectory(Model)`` with the fields ``email``,
                ``password`` and ``roles``). ``None``: no users, only clients.

        Raises:
            ConfigurationError: The keys or clients are not usable.
        """
        container = self.container
        settings = container.settings()
        directory: UserDirectory | None
        if isinstance(users, type):
            if users not in self.repositories:
                raise ValueError(f"the service does not store {users.__name__}")
            directory = ModelUserDirectory(self.repositories[users])
            self._user_model = users
        else:
            directory = users
        clients = container.oauth_clients()
        cache = None
        if directory is not None and settings.auth.principal_cache_seconds > 0:
            cache = PrincipalCache(
                settings.auth.principal_cache_seconds, channel=container.principal_invalidation()
            )
        self._principal_cache = cache
        authenticator = Authenticator(
            container.token_verifier(),
            users=directory,
            clients=[c.client_id for c in clients],
            roles_claim=settings.auth.roles_claim,
            cache=cache,
        )
        if settings.auth.mode == "resource_server":
            return Security(authenticator=authenticator)
        issuer = container.token_issuer()
        tokens = TokenService(
            issuer=issuer,
            refresh_tokens=container.refresh_tokens(),
            users=directory,
            clients=clients,
            issuer_id=settings.auth.issuer,
            audience=settings.auth.audience,
            access_token_seconds=settings.auth.access_token_seconds,
            refresh_token_seconds=settings.auth.refresh_token_seconds,
            public_login=settings.auth.public_login,
        )
        return Security(authenticator=authenticator, tokens=tokens, issuer=issuer)

    @property
    def storage(self) -> str:
        """``"memory"`` or ``"mongo"``."""
        return str(self.container.config.storage())

    async def startup(self) -> dict[str, IndexReport]:
        """Bind every Model's repository and synchronise its indexes and schema."""
        settings = self.container.settings()
        log.info("starting %s with settings %s", settings.service, redacted(settings))
        if self.storage == "memory":
            log.warning("no mongo.uri configured: running on the embedded in-memory store")
        await self._start_principal_cache(settings)
        reports = {}
        for model, repository in self.repositories.items():
            bind(model, repository)
            report = await repository.sync()
            reports[model.__name__] = report
            if report.differing:
                log.warning(
                    "%s: indexes differ from the declaration: %s", model.__name__, report.differing
                )
        await self._ensure_admin(settings)
        return reports

    async def start_background(self) -> None:
        """Start the outbox relay, the consumers, the projections and the sagas' resume loop.

        The relay runs unless ``broker.relay`` is off, the consumers that have
        topics, the projection runner (catching up, then following the event
        log) when projections are registered, and the resume loop when sagas
        are registered (in the ``sagas`` slot or on the coordinator). The
        MongoDB outbox's and saga store's indexes are created first, outside
        any transaction.
        """
        container = self.container
        store = container.outbox_store()
        if isinstance(store, MongoOutboxStore):
            await store.ensure_indexes()
        self._background = []
        if container.settings().broker.relay:
            relay = container.outbox_relay()
            if not self._relay_woken:
                # Publish right after each commit that wrote to the outbox.
                container.outbox().on_commit(relay.notify)
                self._relay_woken = True
            self._background.append(relay)
        self._background += [c for c in container.consumers() if c.topics]
        runner = container.projection_runner()
        if runner.projections:
            self._background.append(runner)
        for worker in self._background:
            await worker.start()
        coordinator = container.saga_coordinator()
        if coordinator.definitions:
            saga_store = container.saga_store()
            if isinstance(saga_store, MongoSagaStore):
                await saga_store.ensure_indexes()
            await coordinator.start_background()

    async def stop_background(self) -> None:
        """Stop what :meth:`start_background` started and close the broker's connections.

        Sagas the coordinator was advancing keep their claim until its lease
        ends; the next coordinator (this service restarted, or a replica)
        resumes them.
        """
        await self.container.saga_coordinator().stop_background()
        for worker in reversed(self._background):
            await worker.stop()
        self._background = []
        await self.container.broker().close()

    async def _start_principal_cache(self, settings: Settings) -> None:
        """Evict cached users when they are written, here and (by the channel) elsewhere."""
        cache = self._principal_cache
        if cache is None:
            return
        if self._user_model is not None:
            self._forget_user_writes = on_written(self._user_model, cache.written)
        else:
            log.warning(
                "the users are not a Model of this service: a change of a user reaches the "
                "principal cache after up to %d s (auth.principal_cache_seconds)",
                settings.auth.principal_cache_seconds,
            )
        await cache.start()

    async def _ensure_admin(self, settings: Settings) -> None:
        """Create the configured administrator (``auth.admin``) when no user has its e-mail."""
        admin = settings.auth.admin
        model = self._user_model
        if model is None or admin.email is None or admin.password is None:
            return
        repository = self.repositories[model]
        email = admin.email.strip().lower()
        if await repository.count(model.email == email, unfiltered=True):
            return
        values: dict[str, Any] = {"email": email, "password": admin.password.reveal()}
        fields = model.__model__.by_name
        if "roles" in fields:
            values["roles"] = ["admin"]
        if "name" in fields:
            values["name"] = admin.name
        try:
            await repository.insert(model.from_dict(values))
        except DuplicateKey:
            return  # another replica created it meanwhile
        log.info("created the administrator account %s", email)

    async def shutdown(self) -> None:
        """Unbind the Models and close the database client, if one was opened."""
        for model in self.models:
            unbind(model)
        if self._forget_user_writes is not None:
            self._forget_user_writes()
            self._forget_user_writes = None
        if self._principal_cache is not None:
            await self._principal_cache.stop()
        if self.container.config.auth_mode() == "resource_server":
            await self.container.token_verifier().aclose()
        if self.storage == "mongo":
            await self.container.mongo.client().close()
