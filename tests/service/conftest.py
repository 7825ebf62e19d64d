"""Service tests run on both databases (the store's fixtures) and real Redis."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from tests import redis_server
from tests.store.conftest import conn, engine, migrated_engine  # noqa: F401 - fixtures
from tracker.sources.base import RateLimit
from workers.guards import Guards

SERVICE_REDIS_URL = redis_server.url(13)


@pytest.fixture
def guards() -> Iterator[Guards]:
    redis.Redis.from_url(SERVICE_REDIS_URL).flushdb()
    limits = {s: RateLimit(1000, 1.0) for s in ("cainiao", "17track", "aftership", "usps", "dhl")}
    with Guards(SERVICE_REDIS_URL, limits, fail_max=3, reset_timeout=60) as g:
        yield g
    redis.Redis.from_url(SERVICE_REDIS_URL).flushdb()
