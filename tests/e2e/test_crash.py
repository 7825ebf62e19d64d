"""Crash tests: workers killed with SIGKILL in the middle of poll batches and webhook
deliveries, repeatedly, and Redis restarted under load. Afterwards no poll is lost, no event
is duplicated, every alert reached the receiver, and no webhook id was delivered with two
different payloads."""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tests.e2e.conftest import START, parcel, scenario, service_env
from tests.e2e.harness import Cluster, Receiver, cluster, wait_for
from tracker import webhooks
from tracker.model import Destination, Order, Parcel
from tracker.sim.server import SimServer
from tracker.store import repo
from tracker.store.tables import alerts, events, parcels

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(300)]

ORDERS = 60


def add_orders(engine: Engine, count: int) -> list[str]:
    numbers = [f"LP{i:014d}" for i in range(1, count + 1)]
    with engine.begin() as conn:
        for i, number in enumerate(numbers):
            order = Order(
                id=f"A-{i:03d}",
                destination=Destination("DE", "10115", "Berlin"),
                shipped_at=START,
                promised_by=(START + timedelta(days=40)).date(),
                parcels=(Parcel(number),),
            )
            repo.upsert_order(conn, order, ["cainiao", "17track"], now=datetime.now(UTC))
    return numbers


def slow_scenario(numbers: list[str]) -> dict[str, object]:
    return scenario(*(parcel(n) for n in numbers), behaviours=[{"kind": "delay", "ms": 250}])


def all_polled(engine: Engine) -> bool:
    with engine.connect() as conn:
        waiting = conn.execute(
            sa.select(sa.func.count())
            .select_from(parcels)
            .where(parcels.c.last_polled_at.is_(None))
        ).scalar_one()
    return waiting == 0


def alert_keys(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return {row.key for row in conn.execute(sa.select(alerts.c.key))}


def received_keys(receiver: Receiver) -> set[str]:
    return {r.json["data"]["alert_key"] for r in receiver.received}


def assert_nothing_lost_or_doubled(engine: Engine, receiver: Receiver, secret: str) -> None:
    with engine.connect() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(events)).scalar_one()
        distinct = conn.execute(
            sa.select(sa.func.count()).select_from(
                sa.select(
                    events.c.parcel_id, events.c.source, events.c.substatus, events.c.occurred_at
                )
                .distinct()
                .subquery()
            )
        ).scalar_one()
    assert total == distinct, "an event was stored twice"
    assert total > 0
    payloads: dict[str, set[bytes]] = defaultdict(set)
    for received in receiver.received:
        payloads[received.headers["webhook-id"]].add(received.body)
        assert webhooks.verify(secret, received.headers, received.body, now=time.time())
    doubled = {k: v for k, v in payloads.items() if len(v) > 1}
    assert not doubled, f"webhook ids sent with different payloads: {sorted(doubled)}"


def run_until_done(running: Cluster, engine: Engine, receiver: Receiver, timeout: float) -> None:
    wait_for(lambda: all_polled(engine), timeout, "every parcel polled")
    wait_for(
        lambda: alert_keys(engine) and alert_keys(engine) <= received_keys(receiver),
        timeout,
        "every alert delivered",
    )


def test_killed_workers_lose_and_duplicate_nothing(pg: Engine, broker: str, tmp_path: Path) -> None:
    numbers = add_orders(pg, ORDERS)
    secret = webhooks.generate_secret()
    rng = random.Random(42)
    with SimServer(slow_scenario(numbers)) as sim, Receiver(fail_first=3) as receiver:
        with pg.begin() as conn:
            repo.create_endpoint(conn, receiver.url, secret, now=datetime.now(UTC))
        with cluster(service_env(pg, broker, sim.env()), tmp_path) as running:
            worker = running.worker(concurrency=2)
            running.beat()
            wait_for(lambda: sim.requests() > 0, 30, "the first poll")
            kills = 0
            for _ in range(6):  # SIGKILL a pool child mid-task, again and again
                time.sleep(1.2)
                children = worker.children()
                if children:
                    subprocess.run(["kill", "-9", str(rng.choice(children))], check=False)
                    kills += 1
            lost = worker.output()
            worker.kill_hard()  # then the whole worker, main process and pool
            running.worker(concurrency=2)
            run_until_done(running, pg, receiver, 150)
    assert kills >= 3
    assert "SIGKILL" in lost  # pool children really died under the worker's feet
    assert len({key.split(":")[0] for key in alert_keys(pg)}) == ORDERS
    assert_nothing_lost_or_doubled(pg, receiver, secret)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A private redis-server with AOF persistence, as docker-compose runs it."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.dir = directory
        self.popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server") or "redis-server"
        self.popen = subprocess.Popen(
            [
                binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(self.dir),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
                "--maxmemory-policy",
                "noeviction",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self._up, 10, "redis-server to accept connections")

    def _up(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def kill(self) -> None:
        if self.popen is not None:
            self.popen.kill()
            self.popen.wait(10)


def test_the_service_resumes_by_itself_after_a_redis_restart(pg: Engine, tmp_path: Path) -> None:
    numbers = add_orders(pg, ORDERS)
    secret = webhooks.generate_secret()
    server = RedisServer(tmp_path)
    server.start()
    try:
        with SimServer(slow_scenario(numbers)) as sim, Receiver() as receiver:
            with pg.begin() as conn:
                repo.create_endpoint(conn, receiver.url, secret, now=datetime.now(UTC))
            with cluster(service_env(pg, server.url, sim.env()), tmp_path) as running:
                running.worker(concurrency=2)
                running.beat()
                wait_for(lambda: sim.requests() > 4, 30, "polls under way")
                server.kill()
                time.sleep(3)
                server.start()  # same port, same AOF
                run_until_done(running, pg, receiver, 150)
        assert_nothing_lost_or_doubled(pg, receiver, secret)
    finally:
        server.kill()


def test_a_message_that_kills_its_worker_runs_four_times_then_is_dead_lettered(
    pg: Engine, broker: str, tmp_path: Path
) -> None:
    """reliability.md CEL-3: a task that SIGKILLs its own process runs exactly 4 times (1 + 3
    redeliveries), then a dead-letter row appears; the worker is not stuck in a loop and
    other tasks keep flowing."""
    from celery import Celery

    from tracker.store import dead_letters

    client = redis.Redis.from_url(broker)
    sender = Celery("poison-test", broker=broker)
    with SimServer(scenario()) as sim:
        env = service_env(pg, broker, sim.env())
        with cluster(env, tmp_path) as running:
            running.worker(queues="celery", concurrency=1, include="tests.e2e.poison_tasks")
            crash = sender.send_task("tests.e2e.poison_tasks.crash", args=["runs:crash"])
            with pg.connect() as conn:
                wait_for(lambda: dead_letters.newest(conn), 120, "a dead letter")
            sender.send_task("tests.e2e.poison_tasks.ping", args=["runs:ping"])
            wait_for(lambda: client.get("runs:ping"), 60, "the next task to run")
            time.sleep(2)  # a loop would have run it again by now
            assert int(client.get("runs:crash") or 0) == 4
            assert client.keys("tracker:deliveries:*") == []  # no count outlives its task
    with pg.connect() as conn:
        [letter] = dead_letters.newest(conn)
    assert (letter.task_id, letter.task_name) == (crash.id, "tests.e2e.poison_tasks.crash")
    assert letter.deliveries == 5 and letter.args == {"args": ["runs:crash"], "kwargs": {}}
