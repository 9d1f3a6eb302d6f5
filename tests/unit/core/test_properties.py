"""Properties of generated Models: round trips hold, bad input only ever gives ValidationError."""

import contextlib
import json

import pytest
from hk_testing.models import Everything, Task, User
from hk_testing.strategies import instances, json_values
from hypothesis import given
from hypothesis import strategies as st

from hexkernel.core import ValidationError

ROUND_TRIP_MODELS = [Task, Everything]


@pytest.mark.parametrize("model", ROUND_TRIP_MODELS, ids=lambda m: m.__name__)
@given(data=st.data())
def test_json_round_trip(model, data):
    instance = data.draw(instances(model))
    assert model.from_json(instance.to_json()) == instance


@pytest.mark.parametrize("model", ROUND_TRIP_MODELS, ids=lambda m: m.__name__)
@given(data=st.data())
def test_storage_round_trip(model, data):
    instance = data.draw(instances(model))
    assert model.from_document(instance.to_document()) == instance


@given(instances(User))
def test_excluded_fields_round_trip_through_storage_not_the_wire(user):
    assert user.password.startswith("$argon2id$")
    assert "password" not in json.loads(user.to_json())
    assert User.from_document(user.to_document()) == user


def _mutations(model):
    """Valid wire documents with one field replaced by arbitrary JSON, or keys dropped or added."""
    names = [f.name for f in model.__model__.fields if not f.exclude]
    return st.tuples(
        instances(model).map(lambda i: i.to_dict()),
        st.sampled_from(names),
        json_values,
        st.sampled_from(["replace", "drop", "add"]),
    )


@pytest.mark.parametrize("model", ROUND_TRIP_MODELS, ids=lambda m: m.__name__)
@given(data=st.data())
def test_mutated_payloads_give_validation_error_or_a_valid_instance(model, data):
    document, name, value, how = data.draw(_mutations(model))
    if how == "replace":
        document[name] = value
    elif how == "drop":
        document.pop(name)
    else:
        document[f"x_{name}"] = value
    try:
        instance = model.from_dict(document)
    except ValidationError as exc:
        assert exc.errors
        assert all(item.code and item.message for item in exc.errors)
        if how == "add":
            assert any(item.code == "unknown_field" for item in exc.errors)
    else:
        assert how != "add", "an unknown field must never be accepted"
        assert isinstance(instance, model)


_WRONG_TYPE = {
    "string": st.integers() | st.booleans() | st.lists(st.integers(), max_size=2),
    "integer": st.text(max_size=3)
    | st.booleans()
    | st.floats(allow_nan=False).filter(lambda f: not f.is_integer()),
    "number": st.text(max_size=3) | st.booleans(),
    "boolean": st.integers() | st.text(max_size=3),
    "array": st.text(max_size=3)
    | st.integers()
    | st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
}


@given(data=st.data())
def test_a_value_of_the_wrong_json_type_is_always_rejected_for_that_field(data):
    schema = Everything.json_schema()["properties"]
    candidates = [
        name
        for name, prop in schema.items()
        if isinstance(prop.get("type"), str)
        and prop["type"] in _WRONG_TYPE
        and "format" not in prop
    ]
    name = data.draw(st.sampled_from(candidates))
    document = data.draw(instances(Everything)).to_dict()
    document[name] = data.draw(_WRONG_TYPE[schema[name]["type"]])
    with pytest.raises(ValidationError) as caught:
        Everything.from_dict(document)
    assert name in {item.field.split("[")[0].split(".")[0] for item in caught.value.errors}


@given(st.binary(max_size=200) | st.text(max_size=200))
def test_arbitrary_text_never_raises_anything_but_validation_error(payload):
    with contextlib.suppress(ValidationError):
        Task.from_json(payload)


@given(json_values)
def test_arbitrary_json_never_raises_anything_but_validation_error(value):
    for model in (Task, Everything, User):
        with contextlib.suppress(ValidationError):
            model.from_dict(value)
        if isinstance(value, dict):
            with contextlib.suppress(ValidationError):
                model.from_document(value)


@pytest.mark.parametrize("model", ROUND_TRIP_MODELS, ids=lambda m: m.__name__)
@given(data=st.data())
def test_generated_fast_path_agrees_with_the_error_collecting_path(model, data):
    """from_dict takes generated straight-line code; writable_only=True takes the general loop."""
    info = model.__model__
    document = data.draw(instances(model)).to_dict()
    if data.draw(st.booleans()):
        document, name, value, _ = data.draw(_mutations(model))
        document[name] = value
    for field in info.fields:
        if field.read_only:
            document.pop(field.name, None)
    outcomes = []
    for writable_only in (False, True):
        try:
            outcomes.append(model.from_dict(document, writable_only=writable_only).to_dict())
        except ValidationError as exc:
            outcomes.append(sorted(exc.as_list(), key=lambda e: (e["field"], e["code"])))
    for outcome in outcomes:
        if isinstance(outcome, dict):
            for field in info.fields:
                if field.read_only:
                    outcome.pop(field.name)
    assert outcomes[0] == outcomes[1]
