"""Role-based access control, declared on the Model.

::

    class Task(Model, access=Access(
        rows=Owner("owner") | Role("admin"),      # which documents a caller can see at all
        create=Authenticated(),
        update=Owner("owner") | Role("admin"),
        actions={"complete": Authenticated()},
        fields={"owner": Role("admin")},          # who may set a field
    )):
        ...

A :class:`Rule` says whether a :class:`~hexkernel.core.security.Principal`
may do something, in two forms:

* :meth:`Rule.decide` for a principal alone: allow, deny, or allow only the
  documents matching a query expression (a *row-level* restriction);
* :meth:`Rule.permits` for a principal and one object.

``rows`` is special: it becomes a predefined filter of the Model (see
:mod:`hexkernel.core.persistence`), evaluated with the principal bound to the
current context, so every read, count, text search, aggregation, update and
delete only ever sees the caller's rows: another caller's document is simply
not found. The per-operation rules (``list``, ``read``, ``create``,
``update``, ``delete``, ``actions``) are checked by interfaces before they
act and answer "unauthenticated" or "forbidden". Rules are evaluated against
the principal bound with :func:`~hexkernel.core.security.as_principal`; with
none bound the caller is anonymous, so code outside a request (a job, a
migration) binds a principal of its own or reads with ``unfiltered=True``.

Written here rather than taken from a policy library: the rules must turn
into query expressions of this framework's DSL (row-level filters that the
stores run), which no general-purpose authorisation library produces.
"""

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import attrs

from hexkernel.core.query import Expr
from hexkernel.core.security import Principal, current_principal

__all__ = (
    "Access",
    "Anyone",
    "Authenticated",
    "Decision",
    "Nobody",
    "Owner",
    "Predicate",
    "Role",
    "Rule",
    "Scope",
    "access_of",
    "rows_filter",
)


@attrs.frozen
class Decision:
    """What a rule decides for a principal, before any document is seen.

    Attributes:
        allowed: False means "no document at all".
        where: When allowed, the documents it is limited to (None: all of them).
    """

    allowed: bool
    where: Expr | None = None

    @property
    def unconditional(self) -> bool:
        """Allowed for every document."""
        return self.allowed and self.where is None


ALLOW = Decision(allowed=True)
DENY = Decision(allowed=False)


class Rule:
    """Base of access rules; combine with ``|`` (either) and ``&`` (both).

    ``pure`` says that :meth:`decide` depends on the principal alone (no
    clock, no context), so that its result may be remembered per principal;
    the built-in rules are pure, a :class:`Predicate` or a rule of your own
    is not, unless it says so.
    """

    pure: ClassVar[bool] = False

    def decide(self, model: type[Any], principal: Principal) -> Decision:
        """Whether ``principal`` may act on documents of ``model``, and on which."""
        raise NotImplementedError

    def permits(self, principal: Principal, item: Any) -> bool:
        """Whether ``principal`` may act on ``item`` (a Model instance)."""
        raise NotImplementedError

    def __or__(self, other: "Rule") -> "Rule":
        return AnyOf((self, other))

    def __and__(self, other: "Rule") -> "Rule":
        return AllOf((self, other))


@attrs.frozen
class Anyone(Rule):
    """Everybody, anonymous callers included."""

    pure: ClassVar[bool] = True

    def decide(self, model: type[Any], principal: Principal) -> Decision:  # noqa: ARG002
        """Always allowed."""
        return ALLOW

    def permits(self, principal: Principal, item: Any) -> bool:  # noqa: ARG002
        """Always allowed."""
        return True


@attrs.frozen
class Nobody(Rule):
    """Nobody at all (an operation closed to every caller)."""

    pure: ClassVar[bool] = True

    def decide(self, model: type[Any], principal: Principal) -> Decision:  # noqa: ARG002
        """Never allowed."""
        return DENY

    def permits(self, principal: Principal, item: Any) -> bool:  # noqa: ARG002
        """Never allowed."""
        return False


@attrs.frozen
class Authenticated(Rule):
    """Any authenticated caller (a user or a client)."""

    pure: ClassVar[bool] = True

    def decide(self, model: type[Any], principal: Principal) -> Decision:  # noqa: ARG002
        """Allowed when authenticated."""
        return ALLOW if principal.is_authenticated else DENY

    def permits(self, principal: Principal, item: Any) -> bool:  # noqa: ARG002
        """Allowed when authenticated."""
        return principal.is_authenticated


