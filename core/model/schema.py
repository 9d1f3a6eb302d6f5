"""Schemas generated from a Model: JSON Schema, MongoDB ``$jsonSchema``, ``/meta``.

* :func:`json_schema` describes the **wire** form in JSON Schema Draft-04:
  excluded fields are absent, marshallers are reflected, fields without a
  default are ``required``, unknown properties are refused. Nested Models go
  to ``definitions`` and are referenced with ``$ref``.
* :func:`bson_schema` describes the **storage** form for MongoDB's
  ``$jsonSchema`` validator (``bsonType`` keywords, nested Models inlined,
  since MongoDB supports neither ``$ref`` nor ``format``). Every field is
  required because the storage form always writes every field.
* :func:`describe` is the metadata served at ``/<collection>/meta``: fields,
  types, required, defaults, generators, validator parameters, enum values.
"""

import inspect
import json
from collections.abc import Callable
from typing import Any

from hexkernel.core import geo
from hexkernel.core.model._info import FieldInfo, ModelInfo
from hexkernel.core.model._types import Kind, TypeNode

__all__ = ("DRAFT_04", "bson_schema", "describe", "json_schema")

DRAFT_04 = "http://json-schema.org/draft-04/schema#"

_UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_WIRE: dict[Kind, dict[str, Any]] = {
    Kind.STR: {"type": "string"},
    Kind.INT: {"type": "integer"},
    Kind.FLOAT: {"type": "number"},
    Kind.BOOL: {"type": "boolean"},
    Kind.DECIMAL: {"type": "string", "format": "decimal", "pattern": r"^-?[0-9]+(\.[0-9]+)?$"},
    Kind.UUID: {"type": "string", "format": "uuid", "pattern": _UUID_PATTERN},
    Kind.DATETIME: {"type": "string", "format": "date-time"},
    Kind.DATE: {"type": "string", "format": "date", "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
}
_BSON: dict[Kind, dict[str, Any]] = {
    Kind.STR: {"bsonType": "string"},
    Kind.INT: {"bsonType": ["int", "long"]},
    Kind.FLOAT: {"bsonType": "double"},
    Kind.BOOL: {"bsonType": "bool"},
    Kind.DECIMAL: {"bsonType": "decimal"},
    Kind.UUID: {"bsonType": "binData"},
    Kind.DATETIME: {"bsonType": "date"},
    Kind.DATE: {"bsonType": "date"},
}
_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean"}


def _info(cls: type[Any]) -> ModelInfo:
    info: ModelInfo = cls.__model__
    return info


def _doc(cls: type[Any]) -> str | None:
    doc = cls.__dict__.get("__doc__")
    return inspect.cleandoc(doc) if doc else None


def _choice_values(node: TypeNode) -> list[Any]:
    if node.kind is Kind.ENUM:
        return [member.value for member in node.target]
    return list(node.choices)


# ------------------------------------------------------------- JSON Schema
def json_schema(cls: type[Any]) -> dict[str, Any]:
    """Return the Draft-04 JSON Schema of ``cls``'s wire form."""
    definitions: dict[str, Any] = {}
    body = _wire_object(cls, definitions)
    schema: dict[str, Any] = {"$schema": DRAFT_04, "title": cls.__name__, **body}
    if f'"#/definitions/{cls.__name__}"' not in json.dumps(definitions):
        definitions.pop(cls.__name__)  # kept only when the Model refers to itself
    if definitions:
        schema["definitions"] = definitions
    return schema


def _wire_object(cls: type[Any], definitions: dict[str, Any]) -> dict[str, Any]:
    info = _info(cls)
    definitions[cls.__name__] = {}  # placeholder: a self-reference stops here
    properties = {f.name: _wire_field(f, definitions) for f in info.fields if not f.exclude}
    required = [f.name for f in info.fields if f.required and not f.exclude]
    body: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        body["required"] = required
    body["additionalProperties"] = False
    doc = _doc(cls)
    if doc:
        body["description"] = doc
    definitions[cls.__name__] = body
    return body


def _wire_node(node: TypeNode, definitions: dict[str, Any]) -> dict[str, Any]:
    kind = node.kind
    if kind in _WIRE:
        schema = dict(_WIRE[kind])
    elif kind in (Kind.ENUM, Kind.LITERAL):
        values = _choice_values(node)
        types = sorted({_JSON_TYPES.get(type(v), "string") for v in values})
        schema = {"type": types[0] if len(types) == 1 else types, "enum": values}
    elif kind in (Kind.LIST, Kind.SET):
        schema = {"type": "array", "items": _wire_node(node.item, definitions)}
        if kind is Kind.SET:
            schema["uniqueItems"] = True
    elif kind is Kind.DICT:
        schema = {"type": "object", "additionalProperties": _wire_node(node.item, definitions)}
    elif kind is Kind.GEOMETRY:
        name = f"GeoJSON{node.target.__name__}"
        definitions.setdefault(name, geo.json_schema(node.target))
        schema = {"$ref": f"#/definitions/{name}"}
    else:
        name = node.target.__name__
        if name not in definitions:
            _wire_object(node.target, definitions)
        schema = {"$ref": f"#/definitions/{name}"}
    return _nullable_wire(schema) if node.nullable else schema


def _nullable_wire(schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    out = dict(schema)
    kinds = out["type"] if isinstance(out["type"], list) else [out["type"]]
    out["type"] = [*kinds, "null"]
    if "enum" in out:
        out["enum"] = [*out["enum"], None]
    return out


def _wire_field(field: FieldInfo, definitions: dict[str, Any]) -> dict[str, Any]:
    node = field.node
    marshaller = field.spec.marshaller
    if marshaller is not None:
        schema = dict(marshaller.json_schema())
        if node.nullable:
            schema = _nullable_wire(schema)
    else:
        schema = _wire_node(node, definitions)
        for check in field.validators:
            schema = _merge(schema, check.json_schema(node))
    spec = field.spec
    if spec.title:
        schema["title"] = spec.title
    if spec.description:
        schema["description"] = spec.description
    default = _plain_default(field)
    if default is not _NO_DEFAULT:
        schema["default"] = default
    if field.read_only:
        schema["readOnly"] = True
    if spec.examples:
        dump = field.wire_dump
        schema["examples"] = [v if dump is None or v is None else dump(v) for v in spec.examples]
    return schema


def _merge(schema: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Add validator keywords; under ``anyOf`` (a nullable reference) they go to the branch."""
    if not extra:
        return schema
    if "anyOf" in schema or "$ref" in schema:
        return schema  # a nested Model validates itself; nothing to add
    out = dict(schema)
    for key, value in extra.items():
        if key in ("items", "additionalProperties") and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


_NO_DEFAULT = object()


def _plain_default(field: FieldInfo) -> Any:
    """The wire form of a constant default, or ``_NO_DEFAULT``."""
    default = field.default
    if field.required or field.exclude or hasattr(default, "factory"):
        return _NO_DEFAULT
    if default is None:
        return None
    dump = field.wire_dump
    return default if dump is None else dump(default)


# -------------------------------------------------------- MongoDB schema
def bson_schema(cls: type[Any]) -> dict[str, Any]:
    """Return the MongoDB ``$jsonSchema`` of ``cls``'s storage form."""
    return _bson_object(cls, frozenset())


def _bson_object(cls: type[Any], seen: frozenset[type[Any]]) -> dict[str, Any]:
    info = _info(cls)
    seen = seen | {cls}
    properties: dict[str, Any] = {}
    for field in info.fields:
        key = "_id" if info.document and field.name == "id" else field.name
        properties[key] = _bson_field(field, seen)
    body: dict[str, Any] = {
        "bsonType": "object",
        "title": cls.__name__,
        "required": list(properties),
        "properties": properties,
        "additionalProperties": False,
    }
    return body


def _bson_node(node: TypeNode, seen: frozenset[type[Any]]) -> dict[str, Any]:
    kind = node.kind
    if kind in _BSON:
        schema = dict(_BSON[kind])
    elif kind in (Kind.ENUM, Kind.LITERAL):
        schema = {"enum": _choice_values(node)}
    elif kind in (Kind.LIST, Kind.SET):
        schema = {"bsonType": "array", "items": _bson_node(node.item, seen)}
        if kind is Kind.SET:
            schema["uniqueItems"] = True
    elif kind is Kind.DICT:
        # patternProperties with an empty pattern constrains every value; MongoDB
        # documents it, and it is accepted by more MongoDB-compatible servers than
        # additionalProperties given as a schema.
        schema = {"bsonType": "object", "patternProperties": {"": _bson_node(node.item, seen)}}
    elif kind is Kind.GEOMETRY:
        schema = geo.bson_schema(node.target)
    elif node.target in seen:
        schema = {"bsonType": "object"}  # recursive structure: MongoDB cannot reference
    else:
        schema = _bson_object(node.target, seen)
        schema.pop("title")
    if node.nullable:
        if "enum" in schema:
            schema["enum"] = [*schema["enum"], None]
        else:
            kinds = (
                schema["bsonType"] if isinstance(schema["bsonType"], list) else [schema["bsonType"]]
            )
            schema["bsonType"] = [*kinds, "null"]
    return schema


def _bson_field(field: FieldInfo, seen: frozenset[type[Any]]) -> dict[str, Any]:
    schema = _bson_node(field.node, seen)
    # A final converter (password hashing) stores something the validators never saw.
    if not field.has_final_converter and field.node.kind is not Kind.MODEL:
        for check in field.validators:
            extra = check.bson_schema(field.node)
            if "bsonType" in schema:
                schema = _merge(schema, extra)
    if field.spec.description:
        schema["description"] = field.spec.description
    return schema


# ------------------------------------------------------------------ /meta
def describe(cls: type[Any]) -> dict[str, Any]:
    """Return the metadata description of ``cls`` (the ``/meta`` document)."""
    info = _info(cls)
    embedded: dict[str, Any] = {}
    out: dict[str, Any] = {"name": info.name}
    if info.document:
        out["collection"] = info.collection
        out["id_prefix"] = info.prefix
    doc = _doc(cls)
    if doc:
        out["description"] = doc
    out["fields"] = [_describe_field(f, embedded) for f in info.fields]
    if embedded:
        out["embedded"] = embedded
    return out


def _describe_node(
    node: TypeNode, embedded: dict[str, Any], parent: Callable[..., Any]
) -> dict[str, Any]:
    out: dict[str, Any] = {"type": node.kind.value, "nullable": node.nullable}
    if node.kind in (Kind.ENUM, Kind.LITERAL):
        out["choices"] = _choice_values(node)
    if node.kind is Kind.ENUM:
        out["enum"] = node.target.__name__
    if node.kind in (Kind.LIST, Kind.SET, Kind.DICT):
        out["items"] = _describe_node(node.item, embedded, parent)
    if node.kind is Kind.GEOMETRY:
        out["geometry"] = node.target.__name__
    if node.kind is Kind.MODEL:
        name = node.target.__name__
        out["model"] = name
        if name not in embedded:
            embedded[name] = {}
            sub = _info(node.target)
            embedded[name] = {"fields": [parent(f, embedded) for f in sub.fields]}
    return out


def _describe_field(field: FieldInfo, embedded: dict[str, Any]) -> dict[str, Any]:
    spec = field.spec
    out: dict[str, Any] = {"name": field.name}
    out.update(_describe_node(field.node, embedded, _describe_field))
    out["required"] = field.required
    out["read_only"] = field.read_only
    out["write_only"] = field.exclude
    default = _plain_default(field)
    if default is not _NO_DEFAULT:
        out["default"] = default
    if spec.generator is not None:
        out["generated"] = spec.generator.describe()
    if spec.marshaller is not None:
        out["marshaller"] = type(spec.marshaller).__name__
    if spec.reference is not None:
        out["reference"] = spec.reference.__name__
    if spec.reference is not None:
        out["reference"] = spec.reference.__name__
    if field.validators:
        out["validators"] = [v.describe() for v in field.validators]
    if spec.converters:
        out["converters"] = [getattr(c, "__name__", type(c).__name__) for c in spec.converters]
    if spec.title:
        out["title"] = spec.title
    if spec.description:
        out["description"] = spec.description
    return out
