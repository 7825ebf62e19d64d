"""Webhook endpoints, delivery replays, alerts, inbound pushes, /healthz and /metrics."""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from tests.api.conftest import NOW, PUSH_KEYS, make_client, make_settings
from tracker import webhooks
from tracker.model import Alert, AlertType, Destination, Order, Parcel
from tracker.secretbox import SecretBox
from tracker.settings import Secret
from tracker.store import endpoints, orders, outbox
from tracker.store.tables import observation_parcels, observations, webhook_endpoints
from workers.queue import CeleryQueue

PUSH = (
    Path(__file__).parents[1] / "fixtures" / "17track" / "api-v2.4-webhook-tracking-stopped.json"
).read_bytes()


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    _Receiver.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", _Receiver.received
    server.shutdown()
    server.server_close()


def test_webhook_lifecycle_create_list_test_delete(
    api: TestClient, auth: dict[str, str], receiver: tuple[str, list[Any]]
) -> None:
    url, received = receiver
    created = api.post("/v1/webhooks", json={"url": url, "types": ["order.overdue"]}, headers=auth)
    assert created.status_code == 201, created.text
    hook = created.json()
    assert hook["secret"].startswith("whsec_")
    assert hook["types"] == ["order.overdue"]
    listed = api.get("/v1/webhooks", headers=auth).json()["webhooks"]
    assert [h["id"] for h in listed] == [hook["id"]]
    assert "secret" not in listed[0]  # shown once, at creation
    assert listed[0]["secret_encrypted"] is False  # no TRACKER_SECRET_KEY here
    sent = api.post(f"/v1/webhooks/{hook['id']}/test", headers=auth)
    assert sent.status_code == 200, sent.text
    assert sent.json()["status_code"] == 204
    headers, body = received[0]
    assert b'"type":"test.ping"' in body
    assert webhooks.verify(hook["secret"], headers, body, NOW.timestamp())  # the app's clock
    assert api.delete(f"/v1/webhooks/{hook['id']}", headers=auth).status_code == 204
    assert api.delete(f"/v1/webhooks/{hook['id']}", headers=auth).status_code == 404
    assert api.post(f"/v1/webhooks/{hook['id']}/test", headers=auth).status_code == 404


def test_rotating_a_secret_signs_with_both_until_the_overlap_ends(
    api: TestClient, auth: dict[str, str], receiver: tuple[str, list[Any]]
) -> None:
    url, received = receiver
    hook = api.post("/v1/webhooks", json={"url": url}, headers=auth).json()
    path = f"/v1/webhooks/{hook['id']}/rotate-secret"
    rotated = api.post(path, json={"overlap_hours": 12}, headers=auth)
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["secret"]
    assert new.startswith("whsec_") and new != hook["secret"]
    assert rotated.json()["previous_until"].startswith("2026-")
    assert api.post(f"/v1/webhooks/{hook['id']}/test", headers=auth).json()["status_code"] == 204
    headers, body = received[-1]
    for holder in (hook["secret"], new):  # the receiver may hold either while it switches
        assert webhooks.verify(holder, headers, body, NOW.timestamp())
    assert "secret" not in api.get("/v1/webhooks", headers=auth).json()["webhooks"][0]
    bad = api.post(path, json={"secret": "plain"}, headers=auth)
    assert bad.status_code == 422 and "secret" in bad.text
    assert api.post(path, json={"overlap_hours": 721}, headers=auth).status_code == 422
    assert api.post("/v1/webhooks/ep_nope/rotate-secret", json={}, headers=auth).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://example.com/x"}, "url"),
        ({"url": "https://u:p@example.com/x"}, "url"),
        ({"url": "https://example.com/x", "secret": "plain"}, "secret"),
        ({"url": "https://example.com/x", "types": ["order.teleported"]}, "types"),
    ],
)
def test_bad_webhooks_are_422_and_nothing_is_stored(
    api: TestClient, auth: dict[str, str], engine: Engine, body: dict[str, Any], field: str
) -> None:
    response = api.post("/v1/webhooks", json=body, headers=auth)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][:2] == ["body", field]
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(webhook_endpoints)).scalar() == 0


