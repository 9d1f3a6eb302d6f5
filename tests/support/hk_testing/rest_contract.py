"""The HTTP contract of the generated REST resources, as tests any client fixture can run.

A test module provides an async ``client`` fixture (an httpx-compatible client
whose app was built by :func:`build_app`) and subclasses or imports these
classes; the unit tier runs them in-process on the embedded store, the e2e
tier over real HTTP against MongoDB.
"""

import json

import pytest

from hexkernel.core import DomainError
from hexkernel.interfaces.bootstrap import RootContainer, Service
from hexkernel.interfaces.config import HttpSettings, Settings
from hexkernel.interfaces.http.app import create_app
from hexkernel.interfaces.http.resources import Hooks, Resource
from hk_testing.models import Task, User
from hk_testing.persistence_models import Article

WRITES = {"POST", "PUT", "PATCH", "DELETE"}


EVENTS: list[tuple[str, str]] = []


async def refuse_forbidden_titles(task):
    if task.title == "forbidden":
        raise DomainError("this title is not allowed")
    EVENTS.append(("before_create", task.title))


async def record_update(previous, task):
    EVENTS.append(("after_update", f"{previous.priority}->{task.priority}"))


async def record_delete(task):
    EVENTS.append(("after_delete", task.title))


def build_app(settings):
    """The app under test: Tasks with every write and hooks, Users and Articles with POST only."""
    EVENTS.clear()
    service = Service(RootContainer.from_settings(settings), [Task, User, Article])
    return create_app(
        service,
        [
            Resource(Task, methods=WRITES, hooks=HOOKS),
            Resource(User, methods={"POST"}),
            Resource(Article, methods={"POST"}),
        ],
    )


def contract_settings(**mongo):
    """Small limits, so that 413 and page-size checks are cheap to reach."""
    from hexkernel.interfaces.config import MongoSettings

    return Settings(
        mongo=MongoSettings(**mongo),
        http=HttpSettings(max_body_bytes=2048, max_page_size=50, max_aggregate_results=5),
    )


HOOKS = Hooks(
    before_create=refuse_forbidden_titles, after_update=record_update, after_delete=record_delete
)


async def create(client, **fields):
    response = await client.post("/tasks", json={"title": "A task", **fields})
    assert response.status_code == 201, response.text
    return response


def assert_problem(response, status, code):
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert {"type", "title", "detail", "instance"} <= body.keys()
    return body


class TestReading:
    async def test_create_then_get_with_location_etag_and_links(self, client):
        created = await create(client, priority=2)
        body = created.json()
        assert created.headers["location"] == f"/tasks/{body['id']}"
        assert body["version"] == 1
        href = f"/tasks/{body['id']}"
        assert body["_links"] == {
            "self": {"href": href},
            "collection": {"href": "/tasks"},
            "complete": {"href": f"{href}/complete", "method": "POST"},
            "reprioritise": {"href": f"{href}/reprioritise", "method": "POST"},
        }
        fetched = await client.get(created.headers["location"])
        assert fetched.status_code == 200
        assert fetched.json() == body
        assert fetched.headers["etag"] == created.headers["etag"]
        again = await client.get(
            created.headers["location"], headers={"If-None-Match": fetched.headers["etag"]}
        )
        assert again.status_code == 304

    async def test_unknown_id_is_404(self, client):
        assert_problem(await client.get("/tasks/tsk_nothing"), 404, "not_found")

    async def test_list_pages_with_meta_and_links(self, client):
        for priority in (1, 2, 3, 4, 5):
            await create(client, priority=priority)
        response = await client.get("/tasks?sort=-priority&page=2&page_size=2")
        body = response.json()
        assert [i["priority"] for i in body["_items"]] == [3, 2]
        assert body["_meta"] == {"page": 2, "page_size": 2, "total": 5}
        assert set(body["_links"]) == {"self", "first", "last", "prev", "next"}
        assert body["_links"]["last"]["href"].endswith("page=3")
        past_end = await client.get("/tasks?page=9&page_size=2")
        assert past_end.status_code == 200
        assert past_end.json()["_items"] == []

    async def test_filters_operators_and_where(self, client):
        await create(client, title="Fix a.*(bug", priority=5, tags=["x"])
        await create(client, title="Other", priority=1)
        by_op = await client.get("/tasks", params={"priority[gte]": "3"})
        assert [i["priority"] for i in by_op.json()["_items"]] == [5]
        literal = await client.get("/tasks", params={"title[contains]": "A.*("})
        assert [i["title"] for i in literal.json()["_items"]] == ["Fix a.*(bug"]
        no_regex = await client.get("/tasks", params={"title[contains]": ".*"})
        assert [i["title"] for i in no_regex.json()["_items"]] == ["Fix a.*(bug"]
        where = await client.get(
            "/tasks", params={"where": json.dumps({"$or": [{"priority": 1}, {"tags": "x"}]})}
        )
        assert len(where.json()["_items"]) == 2

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"colour": "red"}, "colour"),
            ({"priority[gte]": "high"}, "priority[gte]"),
            ({"where": json.dumps({"$where": "sleep(1000)"})}, "where"),
            ({"where": json.dumps({"priority": {"$expr": {}}})}, "where"),
            ({"page_size": "51"}, "page_size"),
            ({"page": "0"}, "page"),
            ({"sort": "-nothing"}, "sort"),
        ],
    )
    async def test_bad_queries_are_400_naming_the_parameter(self, client, params, field):
        body = assert_problem(await client.get("/tasks", params=params), 400, "invalid_query")
        assert [e["field"] for e in body["errors"]] == [field]

    async def test_projections_keep_the_id_and_links(self, client):
        await create(client, priority=4)
        item = (await client.get("/tasks?fields=priority")).json()["_items"][0]
        assert item["priority"] == 4
        assert item["id"].startswith("tsk_")
        assert "_links" in item

    async def test_meta_and_schema_are_served(self, client):
        meta = (await client.get("/tasks/meta")).json()
        assert meta["name"] == "Task"
        schema = (await client.get("/tasks/schema")).json()
        assert schema["$schema"] == "http://json-schema.org/draft-04/schema#"


