"""Alerts, webhook endpoints, deliveries and attempts (the outbox), on both databases."""

from __future__ import annotations

import re

import orjson
import pytest
from sqlalchemy.engine import Connection

from tracker.model import Alert, AlertType
from tracker.store import repo
from tracker.store.outbox import EXCERPT_BYTES, excerpt
from tracker.store.tables import alerts, webhook_attempts, webhook_deliveries

from ._helpers import NOW, add_order, count_rows, minutes

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def alert(
    key: str = "A-1001:order.overdue:2026-11-10", type_: AlertType = AlertType.ORDER_OVERDUE
) -> Alert:
    return Alert(type=type_, key=key, order_id="A-1001", data={"promised_by": "2026-11-10"})


def test_alert_round_trip(conn: Connection) -> None:
    add_order(conn)
    (alert_id,) = repo.insert_alerts(conn, [alert()], now=NOW)
    assert repo.list_alerts(conn) == [
        repo.AlertRow(
            alert_id, "A-1001", "order.overdue", alert().key, {"promised_by": "2026-11-10"}, NOW
        )
    ]


def test_same_alert_key_twice_is_one_row(conn: Connection) -> None:
    add_order(conn)
    assert len(repo.insert_alerts(conn, [alert()], now=NOW)) == 1
    assert repo.insert_alerts(conn, [alert()], now=NOW + minutes(5)) == []
    other = alert("A-1001:delivery.suspect", AlertType.DELIVERY_SUSPECT)
    assert len(repo.insert_alerts(conn, [alert(), other, other], now=NOW)) == 1
    assert count_rows(conn, alerts) == 2


def test_list_alerts_pages_by_id(conn: Connection) -> None:
    add_order(conn)
    ids = repo.insert_alerts(conn, [alert(f"k{i}") for i in range(5)], now=NOW)
    assert [a.id for a in repo.list_alerts(conn, since_id=ids[1], limit=2)] == ids[2:4]
    assert repo.list_alerts(conn, since_id=ids[-1]) == []
    assert repo.list_alerts(conn, order_id="other") == []


def test_endpoint_crud(conn: Connection) -> None:
    ep = repo.create_endpoint(conn, "https://hooks.example/x", SECRET, ["order.overdue"], now=NOW)
    assert re.fullmatch(r"ep_[A-Za-z0-9]+", ep.id)
    assert repo.get_endpoint(conn, ep.id) == ep
    assert (ep.enabled, ep.types, ep.created_at) == (True, ["order.overdue"], NOW)
    repo.disable_endpoint(conn, ep.id, "410 Gone")
    assert repo.list_endpoints(conn, enabled_only=True) == []
    disabled = repo.get_endpoint(conn, ep.id)
    assert disabled is not None and disabled.disabled_reason == "410 Gone"
    repo.enable_endpoint(conn, ep.id)
    assert repo.list_endpoints(conn, enabled_only=True) == [ep]
    assert repo.delete_endpoint(conn, ep.id) is True
    assert repo.delete_endpoint(conn, ep.id) is False
    assert repo.get_endpoint(conn, ep.id) is None


def test_failing_since_keeps_the_first_failure(conn: Connection) -> None:
    ep = repo.create_endpoint(conn, "https://hooks.example/x", SECRET, now=NOW)
    repo.set_failing_since(conn, ep.id, NOW)
    repo.set_failing_since(conn, ep.id, NOW + minutes(60))
    assert repo.get_endpoint(conn, ep.id).failing_since == NOW  # type: ignore[union-attr]
    repo.set_failing_since(conn, ep.id, None)
    assert repo.get_endpoint(conn, ep.id).failing_since is None  # type: ignore[union-attr]


def _setup_deliveries(conn: Connection) -> tuple[int, dict[str, str]]:
    add_order(conn)
    eps = {
        "all": repo.create_endpoint(conn, "https://a.example/", SECRET, now=NOW).id,
        "overdue": repo.create_endpoint(
            conn, "https://b.example/", SECRET, ["order.overdue"], now=NOW
        ).id,
        "other": repo.create_endpoint(
            conn, "https://c.example/", SECRET, ["delivery.suspect"], now=NOW
        ).id,
        "off": repo.create_endpoint(conn, "https://d.example/", SECRET, now=NOW).id,
    }
    repo.disable_endpoint(conn, eps["off"], "manual")
    (alert_id,) = repo.insert_alerts(conn, [alert()], now=NOW)
    return alert_id, eps


def test_deliveries_go_to_enabled_matching_endpoints_once(conn: Connection) -> None:
    alert_id, eps = _setup_deliveries(conn)
    ids = repo.create_deliveries(conn, alert_id, now=NOW)
    delivered_to = {repo.get_delivery(conn, i).endpoint_id for i in ids}  # type: ignore[union-attr]
    assert delivered_to == {eps["all"], eps["overdue"]}
    assert repo.create_deliveries(conn, alert_id, now=NOW + minutes(1)) == []
    assert count_rows(conn, webhook_deliveries) == 2


