"""``Model`` and ``Embedded``: plain attrs classes that know their own rules.

A subclass statement is all it takes::

    class Task(Model):
        title: str = Field(validators=[NotEmpty(), Length(max=200)])
        priority: int = Field(default=3, validators=[Range(min=1, max=5)])

The metaclass hands the class to :func:`attrs.define` (slots, keyword-only
``__init__``, ``__eq__``, ``__repr__``), analyses every annotation once, and
compiles the validation pipeline and both codecs. Type checkers understand the
generated ``__init__`` through :func:`typing.dataclass_transform`.

Construction, assignment and deserialisation all validate; whatever is wrong
(a missing or unknown argument, a wrong type, a broken rule) surfaces as one
:class:`~hexkernel.core.errors.ValidationError` listing every problem.
"""

import datetime as dt
import json
import types
import typing
from collections.abc import Sequence
from typing import Any, ClassVar, Self, dataclass_transform

import attrs

from hexkernel.core.errors import ErrorItem, ModelDefinitionError, ValidationError
from hexkernel.core.model._codec import ModelCodec, compile_codec
from hexkernel.core.model._info import ModelInfo
from hexkernel.core.model._types import TypeNode, analyse
from hexkernel.core.model.fields import Field
from hexkernel.core.model.generators import PrefixedId
from hexkernel.core.persistence import Finder, bound_repository
from hexkernel.core.query import Expr, FieldRef, Query

__all__ = ("Embedded", "Model", "ModelMeta", "is_model")

_MODEL_OPTIONS = ("prefix", "collection", "indexes", "access")


def is_model(cls: Any) -> bool:
    """Tell whether ``cls`` is a Model or Embedded class (not an instance)."""
    return isinstance(cls, ModelMeta) and "__attrs_attrs__" in cls.__dict__


def _on_setattr(instance: Any, attribute: "attrs.Attribute[Any]", value: Any) -> Any:
    return type(instance).__model__.assign(attribute.name, value)


@dataclass_transform(kw_only_default=True, field_specifiers=(Field, attrs.field))
class ModelMeta(type):
    """Builds Model classes: attrs underneath, rules compiled once.

    Class keyword arguments (documents only): ``prefix`` (the id prefix,
    default three letters of the class name), ``collection`` (the
    collection name and REST path segment, default the plural in kebab case),
    ``indexes`` (declared :class:`~hexkernel.core.persistence.Index` values)
    and ``access`` (an :class:`~hexkernel.core.access.Access`: who may do what).
    """

    __model__: ModelInfo

    def __new__(
        mcs,
        name: str,
        bases: tuple[type, ...],
        namespace: dict[str, Any],
        /,
        **options: Any,
    ) -> "ModelMeta":
        """Create the class, hand it to attrs, and compile its rules."""
        if "__attrs_attrs__" in namespace:
            # attrs re-creates the class to add __slots__: nothing more to do here.
            return super().__new__(mcs, name, bases, namespace)
        unknown = set(options) - set(_MODEL_OPTIONS)
        if unknown:
            raise ModelDefinitionError(f"{name}: unknown class options {sorted(unknown)}")
        raw = super().__new__(mcs, name, bases, namespace)
        cls = attrs.define(
            raw,
            slots=True,
            kw_only=True,
            eq=True,
            order=False,
            weakref_slot=True,
            on_setattr=_on_setattr,
        )
        document = any(getattr(b, "__hexkernel_document__", False) for b in cls.__mro__)
        if not document and options:
            raise ModelDefinitionError(f"{name}: {sorted(options)} only apply to Model subclasses")
        cls.__hexkernel_options__ = options  # type: ignore[attr-defined]
        try:
            hints = typing.get_type_hints(cls)
        except NameError:
            # A forward reference to a class defined later: compile on first use.
            cls.__model__ = _Deferred()  # type: ignore[assignment]
        else:
            cls.__model__ = _build_info(cls, hints)
        return cls

    def __getattribute__(cls, name: str) -> Any:
        """Return a :class:`~hexkernel.core.query.FieldRef` for a field accessed on the class.

        ``Task.priority >= 3`` builds a query condition; on instances the
        attribute is the plain value, untouched by this hook.
        """
        value = type.__getattribute__(cls, name)
        if type(value) is types.MemberDescriptorType and name[0] != "_":
            info = type.__getattribute__(cls, "__model__")
            field = info.by_name.get(name)
            if field is not None:
                return FieldRef(name, field.node, field)
        return value

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        """Construct an instance; a bad signature becomes a ValidationError."""
        try:
            return super().__call__(*args, **kwargs)
        except TypeError:
            error = _signature_error(cls.__model__, args, kwargs)
            if error is None:
                raise
            raise error from None


