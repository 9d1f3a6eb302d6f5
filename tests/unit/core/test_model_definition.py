"""A Model is a plain attrs class (slots, keyword __init__, eq, repr), checked when declared."""

import datetime as dt
import pickle

import attrs
import pytest
from hk_testing.models import Address, Status, Task, User

from hexkernel.core import Embedded, Field, Model, ModelDefinitionError, ValidationError
from hexkernel.core.ids import is_prefixed_id


class TestAttrsUnderneath:
    def test_is_an_attrs_class_with_slots(self):
        assert attrs.has(Task)
        assert "__slots__" in Task.__dict__
        task = Task(title="Write docs")
        with pytest.raises(AttributeError):
            task.__dict__  # noqa: B018 - slotted instances have no __dict__

    def test_init_is_keyword_only_and_fills_defaults(self):
        task = Task(title="Write docs")
        assert task.status is Status.OPEN
        assert task.priority == 3
        assert task.tags == []
        assert task.due is None

    def test_equality_compares_every_field(self):
        first = Task(title="a", id="tsk_1")
        assert first == Task(title="a", id="tsk_1")
        assert first != Task(title="b", id="tsk_1")

    def test_repr_names_the_fields_but_never_an_excluded_one(self):
        user = User(email="a@example.com", name="Ann", password="correct horse")
        text = repr(user)
        assert "email='a@example.com'" in text
        assert "password" not in text
        assert "argon2" not in text

    def test_default_factories_are_not_shared(self):
        first, second = Task(title="a"), Task(title="b")
        first.tags.append("x")
        assert second.tags == []

    def test_instances_pickle(self):
        task = Task(title="Write docs", tags=["a"])
        assert pickle.loads(pickle.dumps(task)) == task

    def test_usable_without_any_adapter_or_container(self):
        task = Task(title="Write docs")
        assert Task.from_json(task.to_json()) == task


class TestDocumentFields:
    def test_id_is_generated_prefixed_and_time_ordered(self):
        first, second = Task(title="a"), Task(title="b")
        assert is_prefixed_id(first.id, "tsk")
        assert first.id < second.id

    def test_audit_fields_start_empty_and_are_read_only(self):
        task = Task(title="a")
        assert (task.inserted, task.updated, task.version) == (None, None, 0)
        info = Task.__model__
        assert all(info.by_name[n].read_only for n in ("id", "inserted", "updated", "version"))

    def test_default_prefix_and_collection_come_from_the_class_name(self):
        class ProjectMember(Model):
            name: str

        class Category(Model, collection="kinds"):
            name: str

        assert ProjectMember.__model__.prefix == "prj"
        assert ProjectMember.__model__.collection == "project-members"
        assert Category.__model__.collection == "kinds"
        assert Task.__model__.prefix == "tsk"

    def test_subclasses_inherit_fields_and_prefix(self):
        class Base(Model, prefix="bse"):
            name: str

        class Child(Base):
            extra: int = 0

        child = Child(name="x")
        assert is_prefixed_id(child.id, "bse")
        assert [f.name for f in Child.__model__.fields][-2:] == ["name", "extra"]

    def test_embedded_models_have_no_identity(self):
        assert not hasattr(Address(street="1 Main St", city="Springfield"), "id")


class TestDefinitionErrors:
    def test_unsupported_type_is_refused_when_the_class_is_declared(self):
        with pytest.raises(ModelDefinitionError, match="unsupported field type"):

            class Bad(Model):
                blob: bytes

    def test_unions_other_than_optional_are_refused(self):
        with pytest.raises(ModelDefinitionError, match="unions"):

            class Bad(Model):
                either: int | str

    def test_mutable_default_is_refused(self):
        with pytest.raises(ModelDefinitionError, match="factory"):

            class Bad(Model):
                tags: list[str] = Field(default=[])

    def test_none_default_needs_an_optional_type(self):
        with pytest.raises(ModelDefinitionError, match="optional"):

            class Bad(Model):
                name: str = None  # type: ignore[assignment]

    def test_unknown_class_option_is_refused(self):
        with pytest.raises(ModelDefinitionError, match="unknown class options"):

            class Bad(Model, colection="typo"):  # type: ignore[call-arg]
                name: str

    def test_dict_keys_must_be_strings(self):
        with pytest.raises(ModelDefinitionError, match="keys must be str"):

            class Bad(Embedded):
                table: dict[int, str]

    def test_conflicting_default_options_are_refused(self):
        with pytest.raises(ModelDefinitionError, match="not both"):
            Field(default=1, factory=int)


class Tree(Embedded):
    label: str
    children: "list[Leaf]" = Field(factory=list)


class Leaf(Embedded):
    weight: int


class Node(Embedded):
    name: str
    parent: "Node | None" = None


class TestForwardReferences:
    def test_a_model_may_refer_to_a_class_declared_later(self):
        tree = Tree.from_dict({"label": "root", "children": [{"weight": 2}]})
        assert tree.children == [Leaf(weight=2)]
        with pytest.raises(ValidationError) as caught:
            Tree.from_dict({"label": "root", "children": [{"weight": "x"}]})
        assert caught.value.errors[0].field == "children[0].weight"

    def test_a_model_may_contain_itself(self):
        node = Node.from_dict({"name": "a", "parent": {"name": "b", "parent": None}})
        assert node.parent == Node(name="b")
        assert Node.from_json(node.to_json()) == node
        schema = Node.json_schema()
        assert schema["properties"]["parent"]["anyOf"] == [
            {"$ref": "#/definitions/Node"},
            {"type": "null"},
        ]
        assert schema["definitions"]["Node"]["properties"].keys() == {"name", "parent"}


def test_datetimes_are_kept_in_utc_at_millisecond_precision():
    class Event(Model):
        at: dt.datetime

    plus_two = dt.timezone(dt.timedelta(hours=2))
    event = Event(at=dt.datetime(2024, 5, 1, 14, 0, 0, 123456, tzinfo=plus_two))
    assert event.at == dt.datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=dt.UTC)
    assert event.at.tzinfo is dt.UTC
