"""Who is calling: the :class:`Principal` bound for one request, message or command.

An interface authenticates the caller (a bearer token, say) and binds the
resulting principal for the duration of the work with :func:`as_principal`;
the domain reads it with :func:`current_principal`, and the ``CurrentUser``
generator of a Model reads its ``subject`` through
:func:`hexkernel.core.context.current_user`. A :class:`contextvars.ContextVar`
keeps concurrent requests apart, also across ``await`` points. Nobody bound
means :data:`ANONYMOUS`.

Example::

    with as_principal(Principal(subject="usr_01J...", roles=frozenset({"user"}))):
        assert current_principal().has_role("user")
"""

from collections.abc import Iterable, Mapping
from contextvars import ContextVar, Token
from types import MappingProxyType
from typing import Any

import attrs

__all__ = (
    "ANONYMOUS",
    "Principal",
    "as_principal",
    "current_principal",
    "principal_from_claims",
)


def _names(values: Iterable[str]) -> frozenset[str]:
    if isinstance(values, str):
        return frozenset(values.split())
    return frozenset(values)


def _frozen_mapping(values: Mapping[str, Any]) -> Mapping[str, Any]:
    if type(values) is MappingProxyType:
        return values  # already a read-only view of a private copy (another principal's)
    return MappingProxyType(dict(values))


@attrs.frozen(kw_only=True)
class Principal:
    """The authenticated caller, or nobody.

    Attributes:
        subject: The user's id (a token's ``sub``); for a client acting on its
            own behalf, the client id. ``None`` for an anonymous caller.
        roles: The roles granted (``user``, ``admin``, ...).
        scopes: The OAuth2 scopes the token carries.
        client_id: The OAuth2 client the token was issued to, if any.
        claims: Every verified claim of the token (read-only), for rules that
            need more than the above.
    """

    subject: str | None = None
    roles: frozenset[str] = attrs.field(default=frozenset(), converter=_names)
    scopes: frozenset[str] = attrs.field(default=frozenset(), converter=_names)
    client_id: str | None = None
    claims: Mapping[str, Any] = attrs.field(
        factory=dict, converter=_frozen_mapping, eq=False, repr=False
    )

    @property
    def is_authenticated(self) -> bool:
        """Whether somebody (a user or a client) was authenticated."""
        return self.subject is not None or self.client_id is not None

    def has_role(self, *roles: str) -> bool:
        """Whether the principal holds at least one of ``roles``."""
        return not self.roles.isdisjoint(roles)

    def has_scope(self, scope: str) -> bool:
        """Whether the principal's token was granted ``scope``."""
        return scope in self.scopes


ANONYMOUS = Principal()
"""The principal of a caller who presented no credentials."""

_CURRENT: ContextVar[Principal] = ContextVar("hexkernel_principal", default=ANONYMOUS)


def current_principal() -> Principal:
    """Return the principal bound for the current work, or :data:`ANONYMOUS`."""
    return _CURRENT.get()


class as_principal:  # noqa: N801 - used as a function: `with as_principal(p):`
    """Bind ``principal`` as the caller inside the ``with`` block, then restore the previous one.

    A class rather than a generator-based context manager: it runs on every
    request, and this costs a third as much.
    """

    __slots__ = ("_principal", "_token")

    def __init__(self, principal: Principal) -> None:
        self._principal = principal
        self._token: Token[Principal] | None = None

    def __enter__(self) -> Principal:
        self._token = _CURRENT.set(self._principal)
        return self._principal

    def __exit__(self, *_: object) -> None:
        if self._token is not None:
            _CURRENT.reset(self._token)
            self._token = None


def _claim(claims: Mapping[str, Any], path: str) -> Any:
    node: Any = claims
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def principal_from_claims(claims: Mapping[str, Any], *, roles_claim: str = "roles") -> Principal:
    """Build the principal a verified token describes.

    Args:
        claims: The verified claims.
        roles_claim: Where the roles are: a claim name, or a dotted path into
            nested claims (``realm_access.roles`` for Keycloak).

    Returns:
        A principal with ``sub`` as subject, the roles found (a list of
        strings; anything else counts as none), the scopes of ``scope`` (a
        space-separated string) or ``scp`` (a list), and ``client_id`` (or
        ``azp``).
    """
    roles = _claim(claims, roles_claim)
    scope = claims.get("scope")
    scopes: Iterable[str] = ()
    if isinstance(scope, str):
        scopes = scope.split()
    elif isinstance(claims.get("scp"), list):
        scopes = [s for s in claims["scp"] if isinstance(s, str)]
    client = claims.get("client_id", claims.get("azp"))
    subject = claims.get("sub")
    return Principal(
        subject=subject if isinstance(subject, str) else None,
        roles=[r for r in roles if isinstance(r, str)] if isinstance(roles, list) else (),
        scopes=scopes,
        client_id=client if isinstance(client, str) else None,
        claims=claims,
    )