def test_private_targets_are_refused_unless_allowed(
    engine: Engine, celery_queue: CeleryQueue, redis_client: redis.Redis, auth: dict[str, str]
) -> None:
    settings = make_settings(webhook_allow_private=False)
    with make_client(engine, celery_queue, redis_client, settings=settings) as client:
        response = client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/x"}, headers=auth)
    assert response.status_code == 422


def _alert(engine: Engine, endpoint: bool = True) -> tuple[int, list[int]]:
    order = Order("A-1", Destination("DE"), NOW, NOW.date(), parcels=(Parcel("LP00512345678901"),))
    with engine.begin() as conn:
        orders.upsert_order(conn, order, ["cainiao"], now=NOW)
        if endpoint:
            endpoints.create_endpoint(
                conn, "https://example.com/h", webhooks.generate_secret(), now=NOW
            )
        [alert_id] = outbox.insert_alerts(
            conn, [Alert(AlertType.ORDER_OVERDUE, "k-1", "A-1", {"x": 1})], now=NOW
        )
        return alert_id, outbox.create_deliveries(conn, alert_id, now=NOW)


def test_alerts_are_read_since_a_cursor(
    api: TestClient, auth: dict[str, str], engine: Engine
) -> None:
    alert_id, _ = _alert(engine, endpoint=False)
    page = api.get("/v1/alerts", headers=auth).json()
    assert [a["id"] for a in page["alerts"]] == [alert_id]
    assert page["alerts"][0]["type"] == "order.overdue"
    assert page["next_since"] == alert_id
    later = api.get("/v1/alerts", params={"since": page["next_since"]}, headers=auth).json()
    assert later == {"alerts": [], "next_since": alert_id}


def test_a_replay_reopens_the_delivery_and_queues_it(
    api: TestClient, auth: dict[str, str], engine: Engine, redis_client: redis.Redis
) -> None:
    _, [delivery_id] = _alert(engine)
    with engine.begin() as conn:
        outbox.record_attempt(
            conn, delivery_id, attempted_at=NOW, duration_ms=5, status="failed", status_code=500
        )
    response = api.post(f"/v1/deliveries/{delivery_id}/replay", headers=auth)
    assert response.status_code == 202, response.text
    assert response.json() == {"delivery_id": delivery_id, "attempts": 1}
    assert redis_client.llen("webhooks") == 1
    with engine.connect() as conn:
        delivery = outbox.get_delivery(conn, delivery_id)
    assert delivery is not None and delivery.status == "pending"
    assert api.post("/v1/deliveries/999999/replay", headers=auth).status_code == 404


def test_enable_turns_a_disabled_endpoint_back_on(
    api: TestClient, auth: dict[str, str], engine: Engine
) -> None:
    with engine.begin() as conn:
        row = endpoints.create_endpoint(
            conn, "https://example.com/h", webhooks.generate_secret(), now=NOW
        )
        endpoints.disable_endpoint(conn, row.id, "410 Gone")
    response = api.post(f"/v1/webhooks/{row.id}/enable", headers=auth)
    assert response.status_code == 200
    assert response.json()["enabled"] is True
    assert api.post("/v1/webhooks/ep_nope/enable", headers=auth).status_code == 404


def _sign_17track(body: bytes) -> str:
    return hashlib.sha256(body + b"/" + PUSH_KEYS["17track"].encode()).hexdigest()


def _count(engine: Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_a_signed_17track_push_is_stored_and_linked_to_its_parcel(
    api: TestClient, engine: Engine
) -> None:
    order = Order("A-1", Destination("BR"), NOW, NOW.date(), parcels=(Parcel("AA123456789BR"),))
    with engine.begin() as conn:
        orders.upsert_order(conn, order, ["17track"], now=NOW)
    response = api.post("/v1/inbound/17track", content=PUSH, headers={"sign": _sign_17track(PUSH)})
    assert response.status_code == 202, response.text
    assert response.json()["parcels"] == 1
    assert _count(engine, observations) == 1
    assert _count(engine, observation_parcels) == 1
    again = api.post("/v1/inbound/17track", content=PUSH, headers={"sign": _sign_17track(PUSH)})
    assert again.json()["observation_id"] == response.json()["observation_id"]
    assert _count(engine, observations) == 1  # the same body is kept once


def test_an_aftership_push_is_verified_with_its_hmac(api: TestClient, engine: Engine) -> None:
    body = b'{"msg": {"tracking_number": "1Z999AA10123456784"}}'
    digest = hmac.new(PUSH_KEYS["aftership"].encode(), body, hashlib.sha256).digest()
    good = {"aftership-hmac-sha256": base64.b64encode(digest).decode()}
    assert api.post("/v1/inbound/aftership", content=body, headers=good).status_code == 202
    assert _count(engine, observations) == 1


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"sign": "0" * 64},
        {"sign": _sign_17track(PUSH + b" ")},
    ],
)
def test_a_push_with_a_bad_signature_is_401_and_not_stored(
    api: TestClient, engine: Engine, headers: dict[str, str]
) -> None:
    response = api.post("/v1/inbound/17track", content=PUSH, headers=headers)
    assert response.status_code == 401
    assert _count(engine, observations) == 0


