"""The poison-message guard's count, in real Redis (the whole guard, with a worker killed by
its own task, is tests/e2e/test_crash.py)."""

from __future__ import annotations

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests import redis_server
from workers import poison

REDIS_URL = redis_server.url(14)


def test_deliveries_are_counted_per_message_for_a_day() -> None:
    client = redis.Redis.from_url(REDIS_URL)
    client.delete("tracker:deliveries:t-1", "tracker:deliveries:t-2")
    assert [poison.deliveries(client, "t-1") for _ in range(5)] == [1, 2, 3, 4, 5]
    assert poison.deliveries(client, "t-2") == 1
    assert 0 < client.ttl("tracker:deliveries:t-1") <= poison.COUNT_TTL_SECONDS
    assert [poison.is_poison(n) for n in (1, 4, 5)] == [False, False, True]
    poison.finished(client, "t-1")  # it ran to its end: the count starts over
    assert poison.deliveries(client, "t-1") == 1
    client.delete("tracker:deliveries:t-1", "tracker:deliveries:t-2")


def test_redis_out_of_reach_counts_as_a_first_delivery() -> None:
    unreachable = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2,
                              retry=Retry(NoBackoff(), 0))  # fmt: skip
    assert poison.deliveries(unreachable, "t-3") == 1
