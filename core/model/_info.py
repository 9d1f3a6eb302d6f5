"""Per-class metadata of a Model, compiled once when the class is built.

:class:`ModelInfo` is what every consumer of a Model reads: the validation
pipeline, the codecs, the schema generators and, later, repositories and the
REST layer. It is reachable as ``Task.__model__``.
"""

import re
from collections.abc import Callable, Iterator
from typing import Any

import attrs

from hexkernel.core.errors import ErrorItem, ModelDefinitionError, ValidationError
from hexkernel.core.model._types import Invalid, TypeNode, _Several, coercer, problems_of
from hexkernel.core.model.fields import SPEC_KEY, FieldSpec
from hexkernel.core.model.validators import Validator

__all__ = ("FieldInfo", "ModelInfo", "items_from")

_DEFAULT_SPEC = FieldSpec()


def items_from(exc: Invalid, prefix: str) -> Iterator[ErrorItem]:
    """Turn an :class:`Invalid` (possibly standing for several) into error items."""
    for problem in problems_of(exc):
        yield ErrorItem(problem.field, problem.code, problem.message).at(prefix)


class FieldInfo:
    """One field of a Model, with its compiled processing pipeline.

    Attributes:
        name: Attribute name, also the wire name.
        node: The analysed type.
        spec: The options given to ``Field(...)``.
        required: No default: the value must be given.
        read_only: Clients may not send it.
        exclude: Never on the wire.
        default: The ``attrs`` default (a value, a ``Factory`` or ``NOTHING``).
    """

    __slots__ = (
        "_coerce",
        "_final",
        "_prepare",
        "_validators",
        "default",
        "exclude",
        "name",
        "node",
        "nullable",
        "process_typed",
        "read_only",
        "required",
        "spec",
        "storage_dump",
        "storage_load",
        "wire_annotation",
        "wire_dump",
        "wire_hook",
    )

    def __init__(self, attribute: "attrs.Attribute[Any]", node: TypeNode) -> None:
        spec: FieldSpec = attribute.metadata.get(SPEC_KEY, _DEFAULT_SPEC)
        self.name = attribute.name
        self.node = node
        self.spec = spec
        self.default = attribute.default
        self.required = attribute.default is attrs.NOTHING
        self.exclude = spec.exclude
        self.read_only = (
            spec.read_only if spec.read_only is not None else spec.generator is not None
        )
        self._prepare = tuple(c for c in spec.converters if not getattr(c, "final", False))
        self._final: tuple[Any, ...] = tuple(
            c for c in spec.converters if getattr(c, "final", False)
        )
        self._validators: tuple[Validator, ...] = spec.validators
        self._coerce = coercer(node)
        self.nullable = node.nullable
        # For values that already have the field's type (decoded by the codec):
        # None when there is nothing left to do, the common case.
        self.process_typed: Callable[[Any], Any] | None = (
            self.process if self._prepare else self._fast_check()
        )
        # Filled in by the codec module once every field is known.
        self.wire_hook: Callable[[Any, Any], Any] = _unset
        self.wire_annotation: Any = None
        self.wire_dump: Callable[[Any], Any] | None = None
        self.storage_dump: Callable[[Any], Any] | None = None
        self.storage_load: Callable[[Any], Any] = _unset

    @property
    def validators(self) -> tuple[Validator, ...]:
        """The field's validators, in declaration order."""
        return self._validators

    @property
    def has_final_converter(self) -> bool:
        """Whether the stored value is a transformation of what the validators checked."""
        return bool(self._final)

    def process(self, value: Any) -> Any:
        """Convert, type-check and validate a new value; return the value to keep.

        Raises:
            Invalid: Standing for one or several problems, paths relative to the field.
        """
        for convert in self._prepare:
            if value is None:
                break
            try:
                value = convert(value)
            except (ValueError, TypeError):
                raise Invalid("invalid", "could not be converted") from None
        return self._check(self._coerce(value))

    def _fast_check(self) -> Callable[[Any], Any] | None:
        """Specialise :meth:`_check` for the common shapes of a field's rules."""
        validators = self._validators
        if self._final:
            return self._check
        if not validators:
            return None
        if len(validators) == 1:
            only = validators[0]

            def check_one(value: Any) -> Any:
                if value is not None:
                    only(value)
                return value

            return check_one
        return self._check

    def _check(self, value: Any) -> Any:
        """Run the validators and final converters on a value of the right type."""
        if value is None:
            return None
        if self._final and self._final[-1].is_final_form(value):
            return value  # stored form (a password hash): the plain-text rules do not apply
        problems: list[Invalid] = []
        for check in self._validators:
            try:
                check(value)
            except Invalid as exc:
                problems.extend(problems_of(exc))
        if problems:
            raise _Several(problems)
        for convert in self._final:
            value = convert(value)
        return value

    def make_default(self, instance: Any) -> Any:
        """Return the default value for ``instance`` (calling a factory if there is one)."""
        default: Any = self.default
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            return default.factory(instance) if default.takes_self else default.factory()
        return default

    def __repr__(self) -> str:
        return f"<FieldInfo {self.name}: {self.node.describe()}>"


def _unset(*_: Any) -> Any:  # pragma: no cover - replaced before first use
    raise AssertionError("codec not compiled")


_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def default_collection(class_name: str) -> str:
    """``Task`` -> ``tasks``, ``ProjectMember`` -> ``project-members`` (the REST path)."""
    words = _CAMEL.sub("-", class_name).lower()
    if words.endswith("y") and not words.endswith(("ay", "ey", "oy", "uy")):
        return f"{words[:-1]}ies"
    if words.endswith(("s", "x", "z", "ch", "sh")):
        return f"{words}es"
    return f"{words}s"


