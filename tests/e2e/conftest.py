"""End-to-end fixtures: a migrated database, a dedicated Redis database, the environment a
worker needs to poll the simulator and post webhooks to loopback."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy.engine import Engine

from tests import redis_server
from tests.store.conftest import blank_database
from tracker.store.db import upgrade

E2E_REDIS_URL = redis_server.url(11)
START = (datetime.now(UTC) - timedelta(days=20)).replace(microsecond=0)
DE = {"country": "DE", "city": "Berlin", "postal_code": "10115"}
CN = {"country": "CN", "city": "Shenzhen"}
JOURNEY = [
    {"kind": "accepted", "at": 2},
    {"kind": "origin_facility", "at": 10},
    {"kind": "export_customs_cleared", "at": 30},
    {"kind": "departed_origin", "at": 40},
    {"kind": "arrived_destination", "at": 120},
    {"kind": "import_customs_released", "at": 140},
    {"kind": "out_for_delivery", "at": 200},
    {"kind": "delivered", "at": 210},
]


def parcel(number: str, **extra: Any) -> dict[str, Any]:
    return {
        "number": number,
        "sources": ["cainiao", "17track"],
        "origin": CN,
        "destination": DE,
        "journey": JOURNEY,
        **extra,
    }


def scenario(*parcels: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": "e2e", "start": START.isoformat(), "parcels": list(parcels), **extra}


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with blank_database(request.param, tmp_path) as engine:
        upgrade(engine)
        yield engine


@pytest.fixture
def pg(tmp_path: Path) -> Iterator[Engine]:
    """PostgreSQL only: for tests about workers and Redis, where one database is enough and
    production's (FOR UPDATE SKIP LOCKED claims) is the one to exercise."""
    with blank_database("postgresql", tmp_path) as engine:
        upgrade(engine)
        yield engine


@pytest.fixture
def broker() -> Iterator[str]:
    client = redis.Redis.from_url(E2E_REDIS_URL)
    client.flushdb()
    yield E2E_REDIS_URL
    client.flushdb()


def service_env(
    engine: Engine, redis_url: str, sim_env: dict[str, str], **extra: str
) -> dict[str, str]:
    env = {
        "TRACKER_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "TRACKER_REDIS_URL": redis_url,
        "TRACKER_SOURCES": "cainiao,17track",
        "TRACKER_17TRACK_KEY": "sim-key",
        "TRACKER_AFTERSHIP_KEY": "sim-key",
        "TRACKER_CAINIAO_RATE": "200/1",
        "TRACKER_17TRACK_RATE": "200/1",
        "TRACKER_WEBHOOK_ALLOW_PRIVATE": "1",
        "TRACKER_DEADLINE_SWEEP_SECONDS": "2",
        "TRACKER_VISIBILITY_TIMEOUT": "10",
        "TRACKER_LOG_FORMAT": "text",
        **sim_env,
    }
    env.update(extra)
    return env