@attrs.frozen
class Role(Rule):
    """A caller holding at least one of ``roles``."""

    pure: ClassVar[bool] = True

    roles: frozenset[str] = attrs.field(converter=frozenset)

    def __init__(self, *roles: str) -> None:
        self.__attrs_init__(frozenset(roles))  # type: ignore[attr-defined]

    def decide(self, model: type[Any], principal: Principal) -> Decision:  # noqa: ARG002
        """Allowed when the principal holds one of the roles."""
        return ALLOW if principal.has_role(*self.roles) else DENY

    def permits(self, principal: Principal, item: Any) -> bool:  # noqa: ARG002
        """Allowed when the principal holds one of the roles."""
        return principal.has_role(*self.roles)


@attrs.frozen
class Scope(Rule):
    """A caller whose token carries the OAuth2 ``scope``."""

    pure: ClassVar[bool] = True

    scope: str

    def decide(self, model: type[Any], principal: Principal) -> Decision:  # noqa: ARG002
        """Allowed when the token carries the scope."""
        return ALLOW if principal.has_scope(self.scope) else DENY

    def permits(self, principal: Principal, item: Any) -> bool:  # noqa: ARG002
        """Allowed when the token carries the scope."""
        return principal.has_scope(self.scope)


@attrs.frozen
class Owner(Rule):
    """The document's ``field`` equals the caller's subject (``Owner("id")``: oneself)."""

    pure: ClassVar[bool] = True

    field: str = "owner"

    def decide(self, model: type[Any], principal: Principal) -> Decision:
        """Allowed on the documents whose field is the principal's subject."""
        if principal.subject is None:
            return DENY
        return Decision(allowed=True, where=getattr(model, self.field) == principal.subject)

    def permits(self, principal: Principal, item: Any) -> bool:
        """Allowed when the item's field is the principal's subject."""
        return principal.subject is not None and getattr(item, self.field) == principal.subject


@attrs.frozen
class Predicate(Rule):
    """A custom rule.

    Args:
        check: ``check(principal, item)`` for one object; ``item`` is None
            when the decision is made before any document is seen.
        where: Optional ``where(model, principal)`` returning True, False or
            a query expression (the rows allowed). Without it, decisions
            without a document use ``check(principal, None)``.
    """

    check: Callable[[Principal, Any], bool]
    where: Callable[[type[Any], Principal], "Expr | bool"] | None = None

    def decide(self, model: type[Any], principal: Principal) -> Decision:
        """Allowed, denied or restricted, as ``where`` (or ``check``) says."""
        if self.where is None:
            return ALLOW if self.check(principal, None) else DENY
        result = self.where(model, principal)
        if result is True:
            return ALLOW
        if result is False:
            return DENY
        return Decision(allowed=True, where=result)

    def permits(self, principal: Principal, item: Any) -> bool:
        """What ``check`` says for the item."""
        return bool(self.check(principal, item))


@attrs.frozen
class AnyOf(Rule):
    """At least one of the rules allows."""

    rules: tuple[Rule, ...]

    @property
    def pure(self) -> bool:  # type: ignore[override]
        """Pure when every rule is."""
        return all(rule.pure for rule in self.rules)

    def __or__(self, other: Rule) -> Rule:
        return AnyOf((*self.rules, other))

    def decide(self, model: type[Any], principal: Principal) -> Decision:
        """Allowed where any rule allows: the union of their rows."""
        wheres: list[Expr] = []
        for rule in self.rules:
            decision = rule.decide(model, principal)
            if decision.unconditional:
                return ALLOW
            if decision.allowed and decision.where is not None:
                wheres.append(decision.where)
        if not wheres:
            return DENY
        combined = wheres[0]
        for where in wheres[1:]:
            combined = combined | where
        return Decision(allowed=True, where=combined)

    def permits(self, principal: Principal, item: Any) -> bool:
        """Any rule permits."""
        return any(rule.permits(principal, item) for rule in self.rules)


