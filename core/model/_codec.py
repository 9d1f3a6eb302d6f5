"""The two serialised forms of a Model, compiled once per Model class.

* **Wire** (JSON): strict. A value must already have the JSON type of its
  field (no ``"3"`` for an int); datetimes are RFC 3339 strings in UTC,
  dates ``YYYY-MM-DD``, decimals strings, UUIDs strings, sets arrays.
  Unknown keys are errors. Excluded fields are never written, but are read
  (a password is sent once, then never shown).
* **Storage** (documents for MongoDB and the in-memory store): every field,
  excluded ones included; the id under ``_id``; dates as UTC-midnight
  datetimes (MongoDB has no date type); decimals, UUIDs and datetimes as
  Python objects, left for the adapter's driver codec to encode. Reading a
  stored document trusts it: types are restored, validators do not run again,
  and keys the Model no longer declares are ignored, so documents written by
  an older version of the Model still load.

Container and nested types are structured by one ``cattrs`` converter per
form, with detailed validation on, so every broken element is reported with
its index. The per-field functions and the per-model loops are built once,
the first time a Model class is used.
"""

import datetime as dt
import enum
import types
import typing
import uuid
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

import attrs
import cattrs
from cattrs.cols import is_mapping, list_structure_factory, mapping_structure_factory
from cattrs.errors import (
    BaseValidationError,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    StructureHandlerNotFoundError,
)

from hexkernel.core.errors import ErrorItem, ValidationError
from hexkernel.core.geo import geojson_dump, geojson_loader, is_geometry_type
from hexkernel.core.model._info import FieldInfo, ModelInfo, items_from
from hexkernel.core.model._types import Invalid, Kind, TypeNode, to_utc
from hexkernel.core.model.marshallers import parse_datetime

__all__ = ("ModelCodec", "compile_codec", "storage_value")

_MIDNIGHT = dt.time(0, tzinfo=dt.UTC)


def _origin(annotation: Any) -> Any:
    return typing.get_origin(annotation)


def _is_model(cls: Any) -> bool:
    return isinstance(cls, type) and hasattr(cls, "__model__") and hasattr(cls, "__attrs_attrs__")


# ---------------------------------------------------------------- wire loads
def _wire_str(value: Any, _: Any) -> str:
    if type(value) is str:
        return value
    raise Invalid("invalid_type", "must be a string")


def _wire_int(value: Any, _: Any) -> int:
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    raise Invalid("invalid_type", "must be an integer")


def _wire_float(value: Any, _: Any) -> float:
    if type(value) is float or type(value) is int:
        if value != value or value in (float("inf"), float("-inf")):  # noqa: PLR0124 - NaN test
            raise Invalid("invalid_number", "must be a finite number")
        return float(value)
    raise Invalid("invalid_type", "must be a number")


def _wire_bool(value: Any, _: Any) -> bool:
    if type(value) is bool:
        return value
    raise Invalid("invalid_type", "must be true or false")


def _wire_decimal(value: Any, _: Any) -> Decimal:
    if type(value) is str or type(value) is int:
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise Invalid("invalid_type", "must be a decimal number") from None
    elif type(value) is float:
        number = Decimal(repr(value))
    else:
        raise Invalid("invalid_type", "must be a decimal number (preferably as a string)")
    if not number.is_finite():
        raise Invalid("invalid_number", "must be a finite number")
    return number


def _wire_uuid(value: Any, _: Any) -> uuid.UUID:
    if type(value) is str:
        try:
            return uuid.UUID(value)
        except ValueError:
            pass
    raise Invalid("invalid_type", "must be a UUID string")


def _wire_datetime(value: Any, _: Any) -> dt.datetime:
    return parse_datetime(value)


def _wire_date(value: Any, _: Any) -> dt.date:
    if type(value) is str and len(value) == 10 and value[4] == "-" and value[7] == "-":  # noqa: PLR2004
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise Invalid("invalid_date", "must be a date such as 2024-05-01")