def test_pushes_from_sources_that_do_not_push_are_refused(api: TestClient) -> None:
    assert api.post("/v1/inbound/usps", content=b"{}").status_code == 422


def test_healthz_names_what_is_down(
    engine: Engine, celery_queue: CeleryQueue, redis_client: redis.Redis
) -> None:
    with make_client(engine, celery_queue, redis_client) as client:
        ok = client.get("/healthz")
    assert ok.status_code == 200
    assert ok.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}
    dead = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    with make_client(engine, celery_queue, dead) as client:
        down = client.get("/healthz")
    assert down.status_code == 503
    assert down.json()["checks"]["database"] == "ok"
    assert down.json()["checks"]["redis"].startswith("unavailable")


def test_metrics_show_queue_depths_read_from_redis(
    api: TestClient, auth: dict[str, str], redis_client: redis.Redis
) -> None:
    api.post("/v1/lookups", json={"tracking_number": "LP00512345678901"}, headers=auth)
    response = api.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert 'tracker_queue_depth{queue="lookups"} 1.0' in response.text
    assert "tracker_lookups_total" in response.text


# ----------------------------------------------------------------------------- secrets at rest


def test_with_a_key_the_secret_is_sealed_at_rest_and_shown_once(
    engine: Engine,
    celery_queue: CeleryQueue,
    redis_client: redis.Redis,
    auth: dict[str, str],
    receiver: tuple[str, list[Any]],
) -> None:
    url, received = receiver
    key = Fernet.generate_key().decode()
    settings = make_settings(secret_keys=(Secret(key),))
    with make_client(engine, celery_queue, redis_client, settings=settings) as client:
        hook = client.post("/v1/webhooks", json={"url": url}, headers=auth).json()
        listed = client.get("/v1/webhooks", headers=auth)
        sent = client.post(f"/v1/webhooks/{hook['id']}/test", headers=auth)
    assert hook["secret"].startswith("whsec_")
    with engine.connect() as conn:
        stored = conn.execute(sa.select(webhook_endpoints.c.secret)).scalar_one()
    assert stored.startswith("enc:v1:") and "whsec_" not in stored
    assert SecretBox([key]).open(stored, hook["id"]) == hook["secret"]
    assert "whsec_" not in listed.text and stored not in listed.text
    assert [h["secret_encrypted"] for h in listed.json()["webhooks"]] == [True]
    assert sent.json()["status_code"] == 204
    headers, body = received[0]
    assert webhooks.verify(hook["secret"], headers, body, NOW.timestamp())


def test_a_secret_the_key_cannot_open_is_a_500_naming_the_endpoint(
    engine: Engine,
    celery_queue: CeleryQueue,
    redis_client: redis.Redis,
    auth: dict[str, str],
    receiver: tuple[str, list[Any]],
) -> None:
    url, received = receiver
    sealed = SecretBox([Fernet.generate_key().decode()]).seal(webhooks.generate_secret())
    with engine.begin() as conn:
        row = endpoints.create_endpoint(conn, url, sealed, now=NOW)
    other = make_settings(secret_keys=(Secret(Fernet.generate_key().decode()),))
    for settings in (make_settings(), other):
        with make_client(engine, celery_queue, redis_client, settings=settings) as client:
            response = client.post(f"/v1/webhooks/{row.id}/test", headers=auth)
        assert response.status_code == 500
        detail = response.json()["detail"]
        assert detail.startswith(f"endpoint {row.id}: webhook secret is encrypted but ")
        assert "TRACKER_SECRET_KEY" in detail and "Traceback" not in response.text
    assert received == []  # never sent unsigned