@attrs.frozen
class AllOf(Rule):
    """Every rule allows."""

    rules: tuple[Rule, ...]

    @property
    def pure(self) -> bool:  # type: ignore[override]
        """Pure when every rule is."""
        return all(rule.pure for rule in self.rules)

    def __and__(self, other: Rule) -> Rule:
        return AllOf((*self.rules, other))

    def decide(self, model: type[Any], principal: Principal) -> Decision:
        """Allowed where every rule allows: the intersection of their rows."""
        wheres: list[Expr] = []
        for rule in self.rules:
            decision = rule.decide(model, principal)
            if not decision.allowed:
                return DENY
            if decision.where is not None:
                wheres.append(decision.where)
        if not wheres:
            return ALLOW
        combined = wheres[0]
        for where in wheres[1:]:
            combined = combined & where
        return Decision(allowed=True, where=combined)

    def permits(self, principal: Principal, item: Any) -> bool:
        """Every rule permits."""
        return all(rule.permits(principal, item) for rule in self.rules)


def _rules(value: Mapping[str, Rule] | None) -> Mapping[str, Rule]:
    return dict(value or {})


@attrs.frozen(kw_only=True)
class Access:
    """Who may do what with a Model's documents.

    Every rule defaults to :class:`Anyone`. ``read`` covers reading one
    document (and its ``meta``/``schema``), ``list`` the collection (lists,
    counts, searches, aggregations; by default the ``read`` rule); ``update``
    covers PUT, PATCH and, unless ``actions`` names them, every action.

    Attributes:
        rows: The documents a caller can see at all (a predefined filter:
            hidden documents are "not found"). None: all of them.
        list: Reading the collection.
        read: Reading one document.
        create: Creating documents.
        update: Replacing or patching a document.
        delete: Deleting a document.
        actions: Per action name, who may run it (default: ``update``).
        fields: Per field name, who may set it on create or update; a value
            sent by anyone else is refused.
    """

    rows: Rule | None = None
    list: Rule | None = None
    read: Rule = attrs.field(factory=Anyone)
    create: Rule = attrs.field(factory=Anyone)
    update: Rule = attrs.field(factory=Anyone)
    delete: Rule = attrs.field(factory=Anyone)
    actions: Mapping[str, Rule] = attrs.field(factory=dict, converter=_rules)
    fields: Mapping[str, Rule] = attrs.field(factory=dict, converter=_rules)

    @property
    def list_rule(self) -> Rule:
        """The rule for reading the collection."""
        return self.list if self.list is not None else self.read

    def action_rule(self, name: str) -> Rule:
        """The rule for running action ``name``."""
        return self.actions.get(name, self.update)


OPEN = Access()
"""The access of a Model that declares none: everything is allowed to everybody."""


def access_of(model: type[Any]) -> Access:
    """The access rules a Model declares (``access=`` class option), or :data:`OPEN`."""
    declared = getattr(model.__model__, "access", None)
    return declared if isinstance(declared, Access) else OPEN


# Row restrictions of pure rules, per Model and principal (by identity: the
# authenticator hands out the same principal object while the caller's token
# and user lookup are unchanged). An entry holds its principal, so the id
# cannot be reused while it is there.
_ROWS: dict[tuple[type[Any], int], tuple[Principal, "Expr | None"]] = {}
_ROWS_LIMIT = 10_000
# Per Model: the access declaration seen, its rows rule and whether it is pure.
_ROW_RULES: dict[type[Any], tuple[Any, Rule | None, bool]] = {}


def rows_filter(model: type[Any]) -> Expr | None:
    """The row-level restriction of ``model`` for the current principal.

    Returns None when every row is visible; a caller allowed no row gets an
    expression that matches nothing. The result of a pure rule is
    remembered per principal.
    """
    declared = getattr(model.__model__, "access", None)
    known = _ROW_RULES.get(model)
    if known is None or known[0] is not declared:
        rule = access_of(model).rows
        known = _ROW_RULES[model] = (declared, rule, rule is not None and bool(rule.pure))
    _, rule, pure = known
    if rule is None:
        return None
    principal = current_principal()
    if pure:
        key = (model, id(principal))
        hit = _ROWS.get(key)
        if hit is not None and hit[0] is principal:
            return hit[1]
    decision = rule.decide(model, principal)
    where: Expr | None
    if decision.unconditional:
        where = None
    elif not decision.allowed:
        where = model.id.in_(())
    else:
        where = decision.where
    if pure:
        if len(_ROWS) >= _ROWS_LIMIT:
            _ROWS.clear()
        _ROWS[key] = (principal, where)
    return where