def _choice_error(choices: Any) -> Invalid:
    return Invalid("invalid_choice", f"must be one of {', '.join(repr(c) for c in choices)}")


def _enum_factory(cls: type[enum.Enum]) -> Callable[[Any, Any], Any]:
    members = {m.value: m for m in cls}
    kinds = {type(v) for v in members}

    def load(value: Any, _: Any) -> Any:
        # Exact type match first: JSON true must not select a member whose value is 1.
        if type(value) in kinds:
            member = members.get(value)
            if member is not None:
                return member
        raise _choice_error(members)

    return load


def _literal_factory(annotation: Any) -> Callable[[Any, Any], Any]:
    choices = typing.get_args(annotation)

    def load(value: Any, _: Any) -> Any:
        for choice in choices:
            if type(value) is type(choice) and value == choice:
                return choice
        raise _choice_error(choices)

    return load


def _container_check(expected: type, message: str, hook: Any) -> Callable[[Any, Any], Any]:
    def load(value: Any, annotation: Any) -> Any:
        if type(value) is not expected:
            raise Invalid("invalid_type", message)
        return hook(value, annotation)

    return load


def _build_wire_converter() -> cattrs.Converter:
    conv = cattrs.Converter(detailed_validation=True, forbid_extra_keys=True)
    for cls, hook in (
        (str, _wire_str),
        (int, _wire_int),
        (float, _wire_float),
        (bool, _wire_bool),
        (Decimal, _wire_decimal),
        (uuid.UUID, _wire_uuid),
        (dt.datetime, _wire_datetime),
        (dt.date, _wire_date),
    ):
        _register_exact(conv, cls, hook)
    _register_shared(conv, "wire")
    conv.register_unstructure_hook(Decimal, lambda d: format(d, "f"))
    conv.register_unstructure_hook(uuid.UUID, str)
    conv.register_unstructure_hook(dt.datetime, _dump_datetime)
    conv.register_unstructure_hook(dt.date, dt.date.isoformat)
    return conv


_ENUM_LOADERS: dict[Any, Callable[[Any, Any], Any]] = {}


def _enum_loader(cls: Any) -> Callable[[Any, Any], Any]:
    loader = _ENUM_LOADERS.get(cls)
    if loader is None:
        loader = _ENUM_LOADERS[cls] = _enum_factory(cls)
    return loader


def _register_exact(conv: cattrs.Converter, cls: type, hook: Callable[[Any, Any], Any]) -> None:
    """Register a hook for ``cls`` that leaves enum subclasses (``IntEnum``) to the enum hook.

    cattrs dispatches on the class hierarchy first, so an ``IntEnum`` would
    otherwise reach the ``int`` hook.
    """

    def load(value: Any, annotation: Any) -> Any:
        if annotation is cls:
            return hook(value, annotation)
        return _enum_loader(annotation)(value, annotation)

    conv.register_structure_hook(cls, load if cls in (str, int, float) else hook)


