"""``hexkernel run`` serves the example over real HTTP, on the embedded store and on MongoDB."""

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "taskboard"
HEXKERNEL = Path(sys.executable).with_name("hexkernel")
ADMIN_PASSWORD = "admin-password-1"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(tmp_path, **env):
    port = free_port()
    config = tmp_path / "cfg.yml"
    config.write_text(
        "service: taskboard-e2e\n"
        "http:\n  port: 1\n"
        "auth:\n"
        "  admin: {email: admin@example.org}\n"
        "  clients:\n    web: {grants: [password, refresh_token]}\n"
    )
    env.setdefault("HEXKERNEL_AUTH__ADMIN__PASSWORD", ADMIN_PASSWORD)
    process = subprocess.Popen(
        [
            str(HEXKERNEL),
            "run",
            "taskboard.app:app",
            "--config",
            str(config),
            "--port",
            str(port),
            "--app-dir",
            str(EXAMPLE),
        ],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return process, base
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    output = process.communicate()[0].decode()
    pytest.fail(f"the service did not start:\n{output}")


def stop(process):
    process.terminate()
    try:
        output = process.communicate(timeout=10)[0].decode()
    except subprocess.TimeoutExpired:
        process.kill()
        output = process.communicate()[0].decode()
    return output


def login(base):
    response = httpx.post(
        f"{base}/auth/token",
        data={
            "grant_type": "password",
            "username": "admin@example.org",
            "password": ADMIN_PASSWORD,
            "client_id": "web",
        },
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def round_trip(base):
    assert httpx.get(f"{base}/tasks", timeout=10).status_code == 401, "tasks need a login"
    with httpx.Client(base_url=base, timeout=10, headers=login(base)) as client:
        project = client.post("/projects", json={"name": "Docs"})
        assert project.status_code == 201, project.text
        task = client.post(
            "/tasks", json={"project": project.json()["id"], "title": "Write", "priority": 4}
        )
        assert task.status_code == 201, task.text
        project_link = task.json()["_links"]["project"]["href"]
        assert client.get(project_link).json()["name"] == "Docs", "reference fields are links"
        listed = client.get("/tasks", params={"status": "open", "sort": "-priority"})
        assert [t["title"] for t in listed.json()["_items"]] == ["Write"]
        assert client.get("/schema/openapi.json").status_code == 200
        orphan = client.post(
            "/tasks", json={"project": "prj_01JD8X3M9Q4W5E6R7T8Y9V0W1X", "title": "x"}
        )
        assert orphan.status_code == 400, "the example's hook checks the project"
        assert orphan.json()["errors"][0]["code"] == "unknown_reference"
        assert "complete" in task.json()["_links"]
        done = client.post(f"/tasks/{task.json()['id']}/complete")
        assert done.json()["status"] == "done"
        assert done.json()["completed_at"].endswith("Z")
        assert "complete" not in done.json()["_links"], "linked only while the task is open"
        again = client.post(f"/tasks/{task.json()['id']}/complete")
        assert again.status_code == 200, "complete is idempotent"
        assert again.json()["version"] == done.json()["version"]
        return client.get("/health").json()


@pytest.mark.slow
def test_run_serves_the_example_on_the_embedded_store(tmp_path):
    process, base = serve(tmp_path)
    try:
        assert round_trip(base) == {"status": "ok", "storage": "memory"}
    finally:
        output = stop(process)
    assert "taskboard-e2e" in output, "the service name comes from --config"
    assert "in-memory store" in output
    assert ADMIN_PASSWORD not in output, "secrets never reach the log"


@pytest.mark.slow
@pytest.mark.integration
def test_run_serves_the_example_on_mongodb(tmp_path, mongo_uri):
    database = f"hk_e2e_{uuid.uuid4().hex}"
    process, base = serve(
        tmp_path, HEXKERNEL_MONGO__URI=mongo_uri, HEXKERNEL_MONGO__DATABASE=database
    )
    try:
        assert round_trip(base) == {"status": "ok", "storage": "mongo"}
    finally:
        output = stop(process)
    assert mongo_uri not in output, "the connection string is a secret"
