"""What the domain declares about persistence, and the active-record facade.

* :class:`Index` and ``Field(index=, unique=, text=)`` declare indexes.
* :func:`predefined_filter` marks a classmethod whose expression is applied
  to every read, count, update and delete of the Model (soft delete, tenant).
* :func:`bind` attaches a repository to a Model; the active-record methods of
  :class:`~hexkernel.core.Model` (``save``, ``get``, ``find``, ...) delegate
  to it, or to the repository of the unit of work open in the current context.
* Objects loaded with a projection are remembered as *partial*, so that they
  cannot be saved back by accident.
"""

import weakref
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import attrs

from hexkernel.core.access import access_of, rows_filter
from hexkernel.core.errors import RepositoryNotBound
from hexkernel.core.model import Kind
from hexkernel.core.query import Expr, FieldRef, Query, SortKey, UpdateOp

if TYPE_CHECKING:
    from hexkernel.core.ports.repository import Repository
    from hexkernel.core.ports.unit_of_work import UnitOfWork

__all__ = (
    "Finder",
    "Index",
    "activate",
    "bind",
    "bound_repository",
    "combined_filter",
    "deactivate",
    "in_unit_of_work",
    "is_partial",
    "loaded_fields",
    "mark_partial",
    "model_indexes",
    "predefined_filter",
    "unbind",
)

M = TypeVar("M")


# ------------------------------------------------------------------ indexes
@attrs.frozen
class Index:
    """A database index over one or more fields.

    Keys are field paths; a leading ``-`` makes a key descending. Example::

        class Task(Model, indexes=[Index.of("project", "-priority")]):
            ...
    """

    keys: tuple[tuple[str, int | str], ...]
    unique: bool = False
    name: str | None = None

    @classmethod
    def of(cls, *keys: str, unique: bool = False, name: str | None = None) -> "Index":
        """Build an index from ``"field"`` / ``"-field"`` keys."""
        if not keys:
            raise ValueError("an index needs at least one key")
        parsed = tuple((k[1:], -1) if k.startswith("-") else (k, 1) for k in keys)
        return cls(parsed, unique, name)

    @classmethod
    def geo(cls, path: str, name: str | None = None) -> "Index":
        """A ``2dsphere`` index on a GeoJSON field at ``path`` (one inside an embedded Model, say).

        Top-level GeoJSON fields get one without asking.
        """
        return cls(((path, "2dsphere"),), name=name)

    @property
    def resolved_name(self) -> str:
        """The index name: given, or MongoDB's default (``field_1_other_-1``)."""
        return self.name or "_".join(f"{path}_{direction}" for path, direction in self.keys)

    @property
    def fields(self) -> tuple[str, ...]:
        """The indexed field paths."""
        return tuple(path for path, _ in self.keys)


def model_indexes(model: type[Any]) -> tuple[Index, ...]:
    """Every index a Model declares: per field, per class option, and one text index."""
    info = model.__model__
    out: list[Index] = []
    for field in info.fields:
        spec = field.spec
        if spec.index and not (info.document and field.name == "id"):
            out.append(Index(((field.name, 1),), unique=spec.unique))
    # GeoJSON fields get the 2dsphere index that $near needs and the other geo operators use.
    out.extend(Index(((f.name, "2dsphere"),)) for f in info.fields if f.node.kind is Kind.GEOMETRY)
    out.extend(getattr(info, "declared_indexes", ()))
    text = tuple((f.name, "text") for f in info.fields if f.spec.text)
    if text:
        out.append(Index(text, name=f"{info.collection}_text"))
    return tuple(out)


# --------------------------------------------------------- predefined filters
_FILTER_MARK = "__hexkernel_predefined_filter__"


def predefined_filter(method: Callable[[type[Any]], Expr | None]) -> classmethod:  # type: ignore[type-arg]
    """Mark a classmethod returning the filter applied to every operation on the Model.

    It is evaluated on each operation, so it may read context (the current
    tenant, say); returning ``None`` applies no restriction. Bypass it only
    explicitly, with ``unfiltered=True``. Example::

        class Task(Model):
            deleted: bool = False

            @predefined_filter
            def _live(cls) -> Expr:
                return cls.deleted == False
    """
    function = method.__func__ if isinstance(method, classmethod) else method
    setattr(function, _FILTER_MARK, True)
    return classmethod(function)


def _filters_of(model: type[Any]) -> list[Callable[[], Expr | None]]:
    names: dict[str, None] = {}
    for klass in reversed(model.__mro__):
        for name, member in vars(klass).items():
            if isinstance(member, classmethod) and getattr(member.__func__, _FILTER_MARK, False):
                names[name] = None
    return [getattr(model, name) for name in names]


_FILTERS: dict[type[Any], list[Callable[[], Expr | None]]] = {}


def combined_filter(
    model: type[Any], where: Expr | None, *, unfiltered: bool = False
) -> Expr | None:
    """Return ``where`` restricted by the Model's predefined filters (unless ``unfiltered``).

    The row-level rule of the Model's access declaration (``Access(rows=...)``,
    evaluated for the current principal) is one of them.
    """
    if unfiltered:
        return where
    makers = _FILTERS.get(model)
    if makers is None:
        makers = _FILTERS[model] = _filters_of(model)
        if access_of(model).rows is not None:
            makers.append(lambda: rows_filter(model))
    result = where
    for make in makers:
        extra = make()
        if extra is not None:
            result = extra if result is None else extra & result
    return result


