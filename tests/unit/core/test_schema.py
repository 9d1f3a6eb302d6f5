"""JSON Schema (Draft-04), MongoDB $jsonSchema and the /meta description."""

import json

import jsonschema
import pytest
from hk_testing.models import Address, Everything, Task, User
from hk_testing.strategies import instances
from hypothesis import given

from hexkernel.core.model.schema import DRAFT_04

MODELS = [Task, Everything, User, Address]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_json_schema_is_valid_draft_04(model):
    schema = model.json_schema()
    assert schema["$schema"] == DRAFT_04
    jsonschema.Draft4Validator.check_schema(schema)


def test_json_schema_describes_the_wire_form_of_task():
    schema = Task.json_schema()
    assert schema["title"] == "Task"
    assert schema["description"] == "A unit of work on a board."
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["title"]
    props = schema["properties"]
    assert props["title"] == {"type": "string", "minLength": 1, "pattern": r"\S", "maxLength": 200}
    assert props["status"] == {
        "type": "string",
        "enum": ["open", "doing", "done"],
        "default": "open",
    }
    assert props["priority"] == {"type": "integer", "minimum": 1, "maximum": 5, "default": 3}
    assert props["tags"] == {
        "type": "array",
        "items": {"type": "string", "minLength": 1, "maxLength": 20},
        "uniqueItems": True,
    }
    assert props["due"]["type"] == ["string", "null"]
    assert props["estimate"] == {
        "type": ["number", "null"],
        "minimum": 0,
        "exclusiveMinimum": True,
        "default": None,
    }
    assert props["id"]["readOnly"] is True
    assert props["owner"]["readOnly"] is True


def test_excluded_fields_are_absent_and_marshallers_are_reflected():
    user = User.json_schema()
    assert "password" not in user["properties"]
    assert "password" not in json.dumps(user)
    props = Everything.json_schema()["properties"]
    assert props["stamp"]["type"] == ["number", "null"]
    assert props["stamp_ms"]["type"] == ["integer", "null"]
    assert props["birthday"]["format"] == "date-time"
    assert props["moment"] == {"type": "string", "format": "date-time"}


def test_nested_models_are_definitions():
    schema = Everything.json_schema()
    assert schema["properties"]["home"] == {
        "anyOf": [{"$ref": "#/definitions/Address"}, {"type": "null"}],
        "default": None,
    }
    assert schema["properties"]["lines"]["items"] == {"$ref": "#/definitions/Line"}
    assert schema["definitions"]["Address"]["required"] == ["street", "city"]


@given(instances(Everything))
def test_every_wire_document_validates_against_the_schema(instance):
    jsonschema.validate(
        instance.to_dict(), Everything.json_schema(), cls=jsonschema.Draft4Validator
    )


def test_schema_rejects_what_the_model_rejects():
    schema = Task.json_schema()
    validator = jsonschema.Draft4Validator(schema)
    assert not validator.is_valid({"title": "a", "colour": "red"})
    assert not validator.is_valid({"title": "a", "priority": 9})
    assert not validator.is_valid({"priority": 2})
    assert validator.is_valid({"title": "a"})


class TestBsonSchema:
    def test_storage_types_and_required_fields(self):
        schema = Everything.bson_schema()
        assert schema["bsonType"] == "object"
        assert schema["additionalProperties"] is False
        props = schema["properties"]
        assert "_id" in props
        assert "id" not in props
        assert set(schema["required"]) == set(props)
        assert props["_id"] == {
            "bsonType": "string",
            "description": "Unique identifier, <prefix>_<ULID>.",
        }
        assert props["count"] == {"bsonType": ["int", "long"]}
        assert props["amount"] == {"bsonType": "decimal"}
        assert props["ref"] == {"bsonType": "binData"}
        assert props["moment"] == {"bsonType": "date"}
        assert props["day"] == {"bsonType": "date"}
        assert props["status"] == {"enum": ["open", "doing", "done"]}
        assert props["maybe"] == {"bsonType": ["int", "long", "null"]}
        assert props["home"]["bsonType"] == ["object", "null"]
        assert props["home"]["properties"]["zip"]["pattern"] == "^[0-9]{5}$"
        assert props["lines"]["items"]["required"] == ["sku", "quantity", "price"]

    def test_no_keyword_mongodb_does_not_know(self):
        text = json.dumps(Everything.bson_schema(), default=str)
        for keyword in (
            '"$ref"',
            '"definitions"',
            '"format"',
            '"default"',
            '"$schema"',
            '"readOnly"',
        ):
            assert keyword not in text

    def test_excluded_fields_are_stored_but_unconstrained_by_plain_text_rules(self):
        props = User.bson_schema()["properties"]
        assert props["password"] == {"bsonType": "string"}
        assert props["email"] == {"bsonType": "string"}


class TestDescribe:
    def test_fields_types_defaults_and_validator_parameters(self):
        meta = Task.describe()
        assert meta["name"] == "Task"
        assert meta["collection"] == "tasks"
        assert meta["id_prefix"] == "tsk"
        fields = {f["name"]: f for f in meta["fields"]}
        assert fields["title"]["required"] is True
        assert fields["title"]["validators"] == [
            {"name": "not_empty"},
            {"name": "length", "max": 200},
        ]
        assert fields["status"]["choices"] == ["open", "doing", "done"]
        assert fields["status"]["default"] == "open"
        assert fields["priority"]["validators"] == [
            {"name": "range", "min": 1, "max": 5, "exclusive_min": False, "exclusive_max": False}
        ]
        assert fields["tags"]["items"] == {"type": "string", "nullable": False}
        assert fields["owner"]["generated"] == {"name": "currentuser", "on": "create"}
        assert fields["id"]["read_only"] is True
        json.dumps(meta)  # the description is plain JSON

    def test_excluded_fields_are_write_only_and_never_show_a_value(self):
        fields = {f["name"]: f for f in User.describe()["fields"]}
        assert fields["password"]["write_only"] is True
        assert "default" not in fields["password"]

    def test_embedded_models_are_described(self):
        meta = Everything.describe()
        assert [f["name"] for f in meta["embedded"]["Address"]["fields"]] == [
            "street",
            "city",
            "zip",
        ]


def test_reference_fields_are_described():
    from hexkernel.core import Field, Model

    class Owner(Model):
        name: str

    class Pet(Model):
        owner: str = Field(reference=Owner)

    fields = {f["name"]: f for f in Pet.describe()["fields"]}
    assert fields["owner"]["reference"] == "Owner"
    assert "reference" not in fields["id"]
