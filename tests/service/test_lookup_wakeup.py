"""A reader waiting for a lookup wakes when the worker announces the answer, not on a timer."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy.engine import Engine

from tests.service import test_lookups as base
from tests.service.test_polling import NOW, scenario
from tracker.service import lookups
from tracker.settings import Settings
from tracker.sim.server import SimServer
from tracker.store import access
from workers.guards import Guards
from workers.queue import CeleryQueue

cache, queue = base.cache, base.queue  # their fixtures
answer, request = base.answer, base.request
SLOW_TIMER = 30.0  # re-reads so rare that only an announcement can explain a quick answer


def reader(engine: Engine, lookup_id: str) -> access.LookupRow | None:
    with engine.connect() as conn:
        return access.get_lookup(conn, lookup_id)


def wait_in_thread(
    cache: redis.Redis, engine: Engine, lookup_id: str, every: float, timeout: float
) -> tuple[threading.Thread, list[tuple[access.LookupRow | None, float]]]:
    got: list[tuple[access.LookupRow | None, float]] = []

    def wait() -> None:
        read = lambda: reader(engine, lookup_id)  # noqa: E731
        listener = lookups.Announcements(cache)
        row = lookups.await_answer(listener, lookup_id, read, time.monotonic() + timeout, every)
        got.append((row, time.monotonic()))

    thread = threading.Thread(target=wait)
    thread.start()
    return thread, got


def test_a_waiting_reader_wakes_when_the_worker_answers(
    engine: Engine, cache: redis.Redis, queue: CeleryQueue, guards: Guards
) -> None:
    with SimServer(scenario()) as sim:
        sim.clock.set(NOW)
        settings = Settings.from_env(sim.env())
        lookup_id = request(engine, cache, queue)
        thread, got = wait_in_thread(cache, engine, lookup_id, SLOW_TIMER, SLOW_TIMER)
        time.sleep(0.3)  # the reader has read "queued" and is listening
        assert thread.is_alive()
        assert answer(engine, cache, settings, guards, lookup_id)
        answered = time.monotonic()
        thread.join(10)
    assert not thread.is_alive()
    row, woke = got[0]
    assert row is not None and row.status == "done"
    assert woke - answered < 2.0


def test_an_unannounced_answer_is_still_read_on_the_timer(
    engine: Engine, cache: redis.Redis, queue: CeleryQueue
) -> None:
    lookup_id = request(engine, cache, queue)
    thread, got = wait_in_thread(cache, engine, lookup_id, 0.1, 10.0)
    time.sleep(0.3)
    with engine.begin() as conn:
        access.finish_lookup(conn, lookup_id, now=NOW, error="stored by hand")
    thread.join(10)
    row, _ = got[0]
    assert row is not None and row.status == "failed"


def test_without_an_answer_the_reader_gives_up_at_the_deadline(
    engine: Engine, cache: redis.Redis, queue: CeleryQueue
) -> None:
    lookup_id = request(engine, cache, queue)
    started = time.monotonic()
    row = lookups.await_answer(
        lookups.Announcements(cache),
        lookup_id,
        lambda: reader(engine, lookup_id),
        started + 0.5,
        0.1,
    )
    assert row is not None and row.status == "queued"
    assert 0.5 <= time.monotonic() - started < 2.0


@pytest.mark.parametrize("status", ["unknown id", "already answered"])
def test_nothing_to_wait_for_returns_at_once(
    engine: Engine, cache: redis.Redis, queue: CeleryQueue, status: str
) -> None:
    lookup_id = "lk_unknown" if status == "unknown id" else request(engine, cache, queue)
    if status == "already answered":
        with engine.begin() as conn:
            access.finish_lookup(conn, lookup_id, now=NOW, report={"status": "delivered"})
    started = time.monotonic()
    row = lookups.await_answer(
        lookups.Announcements(cache),
        lookup_id,
        lambda: reader(engine, lookup_id),
        started + 5,
        SLOW_TIMER,
    )
    assert time.monotonic() - started < 1.0
    assert (row is None) == (status == "unknown id")


def test_a_redis_failure_falls_back_to_the_timer(
    engine: Engine, queue: CeleryQueue, cache: redis.Redis
) -> None:
    lookup_id = request(engine, cache, queue)
    with engine.begin() as conn:
        access.finish_lookup(conn, lookup_id, now=NOW, report={"status": "delivered"})
    calls = iter([None, None])  # queued on the first read, then answered
    dead = redis.Redis(host="127.0.0.1", port=1, retry=Retry(NoBackoff(), 0))

    def read() -> access.LookupRow | None:
        row = reader(engine, lookup_id)
        if next(calls, "done") is None and row is not None:
            return dataclasses.replace(row, status="queued")
        return row

    row = lookups.await_answer(
        lookups.Announcements(dead), lookup_id, read, time.monotonic() + 5, 0.05
    )
    assert row is not None and row.status == "done"


def test_one_listener_wakes_every_reader_of_a_lookup(
    engine: Engine, cache: redis.Redis, queue: CeleryQueue
) -> None:
    lookup_id, other = request(engine, cache, queue), request(engine, cache, queue)
    listener = lookups.Announcements(cache)
    got: list[str] = []

    def wait(which: str) -> None:
        read = lambda: reader(engine, which)  # noqa: E731
        row = lookups.await_answer(listener, which, read, time.monotonic() + 20, SLOW_TIMER)
        got.append(row.status if row is not None else "missing")

    threads = [threading.Thread(target=wait, args=(i,)) for i in (lookup_id, lookup_id, other)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)  # every reader is watching, the listener subscribed
    with engine.begin() as conn:
        access.finish_lookup(conn, lookup_id, now=NOW, report={"status": "delivered"})
    lookups._announce(cache, lookup_id)
    for thread in threads[:2]:
        thread.join(5)
    assert got == ["done", "done"]
    assert threads[2].is_alive()  # the other lookup's reader was not woken
    with engine.begin() as conn:
        access.finish_lookup(conn, other, now=NOW, report={"status": "delivered"})
    lookups._announce(cache, other)
    threads[2].join(5)
    assert got == ["done", "done", "done"]