def _dump_datetime(value: dt.datetime) -> str:
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _register_shared(conv: cattrs.Converter, form: Literal["wire", "storage"]) -> None:
    """Hooks both forms share: enums, literals, containers, nested Models."""

    def is_enum(t: Any) -> bool:
        return isinstance(t, type) and issubclass(t, enum.Enum)

    conv.register_structure_hook_factory(is_enum, _enum_factory)
    conv.register_structure_hook_factory(lambda t: _origin(t) is Literal, _literal_factory)
    conv.register_structure_hook_factory(
        lambda t: _origin(t) is list,
        lambda t: _container_check(list, "must be an array", list_structure_factory(t, conv)),
    )

    def set_factory(t: Any) -> Callable[[Any, Any], Any]:
        as_list = list_structure_factory(list[typing.get_args(t)[0]], conv)  # type: ignore[arg-type,misc]
        target = _origin(t)
        accepted = (list,) if form == "wire" else (list, set, frozenset)

        def load(value: Any, annotation: Any) -> Any:
            if type(value) not in accepted:
                raise Invalid("invalid_type", "must be an array")
            return target(as_list(value, annotation))

        return load

    conv.register_structure_hook_factory(lambda t: _origin(t) in (set, frozenset), set_factory)
    conv.register_structure_hook_factory(
        lambda t: _origin(t) is dict and is_mapping(t),
        lambda t: _container_check(dict, "must be an object", mapping_structure_factory(t, conv)),
    )

    def model_factory(t: Any) -> Callable[[Any, Any], Any]:
        def load(value: Any, _: Any) -> Any:
            codec: ModelCodec = t.__model__.codec
            return codec.from_wire(value) if form == "wire" else codec.from_storage(value)

        return load

    conv.register_structure_hook_factory(_is_model, model_factory)
    conv.register_unstructure_hook_factory(
        _is_model,
        lambda t: (t.__model__.codec.to_wire) if form == "wire" else (t.__model__.codec.to_storage),
    )
    conv.register_unstructure_hook_factory(is_enum, lambda _t: lambda v: v.value)
    # GeoJSON geometries have one form: the GeoJSON object, on the wire and in storage.
    conv.register_structure_hook_factory(is_geometry_type, geojson_loader)
    conv.register_unstructure_hook_factory(is_geometry_type, lambda _t: geojson_dump)


# ------------------------------------------------------------- storage loads
_ZERO = dt.timedelta(0)


