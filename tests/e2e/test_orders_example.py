"""The orders example end to end: two real service processes, MongoDB and Redis Streams.

Each service runs as ``hexkernel run examples.orders.<service>:app`` from the
repository root, with its own database on the test MongoDB server; they share
only a Redis key prefix. The tests drive them over HTTP and check the
invariants of the example's specification: available credit is never below
zero and always equals the limit minus the totals of the customer's
``APPROVED`` and ``CANCEL_PENDING`` orders; every order reaches a final state;
duplicate deliveries change nothing; the order-history projection agrees with
``GET /orders/{id}`` once caught up; and 10 concurrent orders of 20.00 against
a limit of 100.00 end 5 approved, 5 rejected, 0.00 available, also when the
customers service is killed with SIGKILL in the middle and started again.
"""

import asyncio
import collections
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from pymongo import MongoClient

from hexkernel.adapters.redis import RedisBroker
from hexkernel.core.envelope import Envelope

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
HEXKERNEL = Path(sys.executable).with_name("hexkernel")
FINAL = {"APPROVED", "REJECTED", "CANCELLED"}
HOLDING = {"APPROVED", "CANCEL_PENDING"}
SETTLE = 90.0  # seconds an order may take to reach a final state (a restart included)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check: Callable[[], Any], *, timeout: float, what: str) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