class TestWriting:
    async def test_put_replaces_and_patch_merges(self, client):
        created = (await create(client, priority=2, tags=["a"])).json()
        url = f"/tasks/{created['id']}"
        replaced = await client.put(url, json={"title": "New"})
        assert replaced.status_code == 200
        assert replaced.json()["priority"] == 3, "a replacement resets what it omits"
        assert replaced.json()["version"] == 2
        patched = await client.patch(
            url,
            content=json.dumps({"tags": ["b"], "due": None}),
            headers={"content-type": "application/merge-patch+json"},
        )
        assert patched.json()["tags"] == ["b"]
        assert patched.json()["title"] == "New"
        assert patched.json()["version"] == 3
        assert patched.json()["id"] == created["id"]
        assert patched.json()["inserted"] == created["inserted"]

    async def test_stale_body_version_is_409_and_stale_if_match_is_412(self, client):
        created = await create(client)
        url = created.headers["location"]
        await client.patch(url, json={"priority": 4})
        conflict = assert_problem(
            await client.patch(url, json={"priority": 5, "version": 1}), 409, "version_conflict"
        )
        assert conflict["errors"][0]["current"] == 2
        assert_problem(
            await client.put(
                url, json={"title": "x"}, headers={"If-Match": created.headers["etag"]}
            ),
            412,
            "precondition_failed",
        )
        fresh = await client.get(url)
        ok = await client.patch(
            url, json={"priority": 1}, headers={"If-Match": fresh.headers["etag"]}
        )
        assert ok.status_code == 200
        assert (await client.get(url)).json()["priority"] == 1

    async def test_read_only_and_unknown_fields_are_400(self, client):
        body = assert_problem(
            await client.post("/tasks", json={"title": "x", "id": "tsk_mine", "colour": 1}),
            400,
            "validation_error",
        )
        assert {(e["field"], e["code"]) for e in body["errors"]} == {
            ("id", "read_only"),
            ("colour", "unknown_field"),
        }
        created = await create(client)
        assert_problem(
            await client.patch(created.headers["location"], json={"owner": "me"}),
            400,
            "validation_error",
        )

    async def test_bulk_insert_stores_nothing_when_one_item_is_bad(self, client):
        body = assert_problem(
            await client.post("/tasks", json=[{"title": "ok"}, {"title": " "}]),
            400,
            "validation_error",
        )
        assert body["errors"] == [
            {"field": "title", "code": "empty", "message": "must not be empty", "index": 1}
        ]
        assert (await client.get("/tasks")).json()["_meta"]["total"] == 0
        stored = await client.post("/tasks", json=[{"title": "one"}, {"title": "two"}])
        assert stored.status_code == 201
        assert len(stored.json()["_items"]) == 2

    async def test_delete_is_204_then_404(self, client):
        created = await create(client)
        url = created.headers["location"]
        assert (await client.delete(url)).status_code == 204
        assert_problem(await client.delete(url), 404, "not_found")

    async def test_transport_errors(self, client):
        assert_problem(
            await client.post(
                "/tasks", content=b'{"title": ', headers={"content-type": "application/json"}
            ),
            400,
            "malformed_json",
        )
        assert_problem(
            await client.post("/tasks", content=b"title=x", headers={"content-type": "text/plain"}),
            415,
            "unsupported_media_type",
        )
        assert_problem(
            await client.post("/tasks", json={"title": "x" * 5000}), 413, "payload_too_large"
        )

    async def test_disabled_methods_are_405_with_allow(self, client):
        users = await client.post(
            "/users", json={"email": "a@example.com", "name": "A", "password": "long secret"}
        )
        assert users.status_code == 201
        response = await client.delete(f"/users/{users.json()['id']}")
        assert_problem(response, 405, "method_not_allowed")
        assert response.headers["allow"] == "GET, HEAD"

    async def test_excluded_fields_never_appear_in_any_response(self, client):
        created = await client.post(
            "/users", json={"email": "a@example.com", "name": "A", "password": "long secret"}
        )
        texts = [
            created.text,
            (await client.get("/users")).text,
            (await client.get(f"/users/{created.json()['id']}")).text,
            (await client.get("/users/schema")).text,
        ]
        for text in texts:
            assert "long secret" not in text
            assert "argon2" not in text
        assert_problem(await client.get("/users?fields=password"), 400, "invalid_query")
        assert_problem(
            await client.get(
                "/users", params={"where": json.dumps({"password": {"$exists": True}})}
            ),
            400,
            "invalid_query",
        )

    async def test_a_password_field_refuses_a_ready_made_hash(self, client):
        import argon2

        ready = argon2.PasswordHasher().hash("x")
        user = {"email": "h@example.com", "name": "H", "password": ready}
        body = assert_problem(await client.post("/users", json=user), 400, "validation_error")
        assert [(e["field"], e["code"]) for e in body["errors"]] == [("password", "invalid")]
        bulk = assert_problem(
            await client.post("/users", json=[{**user, "password": "long secret"}, user]),
            400,
            "validation_error",
        )
        assert [(e["field"], e["index"]) for e in bulk["errors"]] == [("password", 1)]
        assert "$argon2id$" not in body["detail"] + json.dumps(body["errors"])