def test_delivery_row_payload_and_webhook_id(conn: Connection) -> None:
    alert_id, _ = _setup_deliveries(conn)
    first = repo.get_delivery(conn, repo.create_deliveries(conn, alert_id, now=NOW)[0])
    assert first is not None
    assert (first.status, first.attempts, first.next_attempt_at) == ("pending", 0, NOW)
    assert first.webhook_id == repo.webhook_id(alert().key, first.endpoint_id)
    assert re.fullmatch(r"msg_[a-z2-7]{26}", first.webhook_id)
    assert orjson.loads(first.payload) == {
        "type": "order.overdue",
        "timestamp": "2026-11-12T12:00:00Z",
        "data": {"order_id": "A-1001", "alert_key": alert().key, "promised_by": "2026-11-10"},
    }


def test_webhook_id_is_deterministic_and_distinct() -> None:
    assert repo.webhook_id("k", "ep_1") == repo.webhook_id("k", "ep_1")
    assert repo.webhook_id("k", "ep_1") != repo.webhook_id("k", "ep_2")
    assert repo.webhook_id("k1", "ep_") != repo.webhook_id("k", "1ep_")


def test_claim_due_deliveries(conn: Connection) -> None:
    alert_id, _ = _setup_deliveries(conn)
    ids = repo.create_deliveries(conn, alert_id, now=NOW)
    assert repo.claim_due_deliveries(conn, NOW - minutes(1), 10) == []
    claimed = repo.claim_due_deliveries(conn, NOW, 10, lease=minutes(2))
    assert [d.id for d in claimed] == sorted(ids)
    assert {d.next_attempt_at for d in claimed} == {NOW + minutes(2)}
    assert repo.claim_due_deliveries(conn, NOW + minutes(1), 10) == []


def test_attempts_move_the_delivery_on(conn: Connection) -> None:
    alert_id, _ = _setup_deliveries(conn)
    did = repo.create_deliveries(conn, alert_id, now=NOW)[0]
    retry_at = NOW + minutes(5)
    repo.record_attempt(
        conn,
        did,
        attempted_at=NOW,
        duration_ms=120,
        status="pending",
        next_attempt_at=retry_at,
        status_code=500,
        response="oops",
    )
    pending = repo.get_delivery(conn, did)
    assert pending is not None
    assert (
        pending.status,
        pending.attempts,
        pending.next_attempt_at,
        pending.last_status_code,
    ) == ("pending", 1, retry_at, 500)
    assert repo.claim_due_deliveries(conn, retry_at, 10)[0].id == did
    repo.record_attempt(
        conn, did, attempted_at=retry_at, duration_ms=80, status="succeeded", status_code=204
    )
    done = repo.get_delivery(conn, did)
    assert done is not None
    assert (done.status, done.attempts, done.next_attempt_at) == ("succeeded", 2, None)
    later = repo.claim_due_deliveries(conn, retry_at + minutes(60), 10)
    assert later and did not in {d.id for d in later}  # the other endpoint's is still due


def test_a_finished_delivery_is_never_reopened(conn: Connection) -> None:
    # A redelivered task that sent again (same webhook-id) adds an attempt, nothing more.
    alert_id, _ = _setup_deliveries(conn)
    did = repo.create_deliveries(conn, alert_id, now=NOW)[0]
    repo.record_attempt(
        conn, did, attempted_at=NOW, duration_ms=5, status="succeeded", status_code=200
    )
    repo.record_attempt(
        conn,
        did,
        attempted_at=NOW,
        duration_ms=5,
        status="pending",
        next_attempt_at=NOW,
        error="timeout",
    )
    row = repo.get_delivery(conn, did)
    assert row is not None and (row.status, row.next_attempt_at, row.attempts) == (
        "succeeded",
        None,
        2,
    )
    assert count_rows(conn, webhook_attempts) == 2


def test_attempt_rows_keep_a_short_excerpt(conn: Connection) -> None:
    alert_id, _ = _setup_deliveries(conn)
    did = repo.create_deliveries(conn, alert_id, now=NOW)[0]
    repo.record_attempt(
        conn,
        did,
        attempted_at=NOW,
        duration_ms=15000,
        status="failed",
        error="read timeout",
        response="é" * 2000,
    )
    (attempt,) = repo.attempts_of(conn, did)
    assert len(attempt["response_excerpt"].encode()) == EXCERPT_BYTES
    assert (attempt["error"], attempt["status_code"], attempt["duration_ms"]) == (
        "read timeout",
        None,
        15000,
    )
    assert attempt["attempted_at"] == NOW


@pytest.mark.parametrize(
    ("response", "expected"),
    [(None, None), (b"\xff" + b"a" * 5, "aaaaa"), ("x" * 1500, "x" * EXCERPT_BYTES)],
)
def test_excerpt(response: str | bytes | None, expected: str | None) -> None:
    assert excerpt(response) == expected


def test_deleting_an_endpoint_removes_its_deliveries(conn: Connection) -> None:
    alert_id, eps = _setup_deliveries(conn)
    did = repo.create_deliveries(conn, alert_id, now=NOW)[0]
    repo.record_attempt(conn, did, attempted_at=NOW, duration_ms=1, status="failed")
    for endpoint_id in eps.values():
        repo.delete_endpoint(conn, endpoint_id)
    assert count_rows(conn, webhook_deliveries) == 0
    assert count_rows(conn, webhook_attempts) == 0