def _storage_datetime(value: Any, _: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        zone = value.tzinfo
        # Drivers hand back UTC under their own tzinfo class (or none); relabelling
        # is much cheaper than astimezone and gives the same instant.
        if zone is None or (zone is not dt.UTC and value.utcoffset() == _ZERO):
            value = value.replace(tzinfo=dt.UTC)
        return to_utc(value)
    return parse_datetime(value)


def _storage_date(value: Any, _: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return _wire_date(value, _)


def _storage_decimal(value: Any, _: Any) -> Decimal:
    if isinstance(value, Decimal):
        return value
    to_decimal = getattr(value, "to_decimal", None)  # a driver's decimal type (BSON Decimal128)
    if to_decimal is not None:
        return typing.cast("Decimal", to_decimal())
    return _wire_decimal(value, _)


def _storage_uuid(value: Any, _: Any) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    return _wire_uuid(value, _)


def _storage_passthrough(kind: type) -> Callable[[Any, Any], Any]:
    def load(value: Any, _: Any) -> Any:
        if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
            return value if type(value) is kind else kind(value)
        raise Invalid("invalid_type", f"must be {kind.__name__}")

    return load


def _storage_float(value: Any, _: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise Invalid("invalid_type", "must be a number")


def _build_storage_converter() -> cattrs.Converter:
    conv = cattrs.Converter(detailed_validation=True)
    for cls, hook in (
        (str, _storage_passthrough(str)),
        (int, _storage_passthrough(int)),
        (bool, _storage_passthrough(bool)),
        (float, _storage_float),
        (Decimal, _storage_decimal),
        (uuid.UUID, _storage_uuid),
        (dt.datetime, _storage_datetime),
        (dt.date, _storage_date),
    ):
        _register_exact(conv, cls, hook)
    _register_shared(conv, "storage")
    for cls in (Decimal, uuid.UUID, dt.datetime):
        conv.register_unstructure_hook(cls, lambda v: v)
    conv.register_unstructure_hook(dt.date, lambda d: dt.datetime.combine(d, _MIDNIGHT))
    return conv


WIRE = _build_wire_converter()
STORAGE = _build_storage_converter()

_PASSTHROUGH = frozenset({Kind.STR, Kind.INT, Kind.FLOAT, Kind.BOOL, Kind.LITERAL})


# ----------------------------------------------------------- error mapping
def _errors_of(exc: BaseException, path: str) -> list[ErrorItem]:
    """Translate whatever structuring raised into error items below ``path``."""
    if isinstance(exc, ValidationError):
        return [item.at(path) for item in exc.errors]
    if isinstance(exc, Invalid):
        return list(items_from(exc, path))
    if isinstance(exc, IterableValidationError):
        items: list[ErrorItem] = []
        with_notes, others = exc.group_exceptions()
        for sub, note in with_notes:
            where = f"[{note.index}]" if isinstance(note.index, int) else f".{note.index}"
            items.extend(_errors_of(sub, f"{path}{where}"))
        for sub in others:
            items.extend(_errors_of(sub, path))
        return items
    if isinstance(exc, ClassValidationError):
        items = []
        class_notes, class_others = exc.group_exceptions()
        for sub, class_note in class_notes:
            items.extend(_errors_of(sub, f"{path}.{class_note.name}" if path else class_note.name))
        for sub in class_others:
            items.extend(_errors_of(sub, path))
        return items
    if isinstance(exc, BaseValidationError):
        return [e for sub in exc.exceptions for e in _errors_of(sub, path)]
    if isinstance(exc, ForbiddenExtraKeysError):
        return [
            ErrorItem(f"{path}.{k}" if path else k, "unknown_field", "is not a field")
            for k in exc.extra_fields
        ]
    if isinstance(
        exc, (StructureHandlerNotFoundError, TypeError, ValueError, KeyError, AttributeError)
    ):
        return [ErrorItem(path, "invalid_type", "has the wrong type")]
    raise exc


# -------------------------------------------------------------- field plans
def _nullable(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def run(value: Any) -> Any:
        return None if value is None else fn(value)

    return run


def _null_checked(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def run(value: Any) -> Any:
        if value is None:
            raise Invalid("required", "must not be null")
        return fn(value)

    return run


_WIRE_SCALARS: dict[Any, Callable[[Any, Any], Any]] = {
    str: _wire_str,
    int: _wire_int,
    float: _wire_float,
    bool: _wire_bool,
    Decimal: _wire_decimal,
    uuid.UUID: _wire_uuid,
    dt.datetime: _wire_datetime,
    dt.date: _wire_date,
}


def _set_wire_loader(field: FieldInfo) -> None:
    """Pick the function decoding a non-null wire value (the caller handles null)."""
    node = field.node
    marshaller = field.spec.marshaller
    if marshaller is not None:
        load = marshaller.load
        field.wire_hook = lambda raw, _: load(raw)
    elif node.kind is Kind.ENUM:
        field.wire_hook = _enum_loader(node.annotation)
    else:
        field.wire_hook = _WIRE_SCALARS.get(node.annotation) or WIRE.get_structure_hook(
            node.annotation
        )
    field.wire_annotation = node.annotation


def _wire_dumper(field: FieldInfo) -> Callable[[Any], Any] | None:
    node = field.node
    if field.spec.marshaller is not None:
        return field.spec.marshaller.dump
    return _dumper(WIRE, node)


def _dumper(conv: cattrs.Converter, node: TypeNode) -> Callable[[Any], Any] | None:
    """Return the function writing a non-null value, or ``None`` when it is written as is."""
    if node.kind in _PASSTHROUGH:
        return None
    if node.kind is Kind.LIST and node.item.kind in _PASSTHROUGH:
        return list
    if node.kind is Kind.SET:
        item = _dumper(conv, node.item)

        def dump_set(value: Any) -> list[Any]:
            try:
                ordered = sorted(value)
            except TypeError:
                ordered = list(value)
            return ordered if item is None else [item(v) for v in ordered]

        return dump_set
    return conv.get_unstructure_hook(node.annotation)


_STORAGE_DUMPERS: dict[TypeNode, Callable[[Any], Any] | None] = {}


def storage_value(node: TypeNode, value: Any) -> Any:
    """Convert a value of a field's type to its storage form (dates to datetimes, enums to values).

    Adapters use it for query operands and update values, which must be
    compared with and written as what the storage form holds.
    """
    if value is None:
        return None
    kind = node.kind
    if kind is Kind.STR or kind is Kind.INT or kind is Kind.BOOL:
        return value  # stored as they are; the common operands of filters
    try:
        dump = _STORAGE_DUMPERS[node]
    except KeyError:
        dump = _STORAGE_DUMPERS[node] = _dumper(STORAGE, node)
    except TypeError:  # an unhashable node (a Literal of lists): no caching
        dump = _dumper(STORAGE, node)
    return value if dump is None else dump(value)


def _storage_loader(field: FieldInfo) -> Callable[[Any], Any]:
    node = field.node
    hook = STORAGE.get_structure_hook(node.annotation)
    annotation = node.annotation

    def core(raw: Any) -> Any:
        return hook(raw, annotation)

    return _nullable(core) if node.nullable else _null_checked(core)


# ------------------------------------------------------------------- codec
@attrs.define
class ModelCodec:
    """The compiled wire and storage functions of one Model class."""

    info: ModelInfo
    _storage_plan: tuple[tuple[str, str, Callable[[Any], Any] | None], ...]
    _storage_keys: dict[str, FieldInfo]
    _wire_loads: tuple[tuple[str, bool, bool, bool, Callable[[Any, Any], Any], Any], ...]
    _fast_to_wire: Callable[[Any], dict[str, Any]]
    _fast_from_wire: Callable[[Any], Any]
    _fast_from_storage: Callable[[dict[str, Any], bool], Any]

    # ---------------------------------------------------------------- wire
    def to_wire(self, instance: Any) -> dict[str, Any]:
        """Return the JSON-compatible dict of ``instance``, excluded fields left out."""
        return self._fast_to_wire(instance)

    def from_wire(self, data: Any, *, writable_only: bool = False) -> Any:  # noqa: PLR0912 - one branch per outcome
        """Build a validated instance from JSON-compatible data.

        Args:
            data: The decoded JSON object.
            writable_only: Reject read-only fields (client input for a create).

        Raises:
            ValidationError: With every problem found.
        """
        if not writable_only and type(data) is dict:
            try:
                return self._fast_from_wire(data)
            except Exception:  # noqa: BLE001, S110 - any trouble: take the path that explains it
                pass
        info = self.info
        if type(data) is not dict:
            raise ValidationError.single("", "invalid_type", "must be a JSON object", info.name)
        errors: list[ErrorItem] = []
        values: dict[str, Any] = {}
        seen = 0
        for name, required, read_only, nullable, hook, annotation in self._wire_loads:
            if name not in data:
                if required:
                    errors.append(ErrorItem(name, "required", "is required"))
                continue
            seen += 1
            if read_only and writable_only:
                errors.append(ErrorItem(name, "read_only", "is read-only and cannot be set"))
                continue
            raw = data[name]
            if raw is None:
                if nullable:
                    values[name] = None
                else:
                    errors.append(ErrorItem(name, "required", "must not be null"))
                continue
            try:
                values[name] = hook(raw, annotation)
            except Exception as exc:  # noqa: BLE001 - every structuring failure is reported
                errors.extend(_errors_of(exc, name))
        if seen != len(data):
            errors.extend(
                ErrorItem(str(key), "unknown_field", "is not a field of this model")
                for key in data
                if key not in info.by_name
            )
        if errors:
            errors.extend(info.check_values(values))
            raise ValidationError(errors, info.name)
        return info.build_typed(values)

    # ------------------------------------------------------------- storage
    def to_storage(self, instance: Any) -> dict[str, Any]:
        """Return the storage document of ``instance``: every field, the id as ``_id``."""
        out: dict[str, Any] = {}
        for key, name, dump in self._storage_plan:
            value = getattr(instance, name)
            out[key] = value if dump is None or value is None else dump(value)
        return out

    def from_storage(self, document: Any, *, partial: bool = False) -> Any:
        """Rebuild an instance from a stored document, trusting its content.

        Types are restored (dates from datetimes, decimals from the driver's
        type); validators and converters do not run again; unknown keys are
        ignored; missing fields take their defaults. With ``partial`` (a
        projection), missing required fields are ``None``; the caller marks
        the object partial so that it cannot be saved.

        Code generated for the Model loads a document whose values have the
        fields' types; anything else is left to the field-by-field loop, which
        gives the same result and reports every problem.

        Raises:
            ValidationError: When a value cannot have been written by this
                Model (a missing required field, a wrong type).
        """
        if type(document) is dict:
            try:
                return self._fast_from_storage(document, partial)
            except Exception:  # noqa: BLE001, S110 - any trouble: take the path that explains it
                pass
        return self._from_storage(document, partial=partial)

    def _from_storage(self, document: Any, *, partial: bool) -> Any:
        """The field-by-field loop behind :meth:`from_storage`, collecting every error."""
        info = self.info
        if not isinstance(document, dict):
            raise ValidationError.single("", "invalid_type", "must be a document", info.name)
        instance = object.__new__(info.cls)
        setter = object.__setattr__
        errors: list[ErrorItem] = []
        keys = self._storage_keys
        for key, field in keys.items():
            if key in document:
                try:
                    value = field.storage_load(document[key])
                except Exception as exc:  # noqa: BLE001 - every failure is reported
                    errors.extend(_errors_of(exc, field.name))
                    continue
            elif field.required and not partial:
                errors.append(ErrorItem(field.name, "required", "is missing from the document"))
                continue
            elif field.required:
                value = None  # not loaded by a projection: the object is marked partial
            else:
                value = field.make_default(instance)
            setter(instance, field.name, value)
        if errors:
            raise ValidationError(errors, info.name)
        return instance


# ------------------------------------------------------- generated fast paths
# The happy paths are generated as straight-line code once per Model, as attrs
# and cattrs do for __init__ and their hooks: no loop over fields, no tuple
# unpacking, every hook bound as a local name. The generated loader stops at the
# first sign of trouble and hands over to ModelCodec.from_wire, which examines
# the whole payload again and reports every problem, so the fast path never has
# to collect errors itself.


class _Fallback(Exception):
    """Raised inside generated code to switch to the error-collecting path."""


def _compile(source: str, name: str, namespace: dict[str, Any]) -> Any:
    code = compile(source, f"<hexkernel generated {name}>", "exec")
    exec(code, namespace)  # noqa: S102 - source built above from field names only
    return namespace[name]


def _inline_dump(field: FieldInfo) -> str | None:
    """The expression (``{}`` for the value) of the common wire dumpers, saving a call each."""
    dump = field.wire_dump
    if dump is _dump_datetime:
        return '{}.isoformat(timespec="milliseconds").replace("+00:00", "Z")'
    if dump is dt.date.isoformat:
        return "{}.isoformat()"
    if field.node.kind is Kind.ENUM and field.spec.marshaller is None:
        return "{}.value"
    return None


def _generate_to_wire(info: ModelInfo) -> Callable[[Any], dict[str, Any]]:
    namespace: dict[str, Any] = {}
    lines = ["def to_wire(instance):"]
    items = []
    for index, field in enumerate(info.fields):
        if field.exclude:
            continue
        dump = field.wire_dump
        if dump is None:
            items.append(f"{field.name!r}: instance.{field.name}")
            continue
        inline = _inline_dump(field)
        if inline is None:
            namespace[f"dump_{index}"] = dump
            inline = f"dump_{index}({{}})"
        if field.nullable:
            lines.append(f"    v{index} = instance.{field.name}")
            items.append(
                f"{field.name!r}: None if v{index} is None else {inline.format(f'v{index}')}"
            )
        else:
            items.append(f"{field.name!r}: {inline.format(f'instance.{field.name}')}")
    lines.append("    return {" + ", ".join(items) + "}")
    return typing.cast(
        "Callable[[Any], dict[str, Any]]", _compile("\n".join(lines), "to_wire", namespace)
    )


def _generate_from_wire(info: ModelInfo) -> Callable[[Any], Any]:
    namespace: dict[str, Any] = {
        "new": object.__new__,
        "cls": info.cls,
        "setter": object.__setattr__,
        "Fallback": _Fallback,
        "NOTHING": attrs.NOTHING,
    }
    body = ["    instance = new(cls)", "    seen = 0"]
    for index, field in enumerate(info.fields):
        name = field.name
        namespace[f"hook_{index}"] = field.wire_hook
        namespace[f"type_{index}"] = field.wire_annotation
        namespace[f"field_{index}"] = field
        body.append(f"    if {name!r} in data:")
        body.append("        seen += 1")
        body.append(f"        value = data[{name!r}]")
        if field.nullable:
            body.append(f"        if value is not None: value = hook_{index}(value, type_{index})")
        else:
            body.append("        if value is None: raise Fallback")
            body.append(f"        value = hook_{index}(value, type_{index})")
        if field.process_typed is not None:
            namespace[f"check_{index}"] = field.process_typed
            body.append(f"        value = check_{index}(value)")
        body.append("    else:")
        if field.required:
            body.append("        raise Fallback")
        else:
            body.append(f"        value = field_{index}.make_default(instance)")
        body.append(f"    setter(instance, {name!r}, value)")
    body.append("    if seen != len(data): raise Fallback")
    if info.model_checks:
        namespace["model_checks"] = info.model_checks
        body.append("    for check in model_checks: check(instance)")
    body.append("    return instance")
    source = "def from_wire(data):\n" + "\n".join(body)
    return typing.cast("Callable[[Any], Any]", _compile(source, "from_wire", namespace))


# The storage loader trusts the document, so its happy path is a type test per
# field: a value that already has the field's exact type is kept as it is, and
# anything else goes through the field's own loader (the one the loop uses).
_EXACT_TYPES: dict[Kind, type] = {
    Kind.STR: str,
    Kind.INT: int,
    Kind.BOOL: bool,
    Kind.FLOAT: float,
    Kind.DECIMAL: Decimal,
    Kind.UUID: uuid.UUID,
}
_EXACT_NAMES: dict[Kind, str] = {
    Kind.STR: "str",
    Kind.INT: "int",
    Kind.BOOL: "bool",
    Kind.FLOAT: "float",
    Kind.DECIMAL: "Decimal",
    Kind.UUID: "UUID",
}


def _storage_lines(field: FieldInfo, index: int, namespace: dict[str, Any]) -> list[str]:
    """Lines turning ``v``, the stored value of ``field`` (not None), into its Python value."""
    node = field.node
    kind = node.kind
    load = f"load_{index}"
    namespace[load] = field.storage_load
    if kind in _EXACT_NAMES:
        return [f"if type(v) is not {_EXACT_NAMES[kind]}: v = {load}(v)"]
    if kind is Kind.DATETIME:
        # Drivers hand back UTC under their own tzinfo class: relabelled as dt.UTC,
        # as _storage_datetime does; other zones and sub-millisecond values go to it.
        # combine() gives what replace(tzinfo=UTC) gives, several times faster.
        return [
            "if type(v) is datetime:",
            "    zone = v.tzinfo",
            "    if zone is not UTC:",
            "        if zone is None or v.utcoffset() == ZERO:",
            "            v = combine(v.date(), v.time(), UTC)",
            f"        else: v = {load}(v)",
            f"    if v.microsecond % 1000: v = {load}(v)",
            f"else: v = {load}(v)",
        ]
    if kind is Kind.DATE:
        return [f"v = v.date() if type(v) is datetime else {load}(v)"]
    if kind is Kind.ENUM:
        members = {m.value: m for m in node.annotation}
        namespace[f"members_{index}"] = members
        # None is never looked up: a null is the field loader's to judge.
        namespace[f"kinds_{index}"] = frozenset(type(value) for value in members) - {type(None)}
        return [
            f"member = members_{index}.get(v) if type(v) in kinds_{index} else None",
            f"v = {load}(v) if member is None else member",
        ]
    if kind in (Kind.LIST, Kind.SET) and node.item.kind in _EXACT_TYPES and not node.item.nullable:
        item = _EXACT_NAMES[node.item.kind]
        accepted = "type(v) is list" if kind is Kind.LIST else "type(v) in SEQUENCES"
        namespace[f"target_{index}"] = list if kind is Kind.LIST else node.target
        # A plain loop: cheaper than all() over a generator for the short lists stored.
        return [
            f"if {accepted}:",
            "    for x in v:",
            f"        if type(x) is not {item}:",
            f"            v = {load}(v)",
            "            break",
            f"    else: v = target_{index}(v)",
            f"else: v = {load}(v)",
        ]
    return [f"v = {load}(v)"]


def _generate_from_storage(info: ModelInfo) -> Callable[[dict[str, Any], bool], Any]:
    namespace: dict[str, Any] = {
        "new": object.__new__,
        "cls": info.cls,
        "setter": object.__setattr__,
        "MISSING": _MISSING,
        "datetime": dt.datetime,
        "combine": dt.datetime.combine,
        "UTC": dt.UTC,
        "ZERO": _ZERO,
        "SEQUENCES": (list, set, frozenset),
        **{name: _EXACT_TYPES[kind] for kind, name in _EXACT_NAMES.items()},
    }
    body = ["    instance = new(cls)"]
    for index, field in enumerate(info.fields):
        key = "_id" if info.document and field.name == "id" else field.name
        body.append(f"    v = document.get({key!r}, MISSING)")
        if field.required:
            missing = "None if partial else fallback()"
        elif isinstance(field.default, attrs.Factory):  # type: ignore[arg-type]
            namespace[f"field_{index}"] = field
            missing = f"field_{index}.make_default(instance)"
        else:
            namespace[f"default_{index}"] = field.default
            missing = f"default_{index}"
        body.append("    if v is MISSING:")
        body.append(f"        v = {missing}")
        body.append("    else:")
        lines = _storage_lines(field, index, namespace)
        if field.nullable:
            # A stored null stays None; for other fields the field's loader refuses it.
            body.append("        if v is not None:")
            body.extend(f"            {line}" for line in lines)
        else:
            body.extend(f"        {line}" for line in lines)
        slot = _class_attribute(info.cls, field.name)
        if type(slot) is types.MemberDescriptorType:
            # The slot's own setter skips object.__setattr__'s lookup by name.
            namespace[f"set_{index}"] = slot.__set__
            body.append(f"    set_{index}(instance, v)")
        else:
            body.append(f"    setter(instance, {field.name!r}, v)")
    body.append("    return instance")
    source = "def from_storage(document, partial):\n" + "\n".join(body)
    namespace["fallback"] = _raise_fallback
    return typing.cast(
        "Callable[[dict[str, Any], bool], Any]", _compile(source, "from_storage", namespace)
    )


def _class_attribute(cls: type, name: str) -> Any:
    """What ``name`` is on ``cls`` (a slot's descriptor), without the Model's FieldRef hook."""
    for klass in cls.__mro__:
        found = vars(klass).get(name)
        if found is not None:
            return found
    return None


def _raise_fallback() -> Any:
    raise _Fallback


_MISSING = object()


def compile_codec(info: ModelInfo) -> ModelCodec:
    """Compile the wire and storage functions of a Model (once per class)."""
    storage_plan = []
    storage_keys: dict[str, FieldInfo] = {}
    for field in info.fields:
        _set_wire_loader(field)
        field.wire_dump = _wire_dumper(field)
        field.storage_load = _storage_loader(field)
        field.storage_dump = _dumper(STORAGE, field.node)
        key = "_id" if info.document and field.name == "id" else field.name
        storage_plan.append((key, field.name, field.storage_dump))
        storage_keys[key] = field
    wire_loads = tuple(
        (f.name, f.required, f.read_only, f.nullable, f.wire_hook, f.wire_annotation)
        for f in info.fields
    )
    return ModelCodec(
        info,
        tuple(storage_plan),
        storage_keys,
        wire_loads,
        _generate_to_wire(info),
        _generate_from_wire(info),
        _generate_from_storage(info),
    )
