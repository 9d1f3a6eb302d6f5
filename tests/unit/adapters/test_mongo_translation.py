"""The Mongo adapter's translations, checked without a server: filters, updates, errors."""

import datetime as dt
import re
import subprocess
import sys
from decimal import Decimal

import pytest
from hk_testing.models import Everything, Status, Task
from pymongo.errors import (
    BulkWriteError,
    DuplicateKeyError,
    OperationFailure,
    ServerSelectionTimeoutError,
    WriteError,
)

from hexkernel.adapters._documents import StorageOp
from hexkernel.adapters.mongo import mongo_filter, mongo_update
from hexkernel.adapters.mongo.errors import translated
from hexkernel.core.errors import (
    DuplicateKey,
    StoreUnavailable,
    TransactionsUnsupported,
    ValidationError,
)


class TestFilters:
    def test_comparisons_use_storage_values_and_the_document_key(self):
        where = (Task.id == "tsk_1") & (Task.status != "done") & (Task.due >= dt.date(2024, 5, 1))
        assert mongo_filter(where) == {
            "$and": [
                {"_id": {"$eq": "tsk_1"}},
                {"status": {"$ne": "done"}},
                {"due": {"$gte": dt.datetime(2024, 5, 1, tzinfo=dt.UTC)}},
            ]
        }

    def test_contains_on_a_string_is_a_literal_case_insensitive_regex(self):
        compiled = mongo_filter(Task.title.contains("a.*(b"))
        pattern = compiled["title"]["$regex"]
        assert compiled["title"]["$options"] == "i"
        assert re.search(pattern, "xA.*(By", re.IGNORECASE)
        assert not re.search(pattern, "aXXb", re.IGNORECASE)

    def test_contains_on_a_list_matches_an_element(self):
        assert mongo_filter(Task.tags.contains("x")) == {"tags": {"$elemMatch": {"$eq": "x"}}}

    def test_startswith_is_anchored_and_literal(self):
        assert mongo_filter(Task.title.startswith("a+")) == {"title": {"$regex": r"^a\+"}}

    def test_exists_means_not_null(self):
        assert mongo_filter(Task.due.exists()) == {"due": {"$ne": None}}
        assert mongo_filter(Task.due.exists(False)) == {"due": {"$eq": None}}

    def test_boolean_structure(self):
        where = ~((Task.priority > 1) | Task.status.in_(["open", Status.DONE]))
        assert mongo_filter(where) == {
            "$nor": [{"$or": [{"priority": {"$gt": 1}}, {"status": {"$in": ["open", "done"]}}]}]
        }

    def test_embedded_paths_and_decimals(self):
        assert mongo_filter(Everything.home.city == "x") == {"home.city": {"$eq": "x"}}
        assert mongo_filter(Everything.amount < 2) == {"amount": {"$lt": Decimal(2), "$ne": None}}


def test_updates_bump_the_version_in_the_same_operation():
    update = mongo_update(
        [
            StorageOp("inc", "priority", 1),
            StorageOp("push", "tags", "x"),
            StorageOp("set", "title", "t"),
        ],
        {"updated": "now"},
    )
    assert update == {
        "$set": {"updated": "now", "title": "t"},
        "$inc": {"version": 1, "priority": 1},
        "$push": {"tags": "x"},
    }


class TestErrorTranslation:
    def test_duplicate_key_names_the_fields_and_index(self):
        error = DuplicateKeyError(
            "E11000 duplicate key error collection: db.users index: email_1 dup key",
            11000,
            {"keyPattern": {"email": 1}, "keyValue": {"email": "a"}},
        )
        with pytest.raises(DuplicateKey) as caught, translated("User"):
            raise error
        assert caught.value.fields == ("email",)
        assert caught.value.index == "email_1"
        assert caught.value.__cause__ is error

    def test_bulk_duplicate_reports_the_position(self):
        details = {
            "writeErrors": [
                {
                    "index": 3,
                    "code": 11000,
                    "errmsg": "index: _id_ dup key",
                    "keyPattern": {"_id": 1},
                }
            ]
        }
        with pytest.raises(DuplicateKey) as caught, translated("Task"):
            raise BulkWriteError(details)
        assert caught.value.position == 3
        assert caught.value.fields == ("id",)

    def test_a_standalone_server_refusing_a_transaction_is_transactions_unsupported(self):
        refusal = OperationFailure(
            "Transaction numbers are only allowed on a replica set member or mongos", 20
        )
        with pytest.raises(TransactionsUnsupported), translated("transaction"):
            raise refusal

    def test_an_unreachable_server_is_store_unavailable(self):
        with pytest.raises(StoreUnavailable), translated("Task"):
            raise ServerSelectionTimeoutError("no servers")

    def test_a_document_validation_failure_is_a_validation_error(self):
        with pytest.raises(ValidationError) as caught, translated("Task"):
            raise WriteError("Document failed validation", 121)
        assert caught.value.errors[0].code == "schema_violation"


def test_the_in_memory_adapter_never_imports_pymongo():
    code = (
        "import sys, hexkernel.adapters.memory; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pymongo', 'bson')))"
    )
    out = subprocess.run(
        [sys.executable, "-P", "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
