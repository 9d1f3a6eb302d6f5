"""Externalised configuration: ``cfg.yml``, ``HEXKERNEL_...`` variables and flags, typed.

Precedence, highest first: command-line flags, environment variables,
``cfg.yml``, the defaults of the settings classes. An environment variable is
``HEXKERNEL_`` followed by the upper-case key path joined by ``__``
(``mongo.uri`` is ``HEXKERNEL_MONGO__URI``). Settings are attrs classes; a
service extends :class:`Settings` with its own sections. Values are converted
to the declared types with cattrs; every key that cannot be converted (or is
unknown) is reported at once as a :class:`ConfigurationError` naming the key
and its problem; range and choice checks run once the types are right.

Secrets (:class:`Secret`: passwords, connection strings with credentials,
keys) print as ``'***'`` in ``repr``, ``str`` and :func:`redacted`, so settings
can be logged safely; :meth:`Secret.reveal` gives the value to the code that
needs it.
"""

import os
import re
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import attrs
import cattrs
import yaml
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError, IterableValidationError

from hexkernel.core.errors import HexkernelError

__all__ = (
    "AdminSettings",
    "AuthSettings",
    "BrokerSettings",
    "ClientSettings",
    "ConfigurationError",
    "HttpSettings",
    "KeySettings",
    "MongoSettings",
    "SagaSettings",
    "Secret",
    "Settings",
    "load_settings",
    "redacted",
)

ENV_PREFIX = "HEXKERNEL_"
S = TypeVar("S")


class ConfigurationError(HexkernelError, ValueError):
    """The configuration is invalid; ``problems`` maps each key path to what is wrong."""

    def __init__(self, problems: Mapping[str, str]) -> None:
        self.problems = dict(problems)
        lines = "\n".join(f"  {key}: {problem}" for key, problem in self.problems.items())
        super().__init__(f"invalid configuration:\n{lines}")


@attrs.frozen(repr=False)
class Secret:
    """A configuration value that must never be printed."""

    _value: str

    def reveal(self) -> str:
        """The secret itself, for the code that uses it (never for logs)."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"


@attrs.frozen(kw_only=True)
class MongoSettings:
    """Where the documents live. Without ``uri`` the embedded in-memory store is used."""

    uri: Secret | None = None
    database: str = "hexkernel"
    server_selection_timeout_ms: int = attrs.field(default=5000, validator=attrs.validators.gt(0))


_BROKER_SCHEMES = ("redis://", "rediss://", "unix://")


def _broker_url(_: Any, attribute: "attrs.Attribute[Any]", value: Secret | None) -> None:
    if value is not None and not value.reveal().startswith(_BROKER_SCHEMES):
        raise ValueError(f"'{attribute.name}' must be a Redis URL (scheme redis, rediss or unix)")


@attrs.frozen(kw_only=True)
class BrokerSettings:
    """The message broker, the outbox relay and the consumers (docs/messaging.md).

    Without ``url`` (or its synonym ``redis_url``) the in-memory broker is
    used: messages then stay inside the process.
    """

    url: Secret | None = attrs.field(default=None, validator=_broker_url)
    redis_url: Secret | None = attrs.field(default=None, validator=_broker_url)
    prefix: str = "hk:"
    group: str | None = None
    consumer: str | None = None
    relay: bool = True
    relay_batch_size: int = attrs.field(default=100, validator=attrs.validators.ge(1))
    relay_lease_seconds: float = attrs.field(default=30.0, validator=attrs.validators.gt(0))
    relay_poll_seconds: float = attrs.field(default=0.2, validator=attrs.validators.gt(0))
    relay_idle_poll_seconds: float = attrs.field(default=2.0, validator=attrs.validators.gt(0))
    redeliver_after_seconds: float = attrs.field(default=30.0, validator=attrs.validators.gt(0))
    max_attempts: int | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.ge(1))
    )

    def __attrs_post_init__(self) -> None:
        if self.url is not None and self.redis_url is not None:
            raise ValueError("set either 'url' or 'redis_url', not both")

    @property
    def broker_url(self) -> Secret | None:
        """The broker's URL, from ``url`` or ``redis_url``."""
        return self.url if self.url is not None else self.redis_url


@attrs.frozen(kw_only=True)
class SagaSettings:
    """The saga coordinator (docs/sagas.md).

    ``lease_seconds`` is how long a coordinator's claim on a saga lasts beyond
    a step's timeout: after a crash, another coordinator resumes the saga
    once it has run out.
    """

    lease_seconds: float = attrs.field(default=30.0, validator=attrs.validators.gt(0))
    poll_seconds: float = attrs.field(default=1.0, validator=attrs.validators.gt(0))
    batch_size: int = attrs.field(default=50, validator=attrs.validators.ge(1))
    concurrency: int = attrs.field(default=10, validator=attrs.validators.ge(1))