class TestRequestIds:
    async def test_every_response_carries_a_request_id(self, client):
        echoed = await client.get("/tasks", headers={"X-Request-ID": "abc-123"})
        assert echoed.headers["x-request-id"] == "abc-123"
        generated = await client.get("/tasks/tsk_nothing")
        assert len(generated.headers["x-request-id"]) == 32


class TestActionsAndHooks:
    async def test_an_action_runs_with_validated_arguments_and_is_saved(self, client):
        created = await create(client, priority=2)
        url = created.headers["location"]
        moved = await client.post(f"{url}/reprioritise", json={"priority": 5, "reason": "urgent"})
        assert moved.status_code == 200, moved.text
        body = moved.json()
        assert (body["priority"], body["tags"], body["version"]) == (5, ["urgent"], 2)
        bad = await client.post(f"{url}/reprioritise", json={"priority": "high", "x": 1})
        errors = assert_problem(bad, 400, "validation_error")["errors"]
        assert {(e["field"], e["code"]) for e in errors} == {
            ("priority", "invalid_type"),
            ("x", "unknown_field"),
        }
        assert ("after_update", "2->5") in EVENTS

    async def test_an_unavailable_action_is_409_and_unlinked(self, client):
        created = await create(client)
        url = created.headers["location"]
        done = await client.post(f"{url}/complete")
        assert done.json()["status"] == "done"
        assert "complete" not in done.json()["_links"]
        assert_problem(await client.post(f"{url}/complete"), 409, "action_unavailable")

    async def test_actions_honour_optimistic_locking(self, client):
        created = await create(client)
        url = created.headers["location"]
        await client.patch(url, json={"priority": 4})
        stale = await client.post(f"{url}/complete", headers={"If-Match": created.headers["etag"]})
        assert_problem(stale, 412, "precondition_failed")

    async def test_hooks_run_around_writes_and_can_refuse(self, client):
        assert_problem(
            await client.post("/tasks", json={"title": "forbidden"}), 409, "domain_error"
        )
        assert (await client.get("/tasks")).json()["_meta"]["total"] == 0
        created = await create(client, title="kept", priority=1)
        await client.patch(created.headers["location"], json={"priority": 3})
        await client.delete(created.headers["location"])
        assert EVENTS == [
            ("before_create", "kept"),
            ("after_update", "1->3"),
            ("after_delete", "kept"),
        ]


