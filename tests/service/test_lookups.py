"""On-demand lookups against the simulator and real Redis: answered, cached, and coalesced."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tests.service.conftest import SERVICE_REDIS_URL
from tests.service.test_polling import NOW, client, scenario
from tracker.errors import ValidationError
from tracker.service import lookups
from tracker.settings import Settings
from tracker.sim.server import SimServer
from tracker.store import access
from tracker.store.tables import lookups as lookup_table
from workers.guards import Guards
from workers.queue import CeleryQueue

NUMBER = "LP00512345678901"


@pytest.fixture
def cache() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(SERVICE_REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()


@pytest.fixture
def queue() -> CeleryQueue:
    from celery import Celery

    return CeleryQueue(Celery("test", broker=SERVICE_REDIS_URL))


def request(
    engine: Engine,
    cache: redis.Redis,
    queue: CeleryQueue,
    number: str = NUMBER,
    source: str | None = "cainiao",
) -> str:
    return lookups.request_lookup(engine, cache, queue, number, source, None, NOW)


def answer(
    engine: Engine, cache: redis.Redis, sim_settings: Settings, guards: Guards, lookup_id: str
) -> bool:
    return lookups.answer(
        engine,
        cache,
        lookup_id,
        lambda s: client(sim_settings, s),
        lambda s: guards[s],
        lambda: NOW,
        sim_settings,
    )


def test_a_lookup_is_queued_then_answered(
    engine: Engine, cache: redis.Redis, queue: CeleryQueue, guards: Guards
) -> None:
    with SimServer(scenario()) as sim:
        sim.clock.set(NOW)
        settings = Settings.from_env(sim.env())
        lookup_id = request(engine, cache, queue)
        assert cache.llen("lookups") == 1  # the message waits on the lookups queue
        assert answer(engine, cache, settings, guards, lookup_id)
    with engine.connect() as conn:
        row = access.get_lookup(conn, lookup_id)
    assert row is not None and row.status == "done" and row.report is not None
    assert row.report["tracking_number"] == NUMBER
    assert row.report["status"] == "delivered"
    assert len(row.report["timeline"]) >= 5


def test_a_fresh_answer_is_served_from_the_cache(
    engine: Engine, cache: redis.Redis, queue: CeleryQueue, guards: Guards
) -> None:
    with SimServer(scenario()) as sim:
        sim.clock.set(NOW)
        settings = Settings.from_env(sim.env())
        answer(engine, cache, settings, guards, request(engine, cache, queue))
        cache.delete("lookups")
        second = request(engine, cache, queue)
        assert sim.requests("cainiao") == 1
    assert cache.llen("lookups") == 0  # nothing queued: answered at once
    with engine.connect() as conn:
        row = access.get_lookup(conn, second)
    assert row is not None and row.status == "done"


def test_concurrent_lookups_of_one_number_share_one_fetch(
    engine: Engine, cache: redis.Redis, queue: CeleryQueue, guards: Guards
) -> None:
    with SimServer(scenario(behaviours=[{"kind": "delay", "source": "cainiao", "ms": 300}])) as sim:
        sim.clock.set(NOW)
        settings = Settings.from_env(sim.env())
        ids = [request(engine, cache, queue) for _ in range(100)]
        threads = [
            threading.Thread(target=answer, args=(engine, cache, settings, guards, i)) for i in ids
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sim.requests("cainiao") == 1
    with engine.connect() as conn:
        rows = [access.get_lookup(conn, i) for i in ids]
    assert all(r is not None and r.status == "done" for r in rows)


def test_bad_numbers_and_sources_are_refused_before_anything_is_stored(
    engine: Engine, cache: redis.Redis, queue: CeleryQueue
) -> None:
    with pytest.raises(ValidationError, match="tracking_number"):
        request(engine, cache, queue, number="LP\x00123")
    with pytest.raises(ValidationError, match="source"):
        request(engine, cache, queue, source="fedx")
    assert cache.llen("lookups") == 0


def test_unknown_numbers_are_an_answer_not_a_failure(
    engine: Engine, cache: redis.Redis, queue: CeleryQueue, guards: Guards
) -> None:
    with SimServer(scenario()) as sim:
        sim.clock.set(NOW + timedelta(days=1))
        settings = Settings.from_env(sim.env())
        lookup_id = request(engine, cache, queue, number="LP99999999999999")
        answer(engine, cache, settings, guards, lookup_id)
    with engine.connect() as conn:
        row = access.get_lookup(conn, lookup_id)
    assert row is not None and row.report is not None
    assert row.report["status"] == "not_found"
    assert [s["outcome"] for s in row.report["sources"]] == ["not_found"]


def test_a_lookup_that_cannot_be_queued_is_marked_failed(
    engine: Engine, cache: redis.Redis
) -> None:
    from celery import Celery

    dead = CeleryQueue(Celery("test", broker="redis://127.0.0.1:1/0"))
    dead.app.conf.broker_connection_retry = False
    dead.app.conf.broker_transport_options = {"max_retries": 0}
    with pytest.raises(Exception):  # noqa: B017, PT011 - whatever the broker client raises
        request(engine, cache, dead)
    with engine.connect() as conn:
        statuses = {row.status for row in conn.execute(sa.select(lookup_table.c.status))}
    assert statuses == {"failed"}


def test_stale_queued_lookups_are_queued_again(
    engine: Engine, cache: redis.Redis, queue: CeleryQueue
) -> None:
    lookup_id = request(engine, cache, queue)
    cache.delete("lookups")  # the message was lost with a broker that kept nothing
    assert lookups.requeue_stale(engine, queue, NOW) == 0  # not stale yet
    assert lookups.requeue_stale(engine, queue, NOW + lookups.STALE_AFTER * 2) == 1
    assert cache.llen("lookups") == 1
    with engine.connect() as conn:
        row = access.get_lookup(conn, lookup_id)
    assert row is not None and row.status == "queued"


def test_a_lookup_registers_a_number_17track_does_not_track_yet(
    engine: Engine, cache: redis.Redis, queue: CeleryQueue, guards: Guards
) -> None:
    with SimServer({**scenario(), "registration": ["17track"]}) as sim:
        sim.clock.set(NOW)
        settings = Settings.from_env(sim.env())
        lookup_id = request(engine, cache, queue, source="17track")
        assert answer(engine, cache, settings, guards, lookup_id)
        assert sim.requests("17track") == 2  # gettrackinfo, then register
        assert sim.httpd.is_registered("17track", NUMBER)
    with engine.connect() as conn:
        row = access.get_lookup(conn, lookup_id)
    assert row is not None and row.report is not None
    assert row.report["status"] == "not_found"
    notes = [w["message"] for w in row.report["warnings"] if w["source"] == "17track"]
    assert any("registered now" in n for n in notes), notes