class _Deferred:
    """Stands in for ``__model__`` until the forward references resolve."""

    def __get__(self, instance: Any, owner: type[Any]) -> ModelInfo:
        info = _build_info(owner, typing.get_type_hints(owner))
        type.__setattr__(owner, "__model__", info)
        return info


def _build_info(cls: type[Any], hints: dict[str, Any]) -> ModelInfo:
    nodes: dict[str, TypeNode] = {}
    for attribute in attrs.fields(cls):
        nodes[attribute.name] = analyse(
            hints[attribute.name], is_model, f"{cls.__name__}.{attribute.name}"
        )
    options = cls.__dict__.get("__hexkernel_options__", {})
    info = ModelInfo(
        cls,
        nodes,
        document=bool(getattr(cls, "__hexkernel_document__", False)),
        prefix=options.get("prefix") or _inherited(cls, "prefix"),
        collection=options.get("collection"),
    )
    info.codec = compile_codec(info)  # type: ignore[attr-defined]
    info.declared_indexes = tuple(options.get("indexes", ()))  # type: ignore[attr-defined]
    info.access = options.get("access") or _inherited(cls, "access")  # type: ignore[attr-defined]
    return info


def _inherited(cls: type[Any], option: str) -> Any:
    for base in cls.__mro__[1:]:
        value = base.__dict__.get("__hexkernel_options__", {}).get(option)
        if value:
            return value
    return None


