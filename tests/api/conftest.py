"""API tests: the real app on both databases (the store's fixtures), real Redis (db 12, flushed
per test) and the real CeleryQueue publishing onto that Redis (nothing consumes it, so what a
request enqueued is still there to count)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from celery import Celery
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from tests import redis_server
from tests.store.conftest import engine, migrated_engine  # noqa: F401 - fixtures
from tracker.api import create_app
from tracker.settings import Secret, Settings, SourceSettings
from tracker.store import access
from workers.config import celery_config
from workers.queue import CeleryQueue

API_REDIS_URL = redis_server.url(12)
NOW = datetime(2026, 11, 12, 12, 0, tzinfo=UTC)
ENV_TOKEN = "env-token-for-tests-0123456789abcdef"
PUSH_KEYS = {"17track": "17track-test-key", "aftership": "aftership-test-secret"}


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": "sqlite:///unused.db",  # the engine fixture is passed in instead
        "redis_url": API_REDIS_URL,
        "api_tokens": (Secret(ENV_TOKEN),),
        "webhook_allow_private": True,
        "sources": {name: SourceSettings(key=Secret(key)) for name, key in PUSH_KEYS.items()},
        **overrides,
    }
    return Settings(**values)


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(API_REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def celery_queue() -> Iterator[CeleryQueue]:
    app = Celery("tracker-api-tests")
    app.conf.update(celery_config(make_settings()))
    yield CeleryQueue(app)
    app.close()


def make_client(db: Engine, queue: CeleryQueue, client: redis.Redis, **kwargs: Any) -> TestClient:
    settings = kwargs.pop("settings", make_settings())
    app = create_app(settings, queue, engine=db, redis=client, clock=lambda: NOW, **kwargs)
    return TestClient(app)


@pytest.fixture
def api(
    engine: Engine,  # noqa: F811 - the fixture
    celery_queue: CeleryQueue,
    redis_client: redis.Redis,
) -> Iterator[TestClient]:
    with make_client(engine, celery_queue, redis_client, rate_limit="10000/second") as client:
        yield client


@pytest.fixture
def token(engine: Engine) -> str:  # noqa: F811 - the fixture
    with engine.begin() as conn:
        _id, value = access.create_token(conn, "tests", now=NOW)
    return value


@pytest.fixture
def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