class TestOpenApi:
    async def test_the_document_is_valid_and_documents_every_generated_route(self, client):
        from openapi_spec_validator import validate

        document = (await client.get("/schema/openapi.json")).json()
        validate(document)
        paths = document["paths"]
        patch = paths["/tasks/{key}"]["patch"]
        assert set(patch["requestBody"]["content"]) == {
            "application/json",
            "application/merge-patch+json",
        }
        assert patch["responses"]["200"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/TaskItem"
        }
        assert {"400", "404", "409", "412", "413", "415"} <= set(patch["responses"])
        assert "application/problem+json" in patch["responses"]["409"]["content"]
        assert paths["/tasks"]["get"]["responses"]["200"]["content"]["application/json"][
            "schema"
        ] == {"$ref": "#/components/schemas/TaskList"}
        action = paths["/tasks/{key}/reprioritise"]["post"]
        arguments = action["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        schemas = document["components"]["schemas"]
        assert schemas[arguments.rsplit("/", 1)[1]]["required"] == ["priority"]
        assert "delete" not in paths["/users/{key}"], "disabled methods are not documented"
        assert "password" not in schemas["User"]["properties"]
        assert schemas["UserWrite"]["properties"]["password"] == {"writeOnly": True}
        assert (await client.get("/schema/swagger")).status_code == 200


ARTICLES = [
    {
        "title": "Parser fixes land",
        "body": "The new parser handles unicode text",
        "scores": [1, 7],
        "lines": [{"sku": "ABC-001", "quantity": 2, "price": "1.50"}],
        "secret": "s3cret-one",
    },
    {
        "title": "Release notes",
        "body": "Fixes for the login page and the parser",
        "section": "blog",
        "scores": [4],
        "lines": [
            {"sku": "ABC-001", "quantity": 9, "price": "3.00"},
            {"sku": "XYZ-002", "quantity": 1, "price": "9.99"},
        ],
        "secret": "s3cret-two",
    },
    {"title": "Quarterly numbers", "body": "Revenue and costs", "scores": [], "secret": "x-1"},
    {
        "title": "Login outage report",
        "body": "What broke the login page",
        "section": "blog",
        "scores": [2, 3],
        "secret": "x-2",
    },
]


async def store_articles(client):
    response = await client.post("/articles", json=ARTICLES)
    assert response.status_code == 201, response.text
    return response.json()["_items"]


def titles(response):
    assert response.status_code == 200, response.text
    return sorted(item["title"] for item in response.json()["_items"])


def pipeline(*stages):
    return {"pipeline": json.dumps(list(stages))}


FORBIDDEN_WHERE = [
    {"$where": "sleep(1000)"},
    {"title": {"$where": "1"}},
    {"$expr": {"$gt": ["$priority", 1]}},
    {"priority": {"$expr": {}}},
    {"title": {"$regex": ".*"}},
    {"$text": {"$search": "x"}},
    {"title": {"$function": {"body": "x", "args": [], "lang": "js"}}},
    {"$jsonSchema": {}},
    {"priority": {"$mod": [2, 0]}},
    {"$comment": "x"},
    {"priority": {"$not": {"$where": "1"}}},
    {"$and": [{"$where": "1"}]},
    {"$or": [{"title": "a"}, {"priority": {"$regex": "1"}}]},
    {"title": {"$eq": {"$gt": ""}}},
    {"title": {"$in": [{"$gt": ""}]}},
    {"colour": "red"},
    {"home.nothing": 1},
    {"tags": {"$elemMatch": {"$where": "1"}}},
    {"tags": {"$elemMatch": {"$regex": "a"}}},
]

FORBIDDEN_STAGES = [
    {"$out": "stolen"},
    {"$merge": {"into": "stolen"}},
    {"$lookup": {"from": "users", "localField": "x", "foreignField": "_id", "as": "u"}},
    {
        "$graphLookup": {
            "from": "users",
            "startWith": "$x",
            "connectFromField": "a",
            "connectToField": "b",
            "as": "u",
        }
    },
    {"$unionWith": "users"},
    {"$replaceRoot": {"newRoot": "$home"}},
    {"$indexStats": {}},
    {"$collStats": {}},
    {"$currentOp": {}},
    {"$group": {"_id": None, "x": {"$accumulator": {"init": "function(){}"}}}},
    {"$addFields": {"x": {"$function": {"body": "return 1", "args": [], "lang": "js"}}}},
    {"$match": {"$where": "1"}},
    {"$match": {"$expr": {"$eq": [1, 1]}}},
    {"$facet": {"a": [{"$lookup": {"from": "users", "as": "u", "pipeline": []}}]}},
    {"$facet": {"a": [{"$match": {"$where": "1"}}]}},
    {"$facet": {"a": [{"$facet": {"b": [{"$count": "n"}]}}]}},
    {"$project": {"x": {"$where": "1"}}},
]


class TestSearchAndAggregate:
    async def test_q_searches_the_text_index(self, client, counts_text_searches):
        if not counts_text_searches:
            pytest.skip("this server cannot count $text queries (MongoDB itself can)")
        await store_articles(client)
        assert titles(await client.get("/articles", params={"q": "parser"})) == [
            "Parser fixes land",
            "Release notes",
        ]
        phrase = await client.get("/articles", params={"q": '"login page" -outage'})
        assert titles(phrase) == ["Release notes"]
        assert phrase.json()["_meta"]["total"] == 1
        blog = await client.get("/articles", params={"q": "login", "section": "blog"})
        assert titles(blog) == ["Login outage report", "Release notes"]

    async def test_q_needs_a_text_index(self, client):
        body = assert_problem(await client.get("/tasks", params={"q": "x"}), 400, "invalid_query")
        assert [e["field"] for e in body["errors"]] == ["q"]

    async def test_where_elem_match_and_size(self, client):
        await store_articles(client)
        same_line = {"lines": {"$elemMatch": {"sku": "ABC-001", "quantity": {"$gt": 5}}}}
        response = await client.get("/articles", params={"where": json.dumps(same_line)})
        assert titles(response) == ["Release notes"]
        scores = {"scores": {"$elemMatch": {"$gt": 2, "$lt": 6}}}
        response = await client.get("/articles", params={"where": json.dumps(scores)})
        assert titles(response) == ["Login outage report", "Release notes"]
        sized = await client.get(
            "/articles", params={"where": json.dumps({"scores": {"$size": 0}})}
        )
        assert titles(sized) == ["Quarterly numbers"]
        wrong = {"lines": {"$elemMatch": {"quantity": {"$gt": "many"}}}}
        body = assert_problem(
            await client.get("/articles", params={"where": json.dumps(wrong)}), 400, "invalid_query"
        )
        assert body["errors"][0]["field"] == "where.lines.quantity"

    @pytest.mark.parametrize("where", FORBIDDEN_WHERE, ids=lambda w: json.dumps(w)[:40])
    async def test_every_forbidden_where_operator_is_400(self, client, where):
        response = await client.get("/tasks", params={"where": json.dumps(where)})
        assert_problem(response, 400, "invalid_query")

    async def test_aggregate_groups_after_a_typed_match(self, client):
        await store_articles(client)
        response = await client.get(
            "/articles/aggregate",
            params=pipeline(
                {"$match": {"scores": {"$size": 1}}},
                {"$unwind": "$lines"},
                {"$group": {"_id": "$lines.sku", "n": {"$sum": "$lines.quantity"}}},
                {"$sort": {"_id": 1}},
            ),
        )
        assert response.status_code == 200, response.text
        assert response.json()["_items"] == [{"_id": "ABC-001", "n": 9}, {"_id": "XYZ-002", "n": 1}]
        by_section = await client.get(
            "/articles/aggregate",
            params=pipeline(
                {"$sortByCount": "$section"},
                {"$match": {"count": {"$gte": 2}}},
                {"$sort": {"_id": 1}},
            ),
        )
        assert by_section.json()["_items"] == [
            {"_id": "blog", "count": 2},
            {"_id": "news", "count": 2},
        ]

    async def test_aggregate_values_use_the_wire_format(self, client):
        stored = await store_articles(client)
        response = await client.get(
            "/articles/aggregate",
            params=pipeline(
                {"$match": {"id": stored[1]["id"]}},
                {"$project": {"inserted": 1, "price": {"$first": "$lines.price"}}},
            ),
        )
        (item,) = response.json()["_items"]
        assert item == {"_id": stored[1]["id"], "inserted": stored[1]["inserted"], "price": "3.00"}

    async def test_aggregate_match_converts_and_checks_values(self, client):
        body = assert_problem(
            await client.get("/articles/aggregate", params=pipeline({"$match": {"scores": "x"}})),
            400,
            "invalid_query",
        )
        assert body["errors"][0]["field"] == "pipeline[0].where.scores"

    @pytest.mark.parametrize("stage", FORBIDDEN_STAGES, ids=lambda s: json.dumps(s)[:40])
    async def test_every_forbidden_stage_and_operator_is_400(self, client, stage):
        response = await client.get("/articles/aggregate", params=pipeline(stage))
        body = assert_problem(response, 400, "invalid_query")
        assert body["errors"][0]["field"].startswith("pipeline")

    @pytest.mark.parametrize(
        "params",
        [
            {},
            {"pipeline": "[{"},
            {"pipeline": "[]"},
            {"pipeline": "{}"},
            {"pipeline": json.dumps([{"$limit": 0}])},
            {"pipeline": json.dumps([{"$sort": {"title": 2}}])},
            {"pipeline": json.dumps([{"$count": "n", "$limit": 1}])},
            {"pipeline": json.dumps([{"$count": "n"}]), "where": "{}"},
            {"pipeline": json.dumps([{"$group": {"n": {"$sum": 1}}}])},
        ],
        ids=[
            "missing",
            "bad-json",
            "empty",
            "object",
            "limit-0",
            "sort-2",
            "two-keys",
            "extra",
            "refused-by-the-store",
        ],
    )
    async def test_malformed_pipelines_are_400(self, client, params):
        assert_problem(await client.get("/articles/aggregate", params=params), 400, "invalid_query")

    async def test_an_expression_that_fails_on_the_data_is_400(self, client):
        await store_articles(client)
        params = pipeline({"$addFields": {"a": {"$divide": [1, 0]}}})
        body = assert_problem(
            await client.get("/articles/aggregate", params=params), 400, "invalid_query"
        )
        assert body["errors"][0]["field"] == "pipeline"

    async def test_aggregations_never_reveal_an_excluded_field(self, client):
        await store_articles(client)
        attempts = [
            pipeline({"$project": {"secret": 1, "title": 1}}),
            pipeline({"$addFields": {"leak": "$secret"}}),
            pipeline({"$group": {"_id": None, "all": {"$push": "$$ROOT"}}}),
            pipeline({"$facet": {"a": [{"$project": {"s": "$secret"}}]}}),
            pipeline({"$sortByCount": "$secret"}),
        ]
        for params in attempts:
            response = await client.get("/articles/aggregate", params=params)
            assert response.status_code == 200, response.text
            assert "s3cret" not in response.text
            assert "x-1" not in response.text
        assert_problem(
            await client.get("/articles/aggregate", params=pipeline({"$match": {"secret": "x-1"}})),
            400,
            "invalid_query",
        )
        listed = await client.get("/articles", params={"fields": "-title"})
        assert "s3cret" not in listed.text

    async def test_aggregate_results_are_capped(self, client):
        await store_articles(client)
        await store_articles(client)
        response = await client.get(
            "/articles/aggregate", params=pipeline({"$project": {"title": 1}})
        )
        body = response.json()
        assert len(body["_items"]) == 5
        assert body["_meta"] == {"count": 5, "truncated": True, "max_results": 5}
        small = await client.get("/articles/aggregate", params=pipeline({"$count": "n"}))
        assert small.json() == {
            "_items": [{"n": 8}],
            "_meta": {"count": 1, "truncated": False, "max_results": 5},
        }
