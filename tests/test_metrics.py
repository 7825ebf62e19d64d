"""Prometheus metrics: counters from any process, queue depth and circuits read from Redis."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from tests import redis_server
from tracker import metrics

REDIS_URL = redis_server.url(9)
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    conn = redis.Redis.from_url(REDIS_URL)
    conn.flushdb()
    yield conn
    conn.flushdb()
    conn.close()


def samples(body: bytes) -> Samples:
    found = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_queue_depth_counts_every_priority_list(client: redis.Redis) -> None:
    client.rpush("polls", "a", "b")
    client.rpush("polls\x06\x163", "c")
    client.rpush("lookups", "d")
    body, content_type = metrics.render(client)
    found = samples(body)
    assert content_type.startswith("text/plain")
    assert found[("tracker_queue_depth", (("queue", "polls"),))] == 3
    assert found[("tracker_queue_depth", (("queue", "lookups"),))] == 1
    assert found[("tracker_queue_depth", (("queue", "webhooks"),))] == 0
    assert found[("tracker_queue_depth", (("queue", "celery"),))] == 0


def test_circuit_state_is_read_from_the_breaker_storage(client: redis.Redis) -> None:
    client.set("tracker:breaker:cainiao:pybreaker:state", "open")
    client.set("tracker:breaker:usps:pybreaker:state", "half-open")
    client.set("tracker:breaker:17track:pybreaker:state", "closed")
    found = samples(metrics.render(client)[0])
    assert found[("tracker_circuit_open", (("source", "cainiao"),))] == 1
    assert found[("tracker_circuit_open", (("source", "usps"),))] == 0.5
    assert found[("tracker_circuit_open", (("source", "17track"),))] == 0
    assert found[("tracker_circuit_open", (("source", "dhl"),))] == 0  # never used: closed


def test_circuit_gauge_follows_the_guards_real_breaker(client: redis.Redis) -> None:
    from tracker.errors import CircuitOpen, SourceUnavailable
    from tracker.sources.base import RateLimit
    from workers.guards import Guards

    def failing() -> None:
        raise SourceUnavailable("cainiao", "down")

    with Guards(REDIS_URL, {"cainiao": RateLimit(100, 1)}, fail_max=2) as guards:
        with pytest.raises(SourceUnavailable):
            guards["cainiao"].call(failing)
        with pytest.raises((SourceUnavailable, CircuitOpen)):
            guards["cainiao"].call(failing)
        with pytest.raises(CircuitOpen):
            guards["cainiao"].call(failing)
    found = samples(metrics.render(client)[0])
    assert found[("tracker_circuit_open", (("source", "cainiao"),))] == 1


def test_unreachable_redis_leaves_the_redis_families_empty_and_the_scrape_whole() -> None:
    dead = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    found = samples(metrics.render(dead)[0])
    assert not any(name in ("tracker_queue_depth", "tracker_circuit_open") for name, _ in found)


def test_recorded_events_show_in_this_process_without_multiprocess_mode() -> None:
    assert not os.environ.get(metrics.MULTIPROC_ENV)
    key = ("tracker_polls_total", (("outcome", "ok"), ("source", "usps")))
    before = samples(metrics.render(None)[0])
    metrics.poll_done("usps", "ok", 0.3)
    metrics.webhook_attempted("succeeded", 0.02)
    found = samples(metrics.render(None)[0])
    assert found[key] == before.get(key, 0) + 1
    assert found[("tracker_poll_seconds_count", (("source", "usps"),))] >= 1
    assert found[("tracker_webhook_deliveries_total", (("result", "succeeded"),))] >= 1
    assert found[("tracker_webhook_latency_seconds_count", ())] >= 1


RECORD = "from tracker import metrics; metrics.poll_done('cainiao', 'ok', 0.1)"
SCRAPE = (
    "import sys; from tracker import metrics; sys.stdout.write(metrics.render(None)[0].decode())"
)


def test_multiprocess_mode_sums_what_separate_processes_counted(tmp_path: Path) -> None:
    env = {**os.environ, metrics.MULTIPROC_ENV: str(tmp_path)}
    for _ in range(3):
        subprocess.run([sys.executable, "-c", RECORD], env=env, check=True, timeout=60)
    scrape = subprocess.run(
        [sys.executable, "-c", SCRAPE], env=env, check=True, timeout=60, capture_output=True
    )
    found = samples(scrape.stdout)
    assert found[("tracker_polls_total", (("outcome", "ok"), ("source", "cainiao")))] == 3
    assert found[("tracker_poll_seconds_count", (("source", "cainiao"),))] == 3
