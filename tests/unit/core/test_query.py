"""The query DSL is a pure, immutable value built from the Model's fields."""

import datetime as dt

import attrs
import pytest
from hk_testing.models import Everything, Status, Task

from hexkernel.core import RepositoryNotBound, ValidationError
from hexkernel.core.persistence import Finder, bound_repository
from hexkernel.core.query import (
    And,
    Condition,
    FieldRef,
    Not,
    Op,
    Or,
    Projection,
    Query,
    SortKey,
    desc,
)


class TestFieldReferences:
    def test_class_attributes_are_field_references_and_instances_hold_values(self):
        assert isinstance(Task.priority, FieldRef)
        assert Task(title="a").priority == 3

    def test_embedded_fields_have_dotted_paths(self):
        assert (Everything.home.city == "x").path == "home.city"
        with pytest.raises(AttributeError):
            Everything.home.country  # noqa: B018

    def test_values_are_converted_to_the_field_type(self):
        assert (Task.status == "done").value is Status.DONE
        assert (Task.estimate > 1).value == 1.0
        assert (Task.due == None).value is None  # noqa: E711 - the DSL's null test

    def test_values_of_the_wrong_type_are_validation_errors_naming_the_field(self):
        with pytest.raises(ValidationError) as caught:
            Task.priority >= "high"  # noqa: B015
        assert caught.value.errors[0].field == "priority"
        with pytest.raises(ValidationError):
            Task.title.startswith(3)
        with pytest.raises(ValidationError):
            Task.priority.contains(1)


class TestExpressions:
    def test_and_or_flatten_and_not_cancels(self):
        a, b, c = Task.priority > 1, Task.priority < 5, Task.title == "x"
        assert (a & b & c) == And((a, b, c))
        assert (a | b | c) == Or((a, b, c))
        assert ~~a == a
        assert ~a == Not(a)

    def test_expressions_refuse_to_be_used_as_booleans(self):
        with pytest.raises(TypeError, match="truth value"):
            bool(Task.priority > 1)

    def test_operators(self):
        assert (Task.tags.contains("x")).op is Op.CONTAINS
        assert Task.status.in_(["open"]).value == (Status.OPEN,)
        assert Task.status.not_in(["open"]).op is Op.NIN
        assert Task.due.exists(False) == Condition("due", Op.EXISTS, False, Task.due.node)


class TestQuery:
    def test_is_immutable_and_chainable(self):
        base = Query(Task)
        paged = (
            base.where(Task.priority > 1).sort(Task.priority.desc(), Task.title).page(3, size=10)
        )
        assert base.filter is None
        assert paged.order == (SortKey("priority", descending=True), SortKey("title"))
        assert (paged.skip, paged.limit) == (20, 10)
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            paged.skip = 0  # type: ignore[misc]

    def test_projections(self):
        assert Query(Task).only(Task.title).projection == Projection(include=frozenset({"title"}))
        assert Projection(include=frozenset({"title"})).fields(["id", "title", "status"]) == {
            "id",
            "title",
        }
        assert Projection(exclude=frozenset({"title"})).fields(["id", "title", "status"]) == {
            "id",
            "status",
        }
        with pytest.raises(ValueError, match="not both"):
            Projection(include=frozenset({"a"}), exclude=frozenset({"b"}))

    def test_bad_windows_are_refused(self):
        with pytest.raises(ValueError, match="page"):
            Query(Task).page(0)
        with pytest.raises(ValueError, match="negative"):
            Query(Task).offset(-1)

    def test_desc_function_form(self):
        assert desc(Task.priority) == SortKey("priority", descending=True)


class TestUpdates:
    def test_update_values_are_validated_like_assignments(self):
        assert Task.title.set("  x ").value == "x"
        with pytest.raises(ValidationError):
            Task.priority.set(9)
        with pytest.raises(ValidationError):
            Task.title.inc(1)
        with pytest.raises(ValidationError):
            Task.tags.push(3)
        with pytest.raises(ValidationError):
            Task.title.unset()
        assert Task.due.unset().value is None
        assert Task.tags.unset().value == []

    def test_moments_are_normalised(self):
        plus_one = dt.timezone(dt.timedelta(hours=1))
        op = Everything.moment.set(dt.datetime(2024, 1, 1, 1, tzinfo=plus_one))
        assert op.value == dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def test_active_record_without_a_repository_says_how_to_bind_one():
    with pytest.raises(RepositoryNotBound, match=r"bind\(Everything, repository\)"):
        bound_repository(Everything)
    assert isinstance(Everything.find(Everything.flag == True), Finder)  # noqa: E712