# ----------------------------------------------------------- partial objects
_PARTIAL: dict[int, frozenset[str]] = {}


def mark_partial(instance: Any, fields: frozenset[str]) -> None:
    """Remember that ``instance`` was loaded with only ``fields``."""
    key = id(instance)
    _PARTIAL[key] = fields
    weakref.finalize(instance, _PARTIAL.pop, key, None)


def is_partial(instance: Any) -> bool:
    """Tell whether ``instance`` was loaded with a projection."""
    return id(instance) in _PARTIAL


def loaded_fields(instance: Any) -> frozenset[str] | None:
    """The fields a partial object holds, or ``None`` for a complete one."""
    return _PARTIAL.get(id(instance))


# ------------------------------------------------------- repository binding
_BOUND: dict[type[Any], "Repository[Any]"] = {}
_UNIT_OF_WORK: ContextVar["UnitOfWork | None"] = ContextVar("hexkernel_unit_of_work", default=None)


def bind(model: type[M], repository: "Repository[M]") -> None:
    """Make ``repository`` the one behind ``model``'s active-record methods."""
    _BOUND[model] = repository


def unbind(model: type[Any]) -> None:
    """Forget the repository bound to ``model``."""
    _BOUND.pop(model, None)


def activate(uow: "UnitOfWork") -> Token["UnitOfWork | None"]:
    """Route active-record calls of this context through ``uow``; returns the token to undo it."""
    return _UNIT_OF_WORK.set(uow)


def deactivate(token: Token["UnitOfWork | None"]) -> None:
    """Undo :func:`activate`."""
    _UNIT_OF_WORK.reset(token)


@contextmanager
def in_unit_of_work(uow: "UnitOfWork") -> Iterator[None]:
    """Route active-record calls made in this context through ``uow`` (adapters use this)."""
    token = _UNIT_OF_WORK.set(uow)
    try:
        yield
    finally:
        _UNIT_OF_WORK.reset(token)


def bound_repository(model: type[M]) -> "Repository[M]":
    """The repository the active-record methods of ``model`` use right now.

    Raises:
        RepositoryNotBound: Nothing is bound and no unit of work is open.
    """
    uow = _UNIT_OF_WORK.get()
    if uow is not None:
        return uow.repository(model)
    repository = _BOUND.get(model)
    if repository is None:
        raise RepositoryNotBound(model.__name__)
    return repository


# --------------------------------------------------------------- the facade
class Finder(Generic[M]):
    """A query bound to its Model's repository: build it, then await a terminal method.

    ``await Task.find(Task.status == "open").sort(Task.priority.desc()).limit(10).to_list()``
    """

    __slots__ = ("_query", "_unfiltered")

    def __init__(self, query: Query[M], *, unfiltered: bool = False) -> None:
        self._query = query
        self._unfiltered = unfiltered

    @property
    def query(self) -> Query[M]:
        """The query value built so far."""
        return self._query

    def _with(self, query: Query[M]) -> "Finder[M]":
        return Finder(query, unfiltered=self._unfiltered)

    def where(self, *conditions: Expr) -> "Finder[M]":
        """Add conditions."""
        return self._with(self._query.where(*conditions))

    def sort(self, *keys: SortKey | FieldRef) -> "Finder[M]":
        """Set the order."""
        return self._with(self._query.sort(*keys))

    def skip(self, count: int) -> "Finder[M]":
        """Skip the first ``count`` matches."""
        return self._with(self._query.offset(count))

    def limit(self, count: int) -> "Finder[M]":
        """Return at most ``count`` matches."""
        return self._with(self._query.take(count))

    def page(self, number: int, size: int = 20) -> "Finder[M]":
        """Return page ``number`` of ``size`` matches."""
        return self._with(self._query.page(number, size))

    def only(self, *refs: FieldRef | str) -> "Finder[M]":
        """Load only these fields; the objects are partial."""
        return self._with(self._query.only(*refs))

    def without(self, *refs: FieldRef | str) -> "Finder[M]":
        """Load all fields but these; the objects are partial."""
        return self._with(self._query.without(*refs))

    def unfiltered(self) -> "Finder[M]":
        """Bypass the Model's predefined filters (explicitly, for admin tasks)."""
        return Finder(self._query, unfiltered=True)

    def _repository(self) -> "Repository[M]":
        return bound_repository(self._query.model)

    async def to_list(self) -> list[M]:
        """Run the query and return every match."""
        return await self._repository().find(self._query, unfiltered=self._unfiltered)

    async def first(self) -> M | None:
        """Return the first match, or ``None``."""
        found = await self._repository().find(self._query.take(1), unfiltered=self._unfiltered)
        return found[0] if found else None

    async def count(self) -> int:
        """Count the matches (ignoring order and window)."""
        return await self._repository().count(self._query.filter, unfiltered=self._unfiltered)

    async def update(self, *changes: UpdateOp, **values: Any) -> int:
        """Apply atomic updates to every match; ``name=value`` is a shorthand for ``set``."""
        ops = list(changes)
        model = self._query.model
        ops.extend(getattr(model, name).set(value) for name, value in values.items())
        return await self._repository().update(self._query.filter, ops, unfiltered=self._unfiltered)

    def __aiter__(self) -> AsyncIterator[M]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[M]:
        for item in await self.to_list():
            yield item


async def insert_many(model: type[M], items: Sequence[M]) -> list[M]:
    """Insert several new objects of ``model`` through its bound repository."""
    return await bound_repository(model).insert_many(items)
