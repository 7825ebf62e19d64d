"""Tokens, per-token rate limits, body caps, and object-level access to lookups."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from tests.api.conftest import ENV_TOKEN, NOW, make_client
from tracker.api import context
from tracker.store import access
from workers.queue import CeleryQueue

NUMBER = "LP00512345678901"


def test_no_token_bad_token_and_revoked_token_are_401(api: TestClient, engine: Engine) -> None:
    with engine.begin() as conn:
        token_id, revoked = access.create_token(conn, "old", now=NOW)
        access.revoke_token(conn, token_id, now=NOW)
    for headers in (
        {},
        {"Authorization": "Bearer nope"},
        {"Authorization": f"Bearer {revoked}"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ):
        response = api.get("/v1/orders", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"] == "Bearer"
        assert "detail" in response.json()


def test_a_revoked_token_is_refused_once_its_cached_check_expires(
    api: TestClient, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(context, "TOKEN_CACHE_SECONDS", 0.3)
    with engine.begin() as conn:
        token_id, token = access.create_token(conn, "soon revoked", now=NOW)
    headers = {"Authorization": f"Bearer {token}"}
    assert api.get("/v1/orders", headers=headers).status_code == 200
    with engine.begin() as conn:
        access.revoke_token(conn, token_id, now=NOW)
    assert api.get("/v1/orders", headers=headers).status_code == 200  # remembered, briefly
    time.sleep(0.35)
    assert api.get("/v1/orders", headers=headers).status_code == 401
    assert api.get("/v1/orders", headers=headers).status_code == 401  # refusals not cached


def test_tokens_from_the_environment_work(api: TestClient) -> None:
    response = api.get("/v1/orders", headers={"Authorization": f"Bearer {ENV_TOKEN}"})
    assert response.status_code == 200, response.text


def test_an_environment_token_row_cannot_authenticate_on_its_own(
    api: TestClient, engine: Engine
) -> None:
    api.get("/v1/orders", headers={"Authorization": f"Bearer {ENV_TOKEN}"})
    with engine.connect() as conn:
        assert access.verify_token(conn, ENV_TOKEN) is None  # its row is an owner, not a key


def test_health_and_metrics_need_no_token(api: TestClient) -> None:
    assert api.get("/healthz").status_code == 200
    assert api.get("/metrics").status_code == 200


def test_the_limit_plus_one_request_is_a_429_with_retry_after(
    engine: Engine, celery_queue: CeleryQueue, redis_client: redis.Redis, auth: dict[str, str]
) -> None:
    with make_client(engine, celery_queue, redis_client, rate_limit="5/minute") as client:
        codes = [client.get("/v1/alerts", headers=auth).status_code for _ in range(6)]
        assert codes == [200] * 5 + [429]
        limited = client.get("/v1/alerts", headers=auth)
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        # Another token has its own budget.
        other = {"Authorization": f"Bearer {ENV_TOKEN}"}
        assert client.get("/v1/alerts", headers=other).status_code == 200


def test_the_limit_is_shared_by_every_api_instance(
    engine: Engine, celery_queue: CeleryQueue, redis_client: redis.Redis, auth: dict[str, str]
) -> None:
    with (
        make_client(engine, celery_queue, redis_client, rate_limit="4/minute") as one,
        make_client(engine, celery_queue, redis_client, rate_limit="4/minute") as two,
    ):
        codes = [c.get("/v1/alerts", headers=auth).status_code for c in (one, two) * 3]
    assert sorted(codes) == [200] * 4 + [429] * 2


def test_bodies_over_16_kib_are_refused_outside_orders(
    api: TestClient, auth: dict[str, str], redis_client: redis.Redis
) -> None:
    big = {"tracking_number": NUMBER, "padding": "x" * 17 * 1024}
    response = api.post("/v1/lookups", json=big, headers=auth)
    assert response.status_code == 413
    assert redis_client.llen("lookups") == 0


def test_a_chunked_body_is_counted_as_it_streams(api: TestClient, auth: dict[str, str]) -> None:
    def chunks() -> object:
        for _ in range(20):
            yield b"x" * 1024

    response = api.post(
        "/v1/lookups",
        content=chunks(),  # type: ignore[arg-type]
        headers={**auth, "Content-Type": "application/json"},
    )
    assert response.status_code == 413


def test_a_lookup_is_queued_after_commit_and_readable_by_its_owner_only(
    api: TestClient, auth: dict[str, str], engine: Engine, redis_client: redis.Redis
) -> None:
    response = api.post("/v1/lookups", json={"tracking_number": NUMBER}, headers=auth)
    assert response.status_code == 202, response.text
    lookup_id = response.json()["id"]
    assert redis_client.llen("lookups") == 1
    mine = api.get(f"/v1/lookups/{lookup_id}", headers=auth)
    assert mine.status_code == 200
    assert mine.json()["status"] == "queued"
    assert mine.json()["tracking_number"] == NUMBER
    theirs = api.get(f"/v1/lookups/{lookup_id}", headers={"Authorization": f"Bearer {ENV_TOKEN}"})
    assert theirs.status_code == 404
    assert api.get("/v1/lookups/lk_unknown", headers=auth).status_code == 404


def test_waiting_returns_as_soon_as_the_answer_is_stored(
    api: TestClient, auth: dict[str, str], engine: Engine
) -> None:
    import threading
    import time

    lookup_id = api.post("/v1/lookups", json={"tracking_number": NUMBER}, headers=auth).json()["id"]

    def answer() -> None:
        time.sleep(0.5)
        with engine.begin() as conn:
            access.finish_lookup(conn, lookup_id, now=NOW, report={"status": "in_transit"})

    worker = threading.Thread(target=answer)
    worker.start()
    started = time.monotonic()
    response = api.get(f"/v1/lookups/{lookup_id}", params={"wait": 5}, headers=auth)
    took = time.monotonic() - started
    worker.join()
    assert response.status_code == 200
    assert response.json()["status"] == "done"
    assert response.json()["report"] == {"status": "in_transit"}
    assert 0.4 < took < 3


def test_wait_is_capped_at_ten_seconds(api: TestClient, auth: dict[str, str]) -> None:
    response = api.get("/v1/lookups/lk_x", params={"wait": 11}, headers=auth)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "wait"]


def test_bad_lookups_are_422_and_nothing_is_queued(
    api: TestClient, auth: dict[str, str], redis_client: redis.Redis
) -> None:
    for body, loc in (
        ({"tracking_number": "RB１２３４５６７８５GB"}, ["body", "tracking_number"]),
        ({"tracking_number": "X" * 41}, ["body", "tracking_number"]),
        ({"tracking_number": NUMBER, "source": "pigeon"}, ["body", "source"]),
        ({"tracking_number": 42}, ["body", "tracking_number"]),
        ({}, ["body", "tracking_number"]),
    ):
        response = api.post("/v1/lookups", json=body, headers=auth)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["detail"][0]["loc"] == loc, body
    assert redis_client.llen("lookups") == 0


def test_redis_down_on_enqueue_is_a_503_with_retry_after(
    engine: Engine, auth: dict[str, str], redis_client: redis.Redis
) -> None:
    from celery import Celery

    from tests.api.conftest import make_settings
    from workers.config import celery_config

    dead_url = "redis://127.0.0.1:1/0"
    settings = make_settings(redis_url=dead_url)
    app = Celery("dead")
    app.conf.update(celery_config(settings))
    dead = redis.Redis.from_url(dead_url, socket_connect_timeout=0.5)
    client = TestClient(
        __import__("tracker.api", fromlist=["create_app"]).create_app(
            make_settings(), CeleryQueue(app), engine=engine, redis=dead, clock=lambda: NOW
        )
    )
    started = datetime.now()
    response = client.post("/v1/lookups", json={"tracking_number": NUMBER}, headers=auth)
    assert response.status_code == 503
    assert response.headers["retry-after"]
    assert "redis" in response.json()["detail"]
    assert (datetime.now() - started).total_seconds() < 5
    app.close()
