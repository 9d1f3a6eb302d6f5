"""Converters on creation and assignment, value generators, wire marshallers."""

import datetime as dt
import threading
import uuid

import pytest
from hk_testing.models import FAST_HASHER, Audited, Task, User

from hexkernel.core import Field, Invalid, Model, acting_as, current_user
from hexkernel.core.converters import (
    HashPassword,
    is_password_hash,
    lower,
    nfc,
    strip,
    verify_password,
)
from hexkernel.core.generators import PrefixedId
from hexkernel.core.ids import IdFactory, is_prefixed_id, new_id
from hexkernel.core.marshallers import DateAsDatetime, EpochMillis, EpochSeconds


class TestPasswordHashing:
    def test_plain_text_is_hashed_with_argon2id_and_verifies(self):
        user = User(email="a@example.com", name="A", password="correct horse")
        assert user.password.startswith("$argon2id$")
        assert verify_password(user.password, "correct horse", FAST_HASHER)
        assert not verify_password(user.password, "wrong horse", FAST_HASHER)

    def test_an_already_hashed_value_is_not_hashed_again(self):
        user = User(email="a@example.com", name="A", password="correct horse")
        again = User(email="a@example.com", name="A", password=user.password)
        assert again.password == user.password

    def test_assignment_hashes_too(self):
        user = User(email="a@example.com", name="A", password="correct horse")
        user.password = "battery staple"
        assert verify_password(user.password, "battery staple", FAST_HASHER)

    def test_validators_see_the_plain_text(self):
        with pytest.raises(Exception, match="at most 64"):
            User(email="a@example.com", name="A", password="x" * 65)

    def test_a_malformed_hash_does_not_verify_and_is_not_trusted(self):
        assert not verify_password("$argon2id$garbage", "x")
        assert not is_password_hash("$argon2id$garbage")
        assert HashPassword(FAST_HASHER)("$argon2id$garbage").startswith("$argon2id$v=")


class TestNormalisation:
    def test_strip_lower_and_nfc(self):
        assert strip("  a b  ") == "a b"
        assert lower("ÄBC") == "äbc"
        composed = nfc("e\u0301")
        assert composed == "\u00e9"
        assert strip(3) == 3

    def test_converters_apply_on_creation_and_assignment(self):
        user = User(email="  Ann@Example.COM ", name="A", password="correct horse")
        assert user.email == "ann@example.com"
        user.email = " BOB@example.com"
        assert user.email == "bob@example.com"

    def test_custom_converter(self):
        class Slugged(Model):
            slug: str = Field(converters=[lambda s: s.replace(" ", "-")])

        assert Slugged(slug="a b c").slug == "a-b-c"


class TestGenerators:
    def test_uuid_timestamp_and_current_user_on_create(self):
        before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        with acting_as("usr_ann"):
            item = Audited()
        assert isinstance(item.ref, uuid.UUID)
        assert before <= item.created <= dt.datetime.now(dt.UTC)
        assert item.created_by == "usr_ann"
        assert item.changed_by == "usr_ann"

    def test_current_user_is_none_outside_a_context_and_reset_after(self):
        assert current_user() is None
        with acting_as("usr_a"):
            assert current_user() == "usr_a"
        assert current_user() is None
        assert Audited().created_by is None

    def test_update_generators_run_on_touch_and_create_ones_do_not(self):
        with acting_as("usr_ann"):
            item = Audited()
        created, changed = item.created, item.changed
        with acting_as("usr_bob"):
            item.touch()
        assert item.created == created
        assert item.created_by == "usr_ann"
        assert item.changed >= changed
        assert item.changed_by == "usr_bob"

    def test_given_values_win_over_generators(self):
        ref = uuid.uuid4()
        assert Audited(ref=ref).ref == ref

    def test_generated_fields_are_read_only_for_clients(self):
        info = Audited.__model__
        assert info.by_name["created"].read_only
        assert not info.by_name["note"].read_only
        assert Task.__model__.by_name["owner"].read_only


class TestIds:
    def test_ids_are_prefixed_ulids_in_creation_order(self):
        ids = [new_id("tsk") for _ in range(1000)]
        assert ids == sorted(ids)
        assert len(set(ids)) == 1000
        assert all(is_prefixed_id(i, "tsk") for i in ids)

    def test_monotonic_within_one_millisecond_and_across_threads(self):
        factory = IdFactory(clock=lambda: 1_700_000_000_000)
        made: list[str] = []

        def work():
            made.extend(factory.ulid() for _ in range(500))

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(set(made)) == 2000

    def test_time_prefix_orders_ids(self):
        early = IdFactory(clock=lambda: 1_000).ulid()
        late = IdFactory(clock=lambda: 2_000).ulid()
        assert early < late
        assert early[:10] == "00000000Z8"  # 1000 ms in Crockford base 32

    def test_bad_prefix_is_refused(self):
        with pytest.raises(ValueError, match="prefix"):
            PrefixedId("Bad-Prefix")


class TestMarshallers:
    def test_epoch_seconds(self):
        m = EpochSeconds()
        moment = dt.datetime(2024, 5, 1, 0, 0, 1, 500000, tzinfo=dt.UTC)
        assert m.dump(moment) == 1714521601.5
        assert m.load(1714521601.5) == moment
        with pytest.raises(Invalid):
            m.load("1714521601")
        with pytest.raises(Invalid):
            m.load(float("nan"))

    def test_epoch_millis(self):
        m = EpochMillis()
        moment = dt.datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=dt.UTC)
        assert m.dump(moment) == -1
        assert m.load(-1) == moment

    def test_date_as_datetime(self):
        m = DateAsDatetime()
        assert m.dump(dt.date(2024, 5, 1)) == "2024-05-01T00:00:00Z"
        assert m.load("2024-05-01T00:00:00Z") == dt.date(2024, 5, 1)
        assert m.load("2024-05-01T02:00:00+02:00") == dt.date(2024, 5, 1)

    def test_custom_marshaller(self):
        class Cents:
            def dump(self, value):
                return int(value * 100)

            def load(self, raw):
                if not isinstance(raw, int):
                    raise Invalid("invalid_type", "must be a whole number of cents")
                return raw / 100

            def json_schema(self):
                return {"type": "integer"}

        class Price(Model):
            amount: float = Field(marshaller=Cents())

        price = Price(amount=12.5)
        assert price.to_dict()["amount"] == 1250
        assert Price.from_dict(price.to_dict()) == price
        assert Price.json_schema()["properties"]["amount"] == {"type": "integer"}