@attrs.frozen(kw_only=True)
class HttpSettings:
    """The HTTP server and the generated REST resources."""

    host: str = "127.0.0.1"
    port: int = attrs.field(
        default=8000, validator=[attrs.validators.ge(0), attrs.validators.le(65535)]
    )
    prefix: str = ""
    default_page_size: int = attrs.field(default=20, validator=attrs.validators.ge(1))
    max_page_size: int = attrs.field(default=100, validator=attrs.validators.ge(1))
    max_body_bytes: int = attrs.field(default=1_048_576, validator=attrs.validators.ge(1))
    max_aggregate_results: int = attrs.field(default=1000, validator=attrs.validators.ge(1))
    aggregate_timeout_ms: int = attrs.field(default=5000, validator=attrs.validators.ge(1))


@attrs.frozen(kw_only=True)
class KeySettings:
    """One RS256 key: a PEM private key that signs, or a public key that only verifies."""

    kid: str
    private_key_file: str | None = None
    public_key_file: str | None = None
    passphrase: Secret | None = None


_GRANTS = ("password", "client_credentials", "refresh_token")


@attrs.frozen(kw_only=True)
class ClientSettings:
    """An OAuth2 client; its id is its key under ``auth.clients``.

    ``secret_hash`` is the argon2id hash of the client's secret (see
    ``hexkernel.application.auth.hash_client_secret``); without it the client
    is public and may not use ``client_credentials``.
    """

    secret_hash: Secret | None = None
    grants: list[str] = attrs.field(
        factory=lambda: ["client_credentials"],
        validator=attrs.validators.deep_iterable(attrs.validators.in_(_GRANTS)),
    )
    scopes: list[str] = attrs.field(factory=list)
    roles: list[str] = attrs.field(factory=list)


@attrs.frozen(kw_only=True)
class AdminSettings:
    """The administrator account a service creates at start-up when it is absent."""

    email: str | None = None
    password: Secret | None = None
    name: str = "admin"


@attrs.frozen(kw_only=True)
class AuthSettings:
    """Authentication: the token issuer, or trust in an external one (``resource_server``).

    ``public_login`` lets token requests that name no client log users in
    (``password`` and ``refresh_token`` grants, as a public client).

    ``principal_cache_seconds`` keeps each user lookup (existence and roles)
    that long at most; a write of the user through the service's
    repositories evicts it at once in this process, and in the service's
    other processes through Redis pub/sub on ``principal_invalidation`` (a
    Redis URL; by default the broker's, when the broker is on Redis). 0 reads
    the user on every request (docs/security.md).
    """

    mode: str = attrs.field(
        default="issuer", validator=attrs.validators.in_(("issuer", "resource_server"))
    )
    issuer: str = "hexkernel"
    audience: str = "hexkernel"
    access_token_seconds: int = attrs.field(default=900, validator=attrs.validators.ge(1))
    refresh_token_seconds: int = attrs.field(default=1_209_600, validator=attrs.validators.ge(1))
    leeway_seconds: int = attrs.field(default=5, validator=attrs.validators.ge(0))
    keys: list[KeySettings] = attrs.field(factory=list)
    active_kid: str | None = None
    clients: dict[str, ClientSettings] = attrs.field(factory=dict)
    admin: AdminSettings = attrs.field(factory=AdminSettings)
    jwks_url: str | None = None
    jwks_refetch_seconds: int = attrs.field(default=30, validator=attrs.validators.ge(0))
    public_login: bool = True
    roles_claim: str = "roles"
    token_cache_seconds: int = attrs.field(default=60, validator=attrs.validators.ge(0))
    principal_cache_seconds: int = attrs.field(default=60, validator=attrs.validators.ge(0))
    principal_invalidation: Secret | None = attrs.field(default=None, validator=_broker_url)

    def __attrs_post_init__(self) -> None:
        if self.mode == "resource_server" and not self.jwks_url:
            raise ValueError("'jwks_url' must be set in resource_server mode")
        if self.active_kid is not None and self.active_kid not in {k.kid for k in self.keys}:
            raise ValueError("'active_kid' must name one of the keys")


@attrs.frozen(kw_only=True)
class Settings:
    """The settings every hexkernel service has; subclass to add sections."""

    service: str = "hexkernel"
    log_level: str = attrs.field(
        default="INFO", validator=attrs.validators.in_(("DEBUG", "INFO", "WARNING", "ERROR"))
    )
    mongo: MongoSettings = attrs.field(factory=MongoSettings)
    http: HttpSettings = attrs.field(factory=HttpSettings)
    auth: AuthSettings = attrs.field(factory=AuthSettings)
    broker: BrokerSettings = attrs.field(factory=BrokerSettings)
    sagas: SagaSettings = attrs.field(factory=SagaSettings)