def _signature_error(
    info: ModelInfo, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> ValidationError | None:
    """Explain a failed ``__init__`` call as field errors.

    Returns ``None`` when the call failed for another reason (a bug in a
    user's converter, say), so that the original error propagates.
    """
    errors: list[ErrorItem] = []
    if args:
        errors.append(ErrorItem("", "positional_arguments", "fields must be given by name"))
    known = {k: v for k, v in kwargs.items() if k in info.by_name}
    errors.extend(
        ErrorItem(k, "unknown_field", "is not a field of this model")
        for k in kwargs
        if k not in info.by_name
    )
    errors.extend(
        ErrorItem(f.name, "required", "is required")
        for f in info.fields
        if f.required and f.name not in kwargs
    )
    if not errors:
        return None
    errors.extend(info.check_values(known))
    return ValidationError(errors, info.name)


class _Base(metaclass=ModelMeta):
    """What Model and Embedded share: validation and the two codecs."""

    __model__: ClassVar[ModelInfo]

    def __attrs_post_init__(self) -> None:
        type(self).__model__.validate(self)

    # ----------------------------------------------------------------- wire
    @classmethod
    def from_dict(cls, data: Any, *, writable_only: bool = False) -> Self:
        """Build a validated instance from decoded JSON.

        Args:
            data: A JSON object, as ``json.loads`` returns it.
            writable_only: Also reject read-only fields (ids, audit and
                generated fields), as client input must.

        Raises:
            ValidationError: Listing every problem, with nested paths.
        """
        return typing.cast("Self", _codec(cls).from_wire(data, writable_only=writable_only))

    @classmethod
    def from_json(cls, text: str | bytes, *, writable_only: bool = False) -> Self:
        """Parse a JSON document into a validated instance.

        Raises:
            ValidationError: Code ``malformed_json`` if the text is not JSON;
                otherwise as :meth:`from_dict`.
        """
        try:
            data = json.loads(text)
        except (ValueError, TypeError):
            raise ValidationError.single(
                "", "malformed_json", "is not valid JSON", cls.__name__
            ) from None
        return cls.from_dict(data, writable_only=writable_only)

    def to_dict(self) -> dict[str, Any]:
        """Return the wire form as a dict of JSON values (excluded fields left out)."""
        return _codec(type(self)).to_wire(self)

    def to_json(self) -> str:
        """Return the wire form as compact JSON text."""
        return json.dumps(
            _codec(type(self)).to_wire(self), separators=(",", ":"), ensure_ascii=False
        )

    # -------------------------------------------------------------- storage
    def to_document(self) -> dict[str, Any]:
        """Return the storage document: every field, the id as ``_id``, dates as datetimes."""
        return _codec(type(self)).to_storage(self)

    @classmethod
    def from_document(cls, document: Any) -> Self:
        """Rebuild an instance from a stored document without re-running validators."""
        return typing.cast("Self", _codec(cls).from_storage(document))

    # ------------------------------------------------------------- schemas
    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """Return the JSON Schema (Draft-04) of the wire form."""
        from hexkernel.core.model.schema import json_schema  # noqa: PLC0415 - avoids a cycle

        return json_schema(cls)

    @classmethod
    def bson_schema(cls) -> dict[str, Any]:
        """Return the MongoDB ``$jsonSchema`` of the storage form."""
        from hexkernel.core.model.schema import bson_schema  # noqa: PLC0415 - avoids a cycle

        return bson_schema(cls)

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """Return the metadata description served at ``/<collection>/meta``."""
        from hexkernel.core.model.schema import describe  # noqa: PLC0415 - avoids a cycle

        return describe(cls)


def _codec(cls: type[Any]) -> ModelCodec:
    return typing.cast("ModelCodec", cls.__model__.codec)


class Embedded(_Base):
    """A Model stored inside another (an address, a line item): no id of its own."""


class Model(_Base):
    """A document Model: an aggregate with an identity and audit fields.

    Every Model has ``id`` (generated, ``<prefix>_<ULID>``), ``inserted`` and
    ``updated`` (UTC timestamps, set by the persistence layer) and ``version``
    (0 until first stored, then 1 and +1 on every write); all four are
    read-only for clients.
    """

    __hexkernel_document__: ClassVar[bool] = True

    id: str = Field(factory=PrefixedId(), description="Unique identifier, <prefix>_<ULID>.")
    inserted: dt.datetime | None = Field(
        default=None, read_only=True, description="When the document was first stored (UTC)."
    )
    updated: dt.datetime | None = Field(
        default=None, read_only=True, description="When the document was last changed (UTC)."
    )
    version: int = Field(default=0, read_only=True, description="Optimistic-locking version.")

    def touch(self) -> None:
        """Regenerate the fields generated on update (called before every write)."""
        type(self).__model__.touch(self)

    # -------------------------------------------------------- active record
    # These delegate to the repository bound to the class (or to the open unit
    # of work); see hexkernel.core.persistence. A field of the same name as a
    # method hides the method on that Model; the repository still works.
    async def save(self) -> Self:
        """Insert the object if it was never stored, else save it at its version.

        Raises:
            ConcurrencyConflict: Someone else saved it since it was loaded.
            DuplicateKey: A unique index rejects it.
            PartialDocument: It was loaded with a projection.
            RepositoryNotBound: No repository is bound to the class.
        """
        repository = bound_repository(type(self))
        if self.version == 0:
            return await repository.insert(self)
        return await repository.save(self)

    async def delete(self) -> None:
        """Delete the object, if it is still at its version.

        Raises:
            ConcurrencyConflict: It was changed since it was loaded.
            NotFound: It is not stored (any more).
        """
        await bound_repository(type(self)).delete(self.id, expected_version=self.version)

    @classmethod
    async def get(cls, key: str) -> Self:
        """Load the object with id ``key``.

        Raises:
            NotFound: There is none (or a predefined filter hides it).
        """
        return await bound_repository(cls).get(key)

    @classmethod
    def find(cls, *conditions: Expr) -> "Finder[Self]":
        """Start a query: ``await Task.find(Task.status == "open").sort(...).to_list()``."""
        return Finder(Query(cls).where(*conditions))

    @classmethod
    def where(cls, *conditions: Expr) -> "Finder[Self]":
        """The same as :meth:`find`; reads well before ``.update(...)``."""
        return cls.find(*conditions)

    @classmethod
    async def count(cls, *conditions: Expr) -> int:
        """Count the stored objects matching ``conditions``."""
        return await cls.find(*conditions).count()

    @classmethod
    async def insert_many(cls, items: Sequence[Self]) -> list[Self]:
        """Insert several new objects at once (all validated before anything is written)."""
        return await bound_repository(cls).insert_many(items)
