"""``Field(...)``: the per-field options of a Model.

``Field`` returns an ``attrs`` field whose metadata carries a
:class:`FieldSpec`; type checkers see the field's own type (the overloads
below), because ``Model`` is declared with :func:`typing.dataclass_transform`.
"""

from collections.abc import Callable, Iterable
from typing import Any, Final, TypeVar, overload

import attrs

from hexkernel.core.errors import ModelDefinitionError
from hexkernel.core.model.converters import Converter
from hexkernel.core.model.generators import Generator
from hexkernel.core.model.marshallers import Marshaller
from hexkernel.core.model.validators import Validator, as_validator

__all__ = ("Field", "FieldSpec")

T = TypeVar("T")

SPEC_KEY: Final = "hexkernel"
"""The key of :class:`FieldSpec` in an ``attrs`` field's metadata."""


@attrs.frozen
class FieldSpec:
    """Everything ``Field(...)`` declares besides the default.

    Attributes:
        validators: Checks run on every new value, all of them, in order.
        converters: Normalisers run on every new value before the checks.
        generator: Fills the value on create (and on update, if so declared).
        marshaller: Wire representation, when not the type's default.
        exclude: Never written to the wire (passwords, secrets); still persisted.
        read_only: Clients may not send it. ``None`` means "read-only if generated".
        description: Shown in JSON Schema, OpenAPI and ``/meta``.
        title: Short label for the same places.
        examples: Example values for documentation (never for excluded fields).
    """

    validators: tuple[Validator, ...] = ()
    converters: tuple[Converter, ...] = ()
    generator: Generator | None = None
    marshaller: Marshaller | None = None
    exclude: bool = False
    read_only: bool | None = None
    description: str | None = None
    title: str | None = None
    examples: tuple[Any, ...] = ()
    index: bool = False
    unique: bool = False
    text: bool = False
    reference: type[Any] | None = None


_MUTABLE_DEFAULTS = (list, dict, set, bytearray)


@overload
def Field(
    *,
    default: T,
    validators: Iterable[Validator | Callable[[Any], object]] = (),
    converters: Iterable[Converter] = (),
    marshaller: Marshaller | None = None,
    exclude: bool = False,
    read_only: bool | None = None,
    description: str | None = None,
    title: str | None = None,
    examples: Iterable[Any] = (),
    index: bool = False,
    unique: bool = False,
    text: bool = False,
    reference: type[Any] | None = None,
) -> T: ...
@overload
def Field(
    *,
    factory: Callable[[], T],
    validators: Iterable[Validator | Callable[[Any], object]] = (),
    converters: Iterable[Converter] = (),
    marshaller: Marshaller | None = None,
    exclude: bool = False,
    read_only: bool | None = None,
    description: str | None = None,
    title: str | None = None,
    examples: Iterable[Any] = (),
    index: bool = False,
    unique: bool = False,
    text: bool = False,
    reference: type[Any] | None = None,
) -> T: ...
@overload
def Field(
    *,
    validators: Iterable[Validator | Callable[[Any], object]] = (),
    converters: Iterable[Converter] = (),
    marshaller: Marshaller | None = None,
    exclude: bool = False,
    read_only: bool | None = None,
    description: str | None = None,
    title: str | None = None,
    examples: Iterable[Any] = (),
    index: bool = False,
    unique: bool = False,
    text: bool = False,
    reference: type[Any] | None = None,
) -> Any: ...
def Field(  # noqa: N802
    *,
    default: Any = attrs.NOTHING,
    factory: Callable[[], Any] | Generator | None = None,
    validators: Iterable[Validator | Callable[[Any], object]] = (),
    converters: Iterable[Converter] = (),
    marshaller: Marshaller | None = None,
    exclude: bool = False,
    read_only: bool | None = None,
    description: str | None = None,
    title: str | None = None,
    examples: Iterable[Any] = (),
    index: bool = False,
    unique: bool = False,
    text: bool = False,
    reference: type[Any] | None = None,
) -> Any:
    """Declare a Model field with its options.

    Args:
        default: Value used when none is given. Mutable values need ``factory``.
        factory: Called for a fresh default each time (``factory=list``), or a
            value generator (``factory=Timestamp()``, see
            :mod:`hexkernel.core.model.generators`): it produces the value on
            create, and on update if its ``on`` says so. A generated field is
            read-only for clients unless ``read_only=False``. (Generators are
            given as ``factory`` so that type checkers, which follow PEP 681,
            know the field has a default.)
        validators: Validators or plain callables (see
            :mod:`hexkernel.core.model.validators`); all run, every problem is reported.
        converters: Applied in order on creation and assignment (see
            :mod:`hexkernel.core.model.converters`).
        marshaller: Another wire representation (see
            :mod:`hexkernel.core.model.marshallers`).
        exclude: Keep the field off the wire entirely (never in any response,
            schema example or ``repr``); it is still accepted on input and persisted.
        read_only: Reject the field in client input.
        description: Documentation for schemas and ``/meta``.
        title: Short label for schemas.
        examples: Example values for schemas.
        index: Keep a database index on the field.
        unique: Keep a unique index on the field (implies ``index``).
        text: Include the field in the Model's full-text index.
        reference: The Model whose id the field holds (a link in REST items).

    Returns:
        An ``attrs`` field; to a type checker, a value of the field's type.
    """
    if factory is not None and default is not attrs.NOTHING:
        raise ModelDefinitionError("give default or factory, not both")
    generator = factory if isinstance(factory, Generator) else None
    if isinstance(default, _MUTABLE_DEFAULTS):
        raise ModelDefinitionError(
            f"a mutable default ({type(default).__name__}) would be shared: use factory="
        )
    spec = FieldSpec(
        validators=tuple(as_validator(v) for v in validators),
        converters=tuple(converters),
        generator=generator,
        marshaller=marshaller,
        exclude=exclude,
        read_only=read_only,
        description=description,
        title=title,
        examples=() if exclude else tuple(examples),
        index=index or unique,
        unique=unique,
        text=text,
        reference=reference,
    )
    if generator is not None:
        make = generator

        def generate(instance: Any) -> Any:
            return make(type(instance))

        default = attrs.Factory(generate, takes_self=True)
    elif factory is not None:
        default = attrs.Factory(factory)
    return attrs.field(default=default, repr=not exclude, metadata={SPEC_KEY: spec})