def _converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    conv.register_structure_hook(
        Secret, lambda value, _: value if isinstance(value, Secret) else Secret(str(value))
    )
    conv.register_unstructure_hook(Secret, str)

    def to_bool(value: Any, _: Any) -> bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise ValueError("expected true or false")

    def to_int(value: Any, _: Any) -> int:
        if isinstance(value, bool):
            raise TypeError("expected an integer")
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                raise ValueError("expected an integer") from None
        if isinstance(value, int):
            return value
        raise TypeError("expected an integer")

    def to_str(value: Any, _: Any) -> str:
        if isinstance(value, (dict, list)):
            raise TypeError("expected text")
        return str(value)

    conv.register_structure_hook(bool, to_bool)
    conv.register_structure_hook(int, to_int)
    conv.register_structure_hook(str, to_str)
    return conv


_CONVERTER = _converter()


def _problems(exc: BaseException, path: str) -> dict[str, str]:
    out: dict[str, str] = {}
    if isinstance(exc, ClassValidationError):
        with_notes, others = exc.group_exceptions()
        for sub, note in with_notes:
            out.update(_problems(sub, f"{path}.{note.name}" if path else note.name))
        for sub in others:
            out.update(_problems(sub, path))
    elif isinstance(exc, IterableValidationError):
        for sub in exc.exceptions:
            out.update(_problems(sub, path))
    elif isinstance(exc, ForbiddenExtraKeysError):
        for key in sorted(exc.extra_fields):
            out[f"{path}.{key}" if path else key] = "is not a known setting"
    elif isinstance(exc, KeyError):
        out[path] = "is required"
    else:
        message = str(exc.args[0]) if exc.args and isinstance(exc.args[0], str) else str(exc)
        # attrs validators name the attribute in their message: "'port' must be <= 65535: 70000"
        named = _ATTRS_MESSAGE.match(message)
        if named:
            key = f"{path}.{named.group(1)}" if path else named.group(1)
            out[key] = named.group(2)
        else:
            out[path or "<root>"] = message
    return out


_ATTRS_MESSAGE = re.compile(r"^'(\w+)' (must [^:]*)")


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{"mongo.uri": x}`` -> ``{"mongo": {"uri": x}}``."""
    out: dict[str, Any] = {}
    for dotted, value in flat.items():
        node = out
        *heads, last = dotted.split(".")
        for head in heads:
            node = node.setdefault(head, {})
        node[last] = value
    return out


def _from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    flat = {
        name[len(ENV_PREFIX) :].lower().replace("__", "."): value
        for name, value in environ.items()
        if name.startswith(ENV_PREFIX) and len(name) > len(ENV_PREFIX)
    }
    return _nest(flat)


def _from_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError({str(path): f"cannot be read ({exc.strerror})"}) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigurationError({str(path): f"is not valid YAML{where}"}) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigurationError({str(path): "must hold a mapping of settings"})
    return data


def load_settings(
    schema: type[S] = Settings,  # type: ignore[assignment]
    *,
    config_file: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> S:
    """Load typed settings from defaults, ``cfg.yml``, the environment and flags.

    Args:
        schema: The settings class (:class:`Settings` or a subclass).
        config_file: A YAML file; ``None`` reads ``$HEXKERNEL_CONFIG``, else
            ``./cfg.yml`` when it exists.
        environ: The environment (``os.environ`` by default).
        flags: Values from the command line, by dotted key (``{"http.port": 9000}``);
            ``None`` values are ignored.

    Raises:
        ConfigurationError: Naming every invalid key.
    """
    env = os.environ if environ is None else environ
    if config_file is None and env.get("HEXKERNEL_CONFIG"):
        config_file = env["HEXKERNEL_CONFIG"]
    path = Path(config_file) if config_file is not None else Path("cfg.yml")
    data: dict[str, Any] = {}
    if config_file is not None or path.exists():
        data = _from_file(path)
    data = _merge(data, _from_env({k: v for k, v in env.items() if k != "HEXKERNEL_CONFIG"}))
    data = _merge(data, _nest({k: v for k, v in (flags or {}).items() if v is not None}))
    try:
        return _CONVERTER.structure(data, schema)
    except (ClassValidationError, ForbiddenExtraKeysError, ValueError, TypeError) as exc:
        raise ConfigurationError(_problems(exc, "")) from None


def redacted(settings: Any) -> dict[str, Any]:
    """The settings as plain data with every secret shown as ``'***'`` (for logs)."""
    return typing.cast("dict[str, Any]", _CONVERTER.unstructure(settings))