class ServiceProcess:
    """One example service run by ``hexkernel run`` from the repository root."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.env = env
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_dir = log_dir
        self.starts = 0
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.starts += 1
        log = (self.log_dir / f"{self.name}-{self.starts}.log").open("wb")
        self.process = subprocess.Popen(
            [str(HEXKERNEL), "run", f"examples.orders.{self.name}:app", "--port", str(self.port)],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"{self.name} exited at start-up:\n{self.logs()}")
            try:
                if httpx.get(f"{self.base}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        self.kill()
        pytest.fail(f"{self.name} did not start:\n{self.logs()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no cleanup, nothing flushed."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-6000:]}"
            for path in sorted(self.log_dir.glob(f"{self.name}-*.log"))
        )


class Cluster:
    """Both services, their databases and their Redis prefix; HTTP helpers for the tests."""

    def __init__(self, mongo_uri: str, redis_url: str, log_dir: Path) -> None:
        run = uuid.uuid4().hex[:10]
        self.mongo_uri = mongo_uri
        self.redis_url = redis_url
        self.prefix = f"hk_test:ordex-{run}:"
        self.databases = {"customers": f"ordex_{run}_customers", "orders": f"ordex_{run}_orders"}
        base = {k: v for k, v in os.environ.items() if not k.startswith("HEXKERNEL_")}
        common = {
            **base,
            "HEXKERNEL_MONGO__URI": mongo_uri,
            "HEXKERNEL_BROKER__URL": redis_url,
            "HEXKERNEL_BROKER__PREFIX": self.prefix,
            "HEXKERNEL_BROKER__RELAY_POLL_SECONDS": "0.05",
            "HEXKERNEL_BROKER__RELAY_LEASE_SECONDS": "3",
            "HEXKERNEL_BROKER__REDELIVER_AFTER_SECONDS": "5",
            "HEXKERNEL_SAGAS__POLL_SECONDS": "0.2",
            "HEXKERNEL_SAGAS__LEASE_SECONDS": "5",
            "HEXKERNEL_LOG_LEVEL": "WARNING",
        }
        self.customers = ServiceProcess(
            "customers",
            {
                **common,
                "HEXKERNEL_MONGO__DATABASE": self.databases["customers"],
                "HEXKERNEL_BROKER__CONSUMER": "customers-1",
            },
            log_dir,
        )
        self.orders = ServiceProcess(
            "orders",
            {
                **common,
                "HEXKERNEL_MONGO__DATABASE": self.databases["orders"],
                "HEXKERNEL_BROKER__CONSUMER": "orders-1",
            },
            log_dir,
        )

    def start(self) -> None:
        self.customers.start()
        self.orders.start()

    def close(self) -> None:
        self.orders.stop()
        self.customers.stop()
        client = redis.Redis.from_url(self.redis_url)
        try:
            keys = list(client.scan_iter(match=f"{self.prefix}*", count=500))
            if keys:
                client.delete(*keys)
        finally:
            client.close()
        with MongoClient(self.mongo_uri) as mongo:
            for name in self.databases.values():
                mongo.drop_database(name)

    # ---------------------------------------------------------------- HTTP
    @staticmethod
    def _call(method: str, url: str, expected: int, **kwargs: Any) -> Any:
        """The JSON answer of a request that must get the ``expected`` status."""
        response = httpx.request(method, url, timeout=kwargs.pop("timeout", 30), **kwargs)
        assert response.status_code == expected, response.text
        return response.json()

    def post_customer(self, name: str, limit: str) -> dict[str, Any]:
        body = {"name": name, "credit_limit": limit}
        return self._call("POST", f"{self.customers.base}/customers", 201, json=body)

    def customer(self, customer_id: str) -> dict[str, Any]:
        return self._call("GET", f"{self.customers.base}/customers/{customer_id}", 200)

    def events(self, customer_id: str) -> list[dict[str, Any]]:
        url = f"{self.customers.base}/customers/{customer_id}/events"
        return self._call("GET", url, 200)["_items"]

    def post_order(self, customer_id: str, total: str) -> dict[str, Any]:
        body = {"customer_id": customer_id, "total": total}
        return self._call("POST", f"{self.orders.base}/orders", 201, json=body, timeout=60)

    def order(self, order_id: str) -> dict[str, Any]:
        return self._call("GET", f"{self.orders.base}/orders/{order_id}", 200)

    def saga(self, saga_id: str) -> dict[str, Any]:
        return self._call("GET", f"{self.orders.base}/sagas/{saga_id}", 200)

    def history(self, customer_id: str) -> dict[str, Any]:
        return self._call("GET", f"{self.orders.base}/order-history/{customer_id}", 200)

    def settled(self, order_id: str, *, timeout: float = SETTLE) -> dict[str, Any]:
        """The order once it is in a final state."""
        return wait_until(
            lambda: (order := self.order(order_id))["state"] in FINAL and order,
            timeout=timeout,
            what=f"order {order_id} to reach a final state",
        )

    def publish(self, topic: str, *envelopes: Envelope) -> None:
        """Put envelopes on a topic directly, as a redelivering broker would."""

        async def send() -> None:
            broker = RedisBroker.from_url(self.redis_url, prefix=self.prefix)
            try:
                for envelope in envelopes:
                    await broker.publish(topic, envelope)
            finally:
                await broker.close()

        asyncio.run(send())

    def journal(self) -> str:
        """The orders log, counter, checkpoints, orders and rows: shown when an invariant fails."""
        with MongoClient(self.mongo_uri) as mongo:
            db = mongo[self.databases["orders"]]
            lines = [
                f"counter: {list(db['hk_event_counter'].find())}",
                f"checkpoints: {list(db['hk_projection_checkpoints'].find())}",
            ]
            lines += [
                f"  event {e['position']} {e['stream_id']} v{e['version']} {e['type']}"
                for e in db["hk_events"].find({}, sort=[("position", 1)])
            ]
            lines += [
                f"  order {o['_id']} {o.get('state')} v{o.get('version')}"
                for o in db["orders"].find()
            ]
            lines += [f"  row {r['_id']} {r.get('state')}" for r in db["order_history"].find()]
        return "\n".join(lines)

    # ---------------------------------------------------------- invariants
    def check_credit(self, customer_id: str, order_ids: list[str]) -> dict[str, Any]:
        """Available = limit - APPROVED/CANCEL_PENDING totals; never below zero on the way."""
        customer = self.customer(customer_id)
        orders = [self.order(o) for o in order_ids]
        holding = sum((Decimal(o["total"]) for o in orders if o["state"] in HOLDING), Decimal(0))
        limit = Decimal(customer["credit_limit"])
        assert Decimal(customer["available_credit"]) == limit - holding
        assert Decimal(customer["available_credit"]) >= 0
        replayed = Decimal(0)
        reserved: dict[str, Decimal] = {}
        for event in self.events(customer_id):
            data = event["data"]
            if event["type"] == "customers.CustomerCreated":
                replayed = Decimal(data["credit_limit"])
            elif event["type"] == "customers.CreditReserved":
                assert data["order_id"] not in reserved, "credit reserved twice for one order"
                reserved[data["order_id"]] = Decimal(data["amount"])
                replayed -= Decimal(data["amount"])
            elif event["type"] == "customers.CreditReleased":
                replayed += reserved.pop(data["order_id"])
            assert replayed >= 0, "the available credit went below zero"
        assert replayed == Decimal(customer["available_credit"])
        return customer

    def check_history(self, customer_id: str, order_ids: list[str]) -> None:
        """Once caught up, the projection shows each order as ``GET /orders/{id}`` does."""
        history = wait_until(
            lambda: (h := self.history(customer_id))["checkpoint"] == h["log_position"] and h,
            timeout=30,
            what="the order-history projection to catch up",
        )
        rows = {row["order_id"]: row for row in history["orders"]}
        assert set(rows) == set(order_ids)
        for order_id in order_ids:
            order = self.order(order_id)
            row = rows[order_id]
            assert (row["state"], row["total"], row["rejection_reason"]) == (
                order["state"],
                order["total"],
                order.get("rejection_reason"),
            )


@pytest.fixture(scope="module")
def cluster(mongo_uri, redis_url, tmp_path_factory) -> Iterator[Cluster]:
    running = Cluster(mongo_uri, redis_url, tmp_path_factory.mktemp("orders-example"))
    try:
        running.start()
        yield running
    finally:
        running.close()


@pytest.fixture
def own_cluster(mongo_uri, redis_url, tmp_path) -> Iterator[Cluster]:
    running = Cluster(mongo_uri, redis_url, tmp_path)
    try:
        running.start()
        yield running
    finally:
        running.close()


def place_concurrently(cluster: Cluster, customer_id: str, totals: list[str]) -> list[str]:
    with ThreadPoolExecutor(len(totals)) as pool:
        placed = list(pool.map(lambda total: cluster.post_order(customer_id, total), totals))
    assert all(o["state"] == "PENDING" for o in placed)
    return [o["id"] for o in placed]


def outcomes(cluster: Cluster, order_ids: list[str]) -> collections.Counter[str]:
    return collections.Counter(cluster.settled(o)["state"] for o in order_ids)


def test_an_order_is_approved_or_rejected_for_either_reason(cluster):
    customer = cluster.post_customer("Ada", "100.00")
    assert customer["id"].startswith("cus_")
    assert customer | {"id": None} == {
        "id": None,
        "name": "Ada",
        "credit_limit": "100.00",
        "available_credit": "100.00",
        "version": 1,
    }

    placed = cluster.post_order(customer["id"], "45.00")
    assert placed["id"].startswith("ord_")
    assert (placed["state"], placed["total"]) == ("PENDING", "45.00")
    approved = cluster.settled(placed["id"])
    assert approved["state"] == "APPROVED"
    assert "rejection_reason" not in approved

    too_much = cluster.settled(cluster.post_order(customer["id"], "60.00")["id"])
    assert (too_much["state"], too_much["rejection_reason"]) == ("REJECTED", "insufficient_credit")

    nobody = cluster.settled(cluster.post_order("cus_nobody", "1.00")["id"])
    assert (nobody["state"], nobody["rejection_reason"]) == ("REJECTED", "unknown_customer")

    assert cluster.customer(customer["id"])["available_credit"] == "55.00"
    types = [e["type"] for e in cluster.events(customer["id"])]
    assert types == [
        "customers.CustomerCreated",
        "customers.CreditReserved",
        "customers.CreditReservationFailed",
    ]
    assert [e["version"] for e in cluster.events(customer["id"])] == [1, 2, 3]
    cluster.check_credit(customer["id"], [approved["id"], too_much["id"]])
    cluster.check_history(customer["id"], [approved["id"], too_much["id"]])

    saga = cluster.saga(approved["saga_id"])
    assert (saga["type"], saga["state"], saga["last_error"]) == (
        "orders.CreateOrder",
        "COMPLETED",
        None,
    )
    assert [s["name"] for s in saga["steps"]] == ["create_order", "reserve_credit", "approve_order"]
    rolled_back = cluster.saga(too_much["saga_id"])
    assert rolled_back["state"] == "ROLLED_BACK"
    assert rolled_back["last_error"] == "insufficient_credit"
    listed = httpx.get(f"{cluster.orders.base}/sagas", params={"state": "ROLLED_BACK"}).json()
    assert {too_much["saga_id"], nobody["saga_id"]} <= {s["id"] for s in listed["_items"]}
    assert all(s["state"] == "ROLLED_BACK" for s in listed["_items"])


def test_http_errors_are_problems(cluster):
    bad = httpx.post(f"{cluster.orders.base}/orders", json={"customer_id": "", "total": "1.005"})
    assert bad.status_code == 400
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert {e["field"] for e in bad.json()["errors"]} == {"customer_id", "total"}
    zero = httpx.post(f"{cluster.orders.base}/orders", json={"customer_id": "c", "total": "0.00"})
    assert zero.status_code == 400
    customer = httpx.post(f"{cluster.customers.base}/customers", json={"name": "X"})
    assert customer.status_code == 400
    assert [e["field"] for e in customer.json()["errors"]] == ["credit_limit"]
    for url in (
        f"{cluster.orders.base}/orders/ord_missing",
        f"{cluster.orders.base}/sagas/create-ord_missing",
        f"{cluster.customers.base}/customers/cus_missing",
        f"{cluster.customers.base}/customers/cus_missing/events",
    ):
        missing = httpx.get(url)
        assert missing.status_code == 404, url
        assert missing.json()["code"] == "not_found"
    unknown_state = httpx.get(f"{cluster.orders.base}/sagas", params={"state": "DONE"})
    assert unknown_state.status_code == 400
    cancel_missing = httpx.post(f"{cluster.orders.base}/orders/ord_missing/cancel")
    assert cancel_missing.status_code == 404


def test_cancelling_releases_the_credit_and_other_states_are_a_conflict(cluster):
    customer = cluster.post_customer("Grace", "50.00")
    approved = cluster.settled(cluster.post_order(customer["id"], "30.00")["id"])
    rejected = cluster.settled(cluster.post_order(customer["id"], "30.00")["id"])
    assert (approved["state"], rejected["state"]) == ("APPROVED", "REJECTED")
    assert cluster.customer(customer["id"])["available_credit"] == "20.00"

    accepted = httpx.post(f"{cluster.orders.base}/orders/{approved['id']}/cancel")
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["state"] == "CANCEL_PENDING"
    cancelled = cluster.settled(approved["id"])
    assert cancelled["state"] == "CANCELLED"
    assert cluster.customer(customer["id"])["available_credit"] == "50.00"
    saga = cluster.saga(cancelled["cancel_saga_id"])
    assert (saga["type"], saga["state"]) == ("orders.CancelOrder", "COMPLETED")

    for order in (cancelled, rejected):
        conflict = httpx.post(f"{cluster.orders.base}/orders/{order['id']}/cancel")
        assert conflict.status_code == 409, conflict.text
        assert conflict.headers["content-type"].startswith("application/problem+json")
        assert conflict.json()["code"] == "order_not_approved"
    assert [e["type"] for e in cluster.events(customer["id"])][-1] == "customers.CreditReleased"
    cluster.check_credit(customer["id"], [approved["id"], rejected["id"]])
    cluster.check_history(customer["id"], [approved["id"], rejected["id"]])


def test_duplicate_deliveries_change_nothing(cluster):
    customer = cluster.post_customer("Edsger", "50.00")
    order = cluster.settled(cluster.post_order(customer["id"], "20.00")["id"])
    assert order["state"] == "APPROVED"
    events_before = cluster.events(customer["id"])
    saga_before = cluster.saga(order["saga_id"])

    # A command delivered three times (one message id), and the same request again
    # under a new id: one reservation.
    reserve = {"customer_id": customer["id"], "order_id": "ord_elsewhere", "amount": "10.00"}
    command = Envelope(
        message_id=f"msg_{uuid.uuid4().hex}",
        type="customers.ReserveCredit",
        version=1,
        data=reserve,
    )
    again = Envelope(
        message_id=f"msg_{uuid.uuid4().hex}", type=command.type, version=1, data=reserve
    )
    cluster.publish("customers.commands", command, command, command, again)
    # The orders service's reply redelivered: the saga is past that step.
    reply = Envelope(
        message_id=f"msg_{uuid.uuid4().hex}",
        type="customers.CreditReserved",
        version=1,
        data={"customer_id": customer["id"], "order_id": order["id"], "amount": "20.00"},
    )
    cluster.publish("customers.events", reply, reply)

    wait_until(
        lambda: len(cluster.events(customer["id"])) > len(events_before),
        timeout=30,
        what="the command to be handled",
    )
    time.sleep(2)  # let every copy arrive
    events = cluster.events(customer["id"])
    assert [e["type"] for e in events[len(events_before) :]] == ["customers.CreditReserved"]
    assert cluster.customer(customer["id"])["available_credit"] == "20.00"
    assert cluster.order(order["id"]) == order
    saga = cluster.saga(order["saga_id"])
    assert (saga["state"], saga["steps"]) == (saga_before["state"], saga_before["steps"])


def test_ten_concurrent_orders_against_a_limit_of_one_hundred(cluster):
    customer = cluster.post_customer("Barbara", "100.00")
    order_ids = place_concurrently(cluster, customer["id"], ["20.00"] * 10)
    assert outcomes(cluster, order_ids) == {"APPROVED": 5, "REJECTED": 5}
    assert cluster.check_credit(customer["id"], order_ids)["available_credit"] == "0.00"
    reasons = {cluster.order(o).get("rejection_reason") for o in order_ids}
    assert reasons == {None, "insufficient_credit"}
    cluster.check_history(customer["id"], order_ids)


def test_ten_concurrent_orders_survive_the_customers_service_killed_and_restarted(own_cluster):
    cluster = own_cluster
    customer = cluster.post_customer("Margaret", "100.00")
    with ThreadPoolExecutor(10) as pool:
        placing = [pool.submit(cluster.post_order, customer["id"], "20.00") for _ in range(10)]
        # Kill the customers service as soon as it has answered a first request.
        seen = wait_until(
            lambda: (version := cluster.customer(customer["id"])["version"]) >= 2 and version,
            timeout=SETTLE,
            what="a first reservation",
        )
        cluster.customers.kill()
        time.sleep(1.0)  # orders keep coming while it is down
        cluster.customers.start()
        order_ids = [future.result()["id"] for future in placing]
    assert seen < 11, "the service was killed after it had answered every order"
    assert outcomes(cluster, order_ids) == {"APPROVED": 5, "REJECTED": 5}, cluster.customers.logs()
    assert cluster.check_credit(customer["id"], order_ids)["available_credit"] == "0.00"
    events = cluster.events(customer["id"])
    answered = collections.Counter(
        e["data"]["order_id"]
        for e in events
        if e["type"] in {"customers.CreditReserved", "customers.CreditReservationFailed"}
    )
    assert answered == dict.fromkeys(order_ids, 1)  # one answer per order, none repeated
    assert cluster.customers.starts == 2
    cluster.check_history(customer["id"], order_ids)


def test_every_order_is_settled_when_the_orders_service_is_killed_and_restarted(own_cluster):
    cluster = own_cluster
    customer = cluster.post_customer("Frances", "100.00")

    def place() -> str | None:
        try:
            return cluster.post_order(customer["id"], "20.00")["id"]
        except httpx.TransportError:
            return None  # the service died under the request, or was down

    with ThreadPoolExecutor(10) as pool:
        placing = [pool.submit(place) for _ in range(10)]
        seen = wait_until(
            lambda: (version := cluster.customer(customer["id"])["version"]) >= 2 and version,
            timeout=SETTLE,
            what="a first reservation",
        )
        cluster.orders.kill()
        time.sleep(0.5)
        cluster.orders.start()
        answered = {order_id for future in placing if (order_id := future.result())}
    assert seen < 11, "the service was killed after every order was answered"
    # The orders the service stored, whether or not their request was answered: the
    # projection lists every one of them once it has caught up.
    history = wait_until(
        lambda: (h := cluster.history(customer["id"]))["checkpoint"] == h["log_position"] and h,
        timeout=30,
        what="the order-history projection to catch up",
    )
    stored = [row["order_id"] for row in history["orders"]]
    assert answered <= set(stored), (answered - set(stored), cluster.journal())
    counts = outcomes(cluster, stored)
    approved = min(len(stored), 5)
    rejected = len(stored) - approved
    assert counts == collections.Counter({"APPROVED": approved, "REJECTED": rejected})
    customer_now = cluster.check_credit(customer["id"], stored)
    assert Decimal(customer_now["available_credit"]) == Decimal("100.00") - 20 * approved
    assert cluster.orders.starts == 2
    cluster.check_history(customer["id"], stored)
