"""Actions: named operations of an aggregate, with typed arguments and an availability rule.

::

    class Task(Model):
        status: Status = Status.OPEN

        @action(available=lambda task: task.status is not Status.DONE)
        async def complete(self, note: str | None = None) -> None:
            self.status = Status.DONE

An action's arguments are validated like a Model's fields (an ``Embedded``
class is built from the method's signature), and ``available`` says whether
the action applies to an object in its current state. Interfaces expose
actions (the REST layer as ``POST /tasks/{id}/complete``, linked from the item
while available); the domain stays unaware of them.
"""

import inspect
import typing
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import attrs

from hexkernel.core.errors import ModelDefinitionError

__all__ = ("ActionSpec", "action", "actions_of")

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])
_MARK = "__hexkernel_action__"


@attrs.frozen
class ActionSpec:
    """What ``@action`` declares.

    Attributes:
        name: The action's name (the method's, unless given).
        method: The method's name on the Model.
        available: Whether the action applies to an object; always, if None.
        arguments: An ``Embedded`` class validating the arguments, built lazily.
        idempotent: Calling it where it is not available leaves the object as
            it is and succeeds (``complete`` on a finished task), instead of
            being refused.
    """

    name: str
    method: str
    available: Callable[[Any], bool] | None
    function: Callable[..., Awaitable[Any]] = attrs.field(repr=False)
    idempotent: bool = False

    def is_available(self, instance: Any) -> bool:
        """Tell whether the action applies to ``instance`` now."""
        return self.available is None or bool(self.available(instance))

    def arguments_model(self) -> type[Any]:
        """An ``Embedded`` class whose fields are the action's keyword arguments."""
        cached = _ARGUMENTS.get(self)
        if cached is not None:
            return cached
        from hexkernel.core.model.base import Embedded, ModelMeta  # noqa: PLC0415 - avoids a cycle

        signature = inspect.signature(self.function)
        hints = typing.get_type_hints(self.function)
        namespace: dict[str, Any] = {"__annotations__": {}, "__module__": self.function.__module__}
        for parameter in list(signature.parameters.values())[1:]:
            if parameter.kind not in (parameter.KEYWORD_ONLY, parameter.POSITIONAL_OR_KEYWORD):
                raise ModelDefinitionError(
                    f"action {self.name}: *args and **kwargs are not supported"
                )
            if parameter.name not in hints:
                raise ModelDefinitionError(f"action {self.name}: annotate {parameter.name}")
            namespace["__annotations__"][parameter.name] = hints[parameter.name]
            if parameter.default is not parameter.empty:
                namespace[parameter.name] = parameter.default
        name = "".join(part.title() for part in self.name.split("_")) + "Arguments"
        model: type[Any] = ModelMeta(name, (Embedded,), namespace)
        _ARGUMENTS[self] = model
        return model


_ARGUMENTS: dict[ActionSpec, type[Any]] = {}


def action(
    function: F | None = None,
    *,
    name: str | None = None,
    available: Callable[[Any], bool] | None = None,
    idempotent: bool = False,
) -> Any:
    """Mark an async Model method as an action (see the module docstring).

    Args:
        function: The method (when used without parentheses).
        name: The action's public name; the method's by default.
        available: Whether the action applies to an object in its state; it
            decides the action's link, and an unavailable action is refused.
        idempotent: Where not available, succeed without changing anything
            instead of refusing (the object is already where the action leads).
    """

    def mark(method: F) -> F:
        target: Any = method
        if not inspect.iscoroutinefunction(target):
            raise ModelDefinitionError(f"action {method.__name__} must be an async method")
        spec = ActionSpec(name or method.__name__, method.__name__, available, method, idempotent)
        setattr(method, _MARK, spec)
        return method

    return mark(function) if function is not None else mark


def actions_of(model: type[Any]) -> dict[str, ActionSpec]:
    """The actions of a Model, by name."""
    found: dict[str, ActionSpec] = {}
    for klass in reversed(model.__mro__):
        for member in vars(klass).values():
            spec = getattr(member, _MARK, None)
            if isinstance(spec, ActionSpec):
                found[spec.name] = spec
    return found