def default_prefix(class_name: str) -> str:
    """Three letters from the class name: ``Task`` -> ``tsk``, ``Project`` -> ``prj``."""
    name = class_name.lower()
    consonants = [c for c in name[1:] if c.isalpha() and c not in "aeiou"]
    prefix = (name[0] + "".join(consonants))[:3]
    return prefix if len(prefix) == 3 else name[:3]  # noqa: PLR2004 - three letters


class ModelInfo:
    """Compiled description of a Model class.

    Attributes:
        cls: The Model class.
        name: Its name.
        document: Whether it is a top-level document (has an id and audit fields).
        prefix: Id prefix (documents only).
        collection: Collection name and REST path segment (documents only).
        fields: Every field, in declaration order.
        by_name: The same, by name.
    """

    def __init__(
        self,
        cls: type[Any],
        nodes: dict[str, TypeNode],
        *,
        document: bool,
        prefix: str | None,
        collection: str | None,
    ) -> None:
        self.cls = cls
        self.name = cls.__name__
        self.document = document
        self.prefix = prefix or default_prefix(self.name)
        self.collection = collection or default_collection(self.name)
        self.fields = tuple(FieldInfo(a, nodes[a.name]) for a in attrs.fields(cls))
        self.by_name = {f.name: f for f in self.fields}
        self.model_checks = tuple(_model_checks(cls))
        self.update_generated = tuple(
            f
            for f in self.fields
            if f.spec.generator is not None and f.spec.generator.on == "update"
        )
        for field in self.fields:
            if field.node.nullable is False and field.default is None:
                raise ModelDefinitionError(
                    f"{self.name}.{field.name}: default None needs an optional type (`X | None`)"
                )

    # ------------------------------------------------------------ validation
    def validate(self, instance: Any) -> None:
        """Run every field's pipeline on a freshly built instance; keep converted values.

        Raises:
            ValidationError: With every problem found.
        """
        errors: list[ErrorItem] = []
        setter = object.__setattr__
        for field in self.fields:
            value = getattr(instance, field.name)
            try:
                new = field.process(value)
            except Invalid as exc:
                errors.extend(items_from(exc, field.name))
                continue
            if new is not value:
                setter(instance, field.name, new)
        if not errors:
            errors.extend(self._run_model_checks(instance))
        if errors:
            raise ValidationError(errors, self.name)

    def build_typed(self, values: dict[str, Any]) -> Any:
        """Build an instance from values that already have their fields' types.

        The codec decodes every value into its field's type, so only the
        converters and validators remain to run; ``__init__`` (which would
        check the types again) is bypassed. Missing fields take their defaults.

        Raises:
            ValidationError: With every problem found.
        """
        instance = object.__new__(self.cls)
        setter = object.__setattr__
        errors: list[ErrorItem] = []
        for field in self.fields:
            name = field.name
            if name in values:
                value = values[name]
                process = field.process_typed
                if process is not None:
                    try:
                        value = process(value)
                    except Invalid as exc:
                        errors.extend(items_from(exc, name))
                        continue
            else:
                value = field.make_default(instance)
            setter(instance, name, value)
        if not errors and self.model_checks:
            errors.extend(self._run_model_checks(instance))
        if errors:
            raise ValidationError(errors, self.name)
        return instance

    def _run_model_checks(self, instance: Any) -> Iterator[ErrorItem]:
        for check in self.model_checks:
            try:
                check(instance)
            except Invalid as exc:
                yield from items_from(exc, "")
            except ValueError as exc:
                yield ErrorItem("", "invalid", str(exc))

    def assign(self, name: str, value: Any) -> Any:
        """Process a value assigned to one field (the ``on_setattr`` hook).

        Raises:
            ValidationError: Naming the field.
        """
        try:
            return self.by_name[name].process(value)
        except Invalid as exc:
            raise ValidationError(items_from(exc, name), self.name) from None

    def check_values(self, values: dict[str, Any]) -> list[ErrorItem]:
        """Check some field values without building an instance; return the problems."""
        errors: list[ErrorItem] = []
        for name, value in values.items():
            field = self.by_name.get(name)
            if field is None:
                errors.append(ErrorItem(name, "unknown_field", "is not a field of this model"))
                continue
            try:
                field.process(value)
            except Invalid as exc:
                errors.extend(items_from(exc, name))
        return errors

    def touch(self, instance: Any) -> None:
        """Regenerate the fields whose generator runs on update (before a write)."""
        for field in self.update_generated:
            generator = field.spec.generator
            assert generator is not None  # noqa: S101 - selected for having one
            object.__setattr__(instance, field.name, field.process(generator(self.cls)))

    def __repr__(self) -> str:
        return f"<ModelInfo {self.name}: {', '.join(f.name for f in self.fields)}>"


_CHECK_MARK = "__hexkernel_model_check__"


def model_check(method: Callable[[Any], None]) -> Callable[[Any], None]:
    """Mark a Model method as a whole-object check, run after every field is valid.

    The method raises :class:`Invalid` (with ``field`` naming the field to
    blame, or empty for the whole object) or :class:`ValueError` to reject.

    Example::

        class Booking(Model):
            start: date
            end: date

            @model_check
            def _ordered(self) -> None:
                if self.end < self.start:
                    raise Invalid("invalid_range", "must not be before start", field="end")
    """
    setattr(method, _CHECK_MARK, True)
    return method


def _model_checks(cls: type[Any]) -> Iterator[Callable[[Any], None]]:
    seen: set[str] = set()
    for klass in cls.__mro__:
        for name, member in vars(klass).items():
            if name not in seen and getattr(member, _CHECK_MARK, False):
                seen.add(name)
                yield getattr(cls, name)
