"""Source guards against a real Redis, shared by several real processes."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from tests import redis_server
from tracker.errors import CircuitOpen, RateLimited, SourceRequestRejected, SourceUnavailable
from tracker.sources.base import RateLimit
from workers.guards import Guards

REDIS_URL = redis_server.url(14)
LIMITS = {
    "cainiao": RateLimit(10, 1.0),
    "17track": RateLimit(3, 1.0),
    "dhl": (RateLimit(5, 60.0), RateLimit(3, 1.0)),  # like DHL's day and second, shortened
}


@pytest.fixture
def guards() -> Iterator[Guards]:
    redis.Redis.from_url(REDIS_URL).flushdb()
    with Guards(REDIS_URL, LIMITS, fail_max=3, reset_timeout=1) as g:
        yield g
    redis.Redis.from_url(REDIS_URL).flushdb()


def _hammer(ready: Any, go: Any, seconds: float, results: Any) -> None:
    with Guards(REDIS_URL, LIMITS) as g:
        admitted = 0
        ready.put(1)
        go.wait(60)  # start together, however long each process took to import
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            if g["cainiao"].wait_time() == 0:
                admitted += 1
        results.put(admitted)


def test_the_rate_limit_holds_across_processes(guards: Guards) -> None:
    context = multiprocessing.get_context("spawn")
    ready, results, go = context.Queue(), context.Queue(), context.Event()
    workers = [context.Process(target=_hammer, args=(ready, go, 0.9, results)) for _ in range(4)]
    for w in workers:
        w.start()
    for _ in workers:
        ready.get(timeout=60)
    go.set()
    admitted = [results.get(timeout=30) for _ in workers]
    for w in workers:
        w.join(10)
    assert sum(admitted) == 10, admitted


def test_denied_call_says_how_long_to_wait(guards: Guards) -> None:
    for _ in range(3):
        assert guards["17track"].wait_time() == 0
    wait = guards["17track"].wait_time()
    assert 0 < wait <= 1.0


def test_a_task_of_several_calls_takes_a_slot_per_call(guards: Guards) -> None:
    guard = guards["17track"]  # 3 calls a second
    assert guard.wait_time(2) == 0  # two calls granted together
    assert guard.wait_time(2) > 0  # one slot left: two calls must wait
    assert guard.wait_time(1) == 0  # one still may go
    assert guard.wait_time() > 0
    time.sleep(1.1)
    # more calls than the window holds take the whole window rather than wait for ever
    assert guard.wait_time(5) == 0 and guard.wait_time(1) > 0


def test_every_window_of_a_quota_must_grant(guards: Guards) -> None:
    guard = guards["dhl"]  # 3 calls a second and 5 a minute
    assert [guard.wait_time() for _ in range(3)] == [0, 0, 0]
    assert 0 < guard.wait_time() <= 1.0  # the second's window refuses
    time.sleep(1.1)
    assert guard.wait_time(2) == 0  # 5 calls this minute: the minute's window is full
    wait = guard.wait_time()
    assert 55 < wait <= 60  # refused by the minute's window: wait for its oldest call to age
    time.sleep(1.1)
    assert guard.wait_time() > 55  # a second later, still the minute's window
    guards.reset("dhl")  # an operator's reset clears every window
    assert guard.wait_time() == 0


def test_windows_of_the_same_length_in_whole_seconds_keep_the_tighter() -> None:
    redis.Redis.from_url(REDIS_URL).flushdb()
    quota = (RateLimit(2, 1.0), RateLimit(1, 1.4), RateLimit(9, 60.0))  # 1 s and 1.4 s: one key
    with Guards(REDIS_URL, {"dhl": quota}) as g:
        assert g["dhl"].limits == (RateLimit(1, 1.4), RateLimit(9, 60.0))
        assert g["dhl"].wait_time() == 0  # two windows on one key would never grant
        assert g["dhl"].wait_time() > 0
    redis.Redis.from_url(REDIS_URL).flushdb()


def test_429_sets_a_cooldown_every_worker_sees(guards: Guards) -> None:
    def limited() -> None:
        raise RateLimited("cainiao", "HTTP 429", retry_after=3)

    with pytest.raises(RateLimited):
        guards["cainiao"].call(limited)
    with Guards(REDIS_URL, LIMITS) as other_worker:
        wait = other_worker["cainiao"].wait_time()
    assert 2.5 < wait <= 3.0


def test_breaker_opens_after_transient_failures_and_recovers(guards: Guards) -> None:
    calls: list[str] = []

    def failing() -> None:
        calls.append("x")
        raise SourceUnavailable("cainiao", "HTTP 503")

    for _ in range(2):
        with pytest.raises(SourceUnavailable):
            guards["cainiao"].call(failing)
    with pytest.raises(CircuitOpen):
        guards["cainiao"].call(failing)  # the third failure trips it
    with (
        Guards(REDIS_URL, LIMITS, fail_max=3, reset_timeout=1) as other_worker,
        pytest.raises(CircuitOpen),
    ):
        other_worker["cainiao"].call(failing)  # open for everyone: the source sees no call
    assert len(calls) == 3
    time.sleep(1.1)
    assert guards["cainiao"].call(lambda: "ok") == "ok"  # half-open probe succeeds, closes


def test_business_errors_do_not_open_the_breaker(guards: Guards) -> None:
    def rejected() -> None:
        raise SourceRequestRejected("cainiao", "HTTP 400", 400)

    for _ in range(6):
        with pytest.raises(SourceRequestRejected):
            guards["cainiao"].call(rejected)
    assert guards["cainiao"].call(lambda: 1) == 1