@pytest.mark.postgres
def test_connections_the_database_dropped_are_one_503_then_the_api_recovers(
    celery_queue: CeleryQueue, redis_client: redis.Redis
) -> None:
    """What a PostgreSQL restart does to the API's pooled connections (the server ends every
    backend): the API pings none of them before use (`API_POOL_RECYCLE`), so the request that
    meets a dead one is a 503 with Retry-After naming the database, and the next request is
    served on fresh connections: no restart of the API, no 500."""
    from tests.api.conftest import ENV_TOKEN
    from tests.store.conftest import postgres_base_url, postgres_database
    from tracker.api import create_app
    from tracker.store.db import make_engine, upgrade

    auth = {"Authorization": f"Bearer {ENV_TOKEN}"}
    with postgres_database("tracker_api_restart") as url:
        migrate = make_engine(url)
        upgrade(migrate)
        migrate.dispose()
        settings = make_settings(database_url=url)  # the API makes its own engine and pool
        app = create_app(settings, celery_queue, redis=redis_client, clock=lambda: NOW)
        admin = sa.create_engine(postgres_base_url(), isolation_level="AUTOCOMMIT")
        try:
            with TestClient(app) as client:
                for _ in range(3):
                    assert client.get("/v1/orders", headers=auth).status_code == 200
                with admin.connect() as conn:
                    ended = conn.execute(
                        sa.text(
                            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                            "WHERE datname = :name AND pid <> pg_backend_pid()"
                        ),
                        {"name": sa.make_url(url).database},
                    ).scalar_one()
                assert ended >= 1  # the API's pooled connections
                dropped = client.get("/v1/orders", headers=auth)
                assert dropped.status_code == 503
                assert dropped.headers["retry-after"]
                assert dropped.json()["detail"].startswith("database is unavailable")
                again = [client.get("/v1/orders", headers=auth).status_code for _ in range(3)]
                assert again == [200, 200, 200]
        finally:
            admin.dispose()
            app.state.ctx.engine.dispose()


def test_deliveries_are_listed_and_an_endpoints_failures_recovered(
    api: TestClient, auth: dict[str, str], engine: Engine
) -> None:
    _, [delivery_id] = _alert(engine)
    with engine.begin() as conn:
        for _ in range(webhooks.MAX_ATTEMPTS):  # every attempt failed: the delivery failed
            outbox.record_attempt(conn, delivery_id, attempted_at=NOW, duration_ms=5,
                                  status="failed", status_code=500)  # fmt: skip
        endpoint_id = endpoints.list_endpoints(conn)[0].id
    listed = api.get("/v1/deliveries", params={"status": "failed"}, headers=auth)
    assert listed.status_code == 200, listed.text
    [row] = listed.json()["deliveries"]
    assert (row["id"], row["endpoint_id"], row["alert_type"]) == (delivery_id, endpoint_id,
                                                                  "order.overdue")  # fmt: skip
    assert (row["status"], row["last_status_code"], listed.json()["next_cursor"]) == (
        "failed", 500, None)  # fmt: skip
    assert api.get("/v1/deliveries", params={"status": "lost"}, headers=auth).status_code == 422
    path = f"/v1/webhooks/{endpoint_id}/recover"
    later = api.post(path, json={"since": "2099-01-01T00:00:00Z"}, headers=auth)
    assert later.status_code == 200 and later.json() == {"reopened": 0}
    done = api.post(path, json={"since": "2026-10-01T00:00:00+02:00"}, headers=auth)
    assert done.status_code == 200 and done.json() == {"reopened": 1}
    with engine.connect() as conn:
        delivery = outbox.get_delivery(conn, delivery_id)
    assert delivery is not None and delivery.status == "pending"
    naive = api.post(path, json={"since": "2026-10-01T00:00:00"}, headers=auth)
    assert naive.status_code == 422 and "since" in naive.text
    missing = api.post("/v1/webhooks/ep_nope/recover", json={"since": "2026-10-01T00:00:00Z"},
                       headers=auth)  # fmt: skip
    assert missing.status_code == 404
