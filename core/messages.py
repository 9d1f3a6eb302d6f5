"""Messages: commands, queries and domain events as frozen attrs value objects.

Every concrete message is declared with :func:`message`, which makes the class
a frozen, keyword-only attrs class and gives it a stable *type name* and a
*schema version*::

    @message("customers.CreditReserved", version=2)
    class CreditReserved(Event):
        customer_id: str
        order_id: str
        amount: Decimal

The type name, never the Python class name, identifies the message in stored
events and on the wire, so a class can be renamed or moved freely. The version
grows whenever the data changes shape; an *upcaster* registered for the old
version turns old data into the current shape when it is read back (see
:class:`MessageRegistry`).

The data form of a message is the JSON form of a Model: it is made by the same
cattrs hooks (decimals as strings, datetimes as RFC 3339 strings in UTC, UUIDs
as strings, enums as their values, nested Models through their own codec), and
reading it is as strict as reading a Model from JSON: a wrong type or an
unknown key is a :class:`~hexkernel.core.errors.ValidationError` listing every
problem.
"""

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Generic, Self, TypeVar, cast, dataclass_transform

import attrs
import cattrs

from hexkernel.core.errors import ErrorItem, ModelDefinitionError, ValidationError
from hexkernel.core.model._codec import _build_wire_converter, _errors_of

__all__ = (
    "Command",
    "Event",
    "Message",
    "MessageRegistry",
    "Query",
    "Upcaster",
    "message",
    "registry",
)

M = TypeVar("M", bound="Message")
R = TypeVar("R")

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
"""Turns the data of version ``n`` of a message into the data of version ``n + 1``."""

# One converter for the data form of every message: the same hooks as the Model's
# wire form, but its own object, so that messages never share cached hooks with Models.
_CONVERTER: cattrs.Converter = _build_wire_converter()


@attrs.frozen(kw_only=True)
class Message:
    """Base class of every command, query and event.

    Attributes:
        __message_type__: The stable type name given to :func:`message`.
        __message_version__: The schema version of the data.
    """

    __message_type__: ClassVar[str] = ""
    __message_version__: ClassVar[int] = 0

    def to_dict(self) -> dict[str, Any]:
        """Return the data form: a dict of JSON values."""
        return cast("dict[str, Any]", _CONVERTER.unstructure(self))

    @classmethod
    def from_dict(cls, data: Any) -> Self:
        """Build a message of this class from its data form (the current version).

        Raises:
            ValidationError: Listing every problem, with paths.
        """
        if type(data) is not dict:
            raise ValidationError.single("", "invalid_type", "must be an object", cls.__name__)
        try:
            return _CONVERTER.structure(data, cls)
        except ValidationError:
            raise
        except Exception as exc:  # noqa: BLE001 - every structuring failure is reported
            # A refusal by an attrs validator of the class reads as a wrong type:
            # its own message may quote the value, so it is not passed on.
            items = _errors_of(exc, "") or [ErrorItem("", "invalid", "is not valid")]
            raise ValidationError(items, cls.__name__) from None


@attrs.frozen(kw_only=True)
class Command(Message):
    """Asks for a change; handled by exactly one handler. Name it imperatively (``PlaceOrder``)."""


@attrs.frozen(kw_only=True)
class Query(Message, Generic[R]):
    """Asks for data; ``R`` is the type its handler returns. Name it ``Get...`` or ``List...``."""


@attrs.frozen(kw_only=True)
class Event(Message):
    """States a fact; any number of handlers. Name it in the past tense (``OrderPlaced``)."""


class MessageRegistry:
    """Message classes by type name, and the upcasters of their old versions.

    The module-level :data:`registry` is the one :func:`message` fills and
    the event stores use by default; a separate registry suits a test that
    declares its own messages.
    """

    def __init__(self) -> None:
        self._classes: dict[str, type[Message]] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}

    def add(self, cls: type[Message]) -> None:
        """Register ``cls`` under its type name.

        Raises:
            ModelDefinitionError: Another class already has the type name (the
                same class declared again, e.g. on a module reload, replaces it).
        """
        name = cls.__message_type__
        known = self._classes.get(name)
        if known is not None and (known.__module__, known.__qualname__) != (
            cls.__module__,
            cls.__qualname__,
        ):
            raise ModelDefinitionError(
                f"message type {name!r} is declared twice: "
                f"{known.__module__}.{known.__qualname__} and {cls.__module__}.{cls.__qualname__}"
            )
        self._classes[name] = cls

    def resolve(self, type_name: str) -> type[Message]:
        """The class registered under ``type_name``.

        Raises:
            LookupError: No class has that type name.
        """
        try:
            return self._classes[type_name]
        except KeyError:
            raise LookupError(f"no message class is registered as {type_name!r}") from None

    def upcaster(self, type_name: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Register a function turning data of ``from_version`` into ``from_version + 1``.

        Example::

            @registry.upcaster("customers.CustomerCreated", 1)
            def _(data):
                return {**data, "credit_limit": "0.00"}
        """

        def register(function: Upcaster) -> Upcaster:
            self._upcasters[(type_name, from_version)] = function
            return function

        return register

    def dump(self, item: Message) -> tuple[str, int, dict[str, Any]]:
        """Return ``(type name, version, data)`` of a message."""
        cls = type(item)
        if not cls.__message_type__:
            raise ModelDefinitionError(f"{cls.__qualname__} is not declared with @message(...)")
        return cls.__message_type__, cls.__message_version__, item.to_dict()

    def load(self, type_name: str, version: int, data: Mapping[str, Any]) -> Message:
        """Rebuild a message from its stored form, upcasting old versions first.

        Raises:
            LookupError: The type name is unknown, or an upcaster is missing.
            ValidationError: The (upcast) data does not fit the class.
        """
        cls = self.resolve(type_name)
        current = cls.__message_version__
        if version > current:
            raise LookupError(
                f"{type_name} version {version} is newer than this code's version {current}"
            )
        document = dict(data)
        while version < current:
            step = self._upcasters.get((type_name, version))
            if step is None:
                raise LookupError(f"no upcaster from {type_name} version {version}")
            document = step(document)
            version += 1
        return cls.from_dict(document)


registry = MessageRegistry()
"""The registry :func:`message` fills; event stores read with it unless given another."""


@dataclass_transform(frozen_default=True, kw_only_default=True, field_specifiers=(attrs.field,))
def message(
    type_name: str, *, version: int = 1, into: MessageRegistry | None = None
) -> Callable[[type[M]], type[M]]:
    """Declare a message class: frozen, keyword-only attrs, with a type name and version.

    Args:
        type_name: The stable name stored with every instance
            (``"<context>.<Name>"`` is a good habit).
        version: The schema version of its data, from 1.
        into: The registry to add it to (default: the module's :data:`registry`).

    Raises:
        ModelDefinitionError: The class is not a Message, the version is below 1,
            or the type name is taken by another class.
    """
    if not type_name or version < 1:
        raise ModelDefinitionError("a message needs a type name and a version of at least 1")

    def declare(cls: type[M]) -> type[M]:
        if not issubclass(cls, Message):
            raise ModelDefinitionError(
                f"{cls.__qualname__} must derive from Command, Query or Event"
            )
        built = attrs.frozen(kw_only=True)(cls)
        built.__message_type__ = type_name
        built.__message_version__ = version
        (registry if into is None else into).add(built)
        return built

    return declare
