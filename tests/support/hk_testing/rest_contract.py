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
    """The app under test: Tasks with every write and hooks, Users with POST only."""
    EVENTS.clear()
    service = Service(RootContainer.from_settings(settings), [Task, User])
    return create_app(
        service, [Resource(Task, methods=WRITES, hooks=HOOKS), Resource(User, methods={"POST"})]
    )


def contract_settings(**mongo):
    """Small limits, so that 413 and page-size checks are cheap to reach."""
    from hexkernel.interfaces.config import MongoSettings

    return Settings(
        mongo=MongoSettings(**mongo), http=HttpSettings(max_body_bytes=2048, max_page_size=50)
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
