"""Access rules: decisions before any document, checks of one object, row-level filters."""

import pytest

from hexkernel.adapters.memory import InMemoryRepository, InMemoryStore
from hexkernel.core import Model, NotFound
from hexkernel.core.access import (
    Access,
    Anyone,
    Authenticated,
    Nobody,
    Owner,
    Predicate,
    Role,
    Scope,
    access_of,
    rows_filter,
)
from hexkernel.core.query import Query
from hexkernel.core.security import ANONYMOUS, Principal, as_principal

ANN = Principal(subject="usr_ann", roles={"user"})
BOB = Principal(subject="usr_bob", roles={"user"}, scopes={"notes:read"})
ADMIN = Principal(subject="usr_admin", roles={"admin"})
ROBOT = Principal(client_id="robot", scopes={"notes:read"})


class Note(Model, prefix="not", access=Access(rows=Owner("author") | Role("admin"))):
    author: str | None = None
    text: str = ""


class Open(Model, prefix="opn"):
    text: str = ""


class TestDecisions:
    @pytest.mark.parametrize(
        ("rule", "principal", "allowed"),
        [
            (Anyone(), ANONYMOUS, True),
            (Nobody(), ADMIN, False),
            (Authenticated(), ANONYMOUS, False),
            (Authenticated(), ANN, True),
            (Authenticated(), ROBOT, True),
            (Role("admin"), ANN, False),
            (Role("admin", "user"), ANN, True),
            (Scope("notes:read"), BOB, True),
            (Scope("notes:read"), ANN, False),
            (Role("admin") | Scope("notes:read"), ROBOT, True),
            (Authenticated() & Role("admin"), ANN, False),
        ],
    )
    def test_principal_rules_allow_or_deny_outright(self, rule, principal, allowed):
        decision = rule.decide(Note, principal)

        assert decision.allowed is allowed
        assert decision.where is None
        assert rule.permits(principal, Note()) is allowed

    def test_an_owner_rule_restricts_to_the_callers_rows(self):
        decision = Owner("author").decide(Note, ANN)

        assert decision.allowed
        assert decision.where == (Note.author == "usr_ann")
        assert Owner("author").decide(Note, ANONYMOUS).allowed is False

    def test_either_rule_unions_rows_and_an_outright_allow_wins(self):
        rule = Owner("author") | Role("admin")

        assert rule.decide(Note, ANN).where == (Note.author == "usr_ann")
        assert rule.decide(Note, ADMIN).unconditional
        assert rule.decide(Note, ANONYMOUS).allowed is False

    def test_both_rules_intersect_rows(self):
        rule = Owner("author") & Predicate(
            lambda _p, _item: True, where=lambda model, _p: model.text == "shared"
        )

        where = rule.decide(Note, ANN).where

        assert where == ((Note.author == "usr_ann") & (Note.text == "shared"))

    def test_owner_checks_one_object(self):
        rule = Owner("author")

        assert rule.permits(ANN, Note(author="usr_ann"))
        assert not rule.permits(BOB, Note(author="usr_ann"))
        assert not rule.permits(ANONYMOUS, Note(author=None))

    def test_a_predicate_decides_with_its_check_or_its_where(self):
        short = Predicate(lambda _p, item: item is None or len(item.text) < 5)
        assert short.decide(Note, ANN).allowed
        assert short.permits(ANN, Note(text="tiny"))
        assert not short.permits(ANN, Note(text="much too long"))
        closed = Predicate(lambda _p, _item: True, where=lambda _m, _p: False)
        assert closed.decide(Note, ANN).allowed is False


class TestAccessDeclaration:
    def test_a_model_without_access_is_open(self):
        access = access_of(Open)

        assert access.rows is None
        assert access.read.decide(Open, ANONYMOUS).allowed
        assert rows_filter(Open) is None

    def test_the_list_rule_defaults_to_read_and_actions_to_update(self):
        access = Access(read=Role("user"), update=Role("admin"), actions={"close": Anyone()})

        assert access.list_rule == Role("user")
        assert access.action_rule("close") == Anyone()
        assert access.action_rule("reopen") == Role("admin")


class TestRowsFilter:
    def test_rows_follow_the_bound_principal(self):
        assert rows_filter(Note) == Note.id.in_(())
        with as_principal(ANN):
            assert rows_filter(Note) == (Note.author == "usr_ann")
        with as_principal(ADMIN):
            assert rows_filter(Note) is None

    @pytest.mark.anyio
    async def test_every_operation_sees_only_the_callers_rows(self):
        repo = InMemoryRepository(Note, InMemoryStore())
        with as_principal(ADMIN):
            ann_note = await repo.insert(Note(author="usr_ann", text="a"))
            bob_note = await repo.insert(Note(author="usr_bob", text="b"))
        with as_principal(ANN):
            assert await repo.find(Query(Note)) == [ann_note]
            assert await repo.count() == 1
            with pytest.raises(NotFound):
                await repo.get(bob_note.id)
            with pytest.raises(NotFound):
                await repo.delete(bob_note.id)
            assert await repo.update(None, [Note.text.set("changed")]) == 1
        with as_principal(ANONYMOUS):
            assert await repo.count() == 0
        assert await repo.count(unfiltered=True) == 2
        with as_principal(ADMIN):
            stored = {n.id: n.text for n in await repo.find(Query(Note))}
        assert stored == {ann_note.id: "changed", bob_note.id: "b"}


MOODS = {"open": True}


class Moody(
    Model,
    prefix="moo",
    access=Access(rows=Predicate(lambda _p, _i: True, where=lambda _m, _p: MOODS["open"])),
):
    """Rows decided by a custom predicate that reads the outside world."""

    text: str = ""


class TestRowsFilterCache:
    def test_the_rows_of_a_pure_rule_are_computed_once_per_principal(self):
        with as_principal(ANN):
            first = rows_filter(Note)
            assert rows_filter(Note) is first
        twin = Principal(subject="usr_ann", roles={"user"})
        with as_principal(twin):
            again = rows_filter(Note)
        assert again == first
        assert again is not first  # another principal object: decided again

    def test_each_principal_gets_its_own_rows(self):
        with as_principal(ANN):
            assert rows_filter(Note) == (Note.author == "usr_ann")
        with as_principal(BOB):
            assert rows_filter(Note) == (Note.author == "usr_bob")
        with as_principal(ADMIN):
            assert rows_filter(Note) is None
        with as_principal(ANONYMOUS):
            assert rows_filter(Note) == Note.id.in_(())

    def test_rules_are_pure_unless_a_predicate_is_involved(self):
        assert (Owner("author") | Role("admin")).pure
        assert (Authenticated() & Scope("notes:read")).pure
        assert not Predicate(lambda _p, _i: True).pure
        assert not (Role("admin") | Predicate(lambda _p, _i: True)).pure

    def test_a_predicate_is_asked_at_every_read(self):
        with as_principal(ANN):
            assert rows_filter(Moody) is None
            MOODS["open"] = False
            try:
                assert rows_filter(Moody) == Moody.id.in_(())
            finally:
                MOODS["open"] = True
