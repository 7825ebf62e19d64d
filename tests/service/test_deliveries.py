"""Webhook deliveries in batches: one task sends several due deliveries, each still checked
against its expected attempt count and recorded as a single delivery is."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography.fernet import Fernet
from sqlalchemy.engine import Engine

from tests.store._helpers import NOW, add_order
from tracker import webhooks
from tracker.model import Alert, AlertType
from tracker.secretbox import SecretBox
from tracker.service import deliveries
from tracker.store import endpoints, outbox

KEY, OTHER = Fernet.generate_key().decode(), Fernet.generate_key().decode()
NO_KEY = SecretBox()


class _Receiver(BaseHTTPRequestHandler):
    hits: list[str] = []
    received: list[tuple[dict[str, str], bytes]] = []
    status = 204

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        type(self).hits.append(self.headers["webhook-id"])
        type(self).received.append((dict(self.headers.items()), body))
        self.send_response(self.status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[_Receiver]]]:
    handler = type("Receiver", (_Receiver,), {"hits": [], "received": [], "status": 204})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", handler
    server.shutdown()
    server.server_close()


def seed(engine: Engine, url: str, count: int, stored: str | None = None) -> list[int]:
    """`count` due deliveries to one endpoint whose secret is `stored` (a new plaintext one by
    default)."""
    alerts = [
        Alert(AlertType.ORDER_OVERDUE, f"A-1001:overdue:{i}", "A-1001", {"n": i})
        for i in range(count)
    ]
    with engine.begin() as conn:
        add_order(conn)
        endpoints.create_endpoint(conn, url, stored or webhooks.generate_secret(), now=NOW)
        ids = outbox.insert_alerts(conn, alerts, now=NOW)
        return outbox.create_deliveries_many(conn, ids, now=NOW)


def stored(engine: Engine, ids: list[int]) -> list[tuple[str, int]]:
    with engine.connect() as conn:
        return [(d.status, d.attempts) for d in outbox.get_deliveries(conn, ids)]


def test_a_batch_sends_what_is_due_at_its_count_and_records_each(
    engine: Engine, receiver: tuple[str, type[_Receiver]]
) -> None:
    url, handler = receiver
    ids = seed(engine, url, 4)
    items = [(ids[0], 0), (ids[1], 0), (ids[2], 1), (ids[3], 0)]  # ids[2]: a stale count
    outcomes = deliveries.deliver_batch(engine, items, lambda: NOW, allow_private=True, box=NO_KEY)
    assert [o.sent for o in outcomes] == [True, True, False, True]
    done = ("succeeded", 1)
    assert stored(engine, ids) == [done, done, ("pending", 0), done]
    assert len(handler.hits) == 3 == len(set(handler.hits))
    again = deliveries.deliver_batch(engine, items, lambda: NOW, allow_private=True, box=NO_KEY)
    assert not any(o.sent for o in again)  # a redelivered batch sends nothing twice
    with engine.connect() as conn:
        assert [len(outbox.attempts_of(conn, i)) for i in ids] == [1, 1, 0, 1]


def test_after_a_failure_the_rest_of_the_batch_waits_for_the_sweep(
    engine: Engine, receiver: tuple[str, type[_Receiver]]
) -> None:
    url, handler = receiver
    handler.status = 503
    ids = seed(engine, url, 3)
    outcomes = deliveries.deliver_batch(
        engine, [(i, 0) for i in ids], lambda: NOW, allow_private=True, box=NO_KEY
    )
    assert [o.sent for o in outcomes] == [True, False, False]
    assert stored(engine, ids) == [("pending", 1), ("pending", 0), ("pending", 0)]
    with engine.connect() as conn:
        endpoint = endpoints.list_endpoints(conn)[0]
    assert endpoint.failing_since == NOW and endpoint.enabled


def test_the_single_delivery_path_is_a_batch_of_one(
    engine: Engine, receiver: tuple[str, type[_Receiver]]
) -> None:
    url, handler = receiver
    (did,) = seed(engine, url, 1)
    outcome = deliveries.deliver(engine, did, 0, lambda: NOW, allow_private=True, box=NO_KEY)
    assert outcome.sent and outcome.step is webhooks.Step.SUCCEEDED
    assert not deliveries.deliver(engine, did, 0, lambda: NOW, allow_private=True, box=NO_KEY).sent
    assert stored(engine, [did]) == [("succeeded", 1)] and len(handler.hits) == 1


def test_the_sweep_hands_on_batches_per_endpoint(
    engine: Engine, receiver: tuple[str, type[_Receiver]]
) -> None:
    url, _ = receiver
    ids = seed(engine, url, 5)
    batches: list[list[tuple[int, int]]] = []
    assert deliveries.sweep(engine, NOW, batches.append, batch_size=2) == 5
    assert batches == [[(ids[0], 0), (ids[1], 0)], [(ids[2], 0), (ids[3], 0)], [(ids[4], 0)]]


# ----------------------------------------------------------------------------- secrets at rest


def test_a_delivery_signed_with_an_encrypted_secret_verifies_with_the_original(
    engine: Engine, receiver: tuple[str, type[_Receiver]]
) -> None:
    url, handler = receiver
    secret, box = webhooks.generate_secret(), SecretBox([KEY])
    (did,) = seed(engine, url, 1, box.seal(secret))
    outcome = deliveries.deliver(engine, did, 0, lambda: NOW, allow_private=True, box=box)
    assert outcome.step is webhooks.Step.SUCCEEDED
    headers, body = handler.received[0]
    assert webhooks.verify(secret, headers, body, NOW.timestamp())


def test_a_plaintext_secret_stored_before_the_key_still_signs(
    engine: Engine, receiver: tuple[str, type[_Receiver]]
) -> None:
    url, handler = receiver
    secret = webhooks.generate_secret()
    (did,) = seed(engine, url, 1, secret)
    box = SecretBox([KEY])
    assert deliveries.deliver(engine, did, 0, lambda: NOW, True, box=box).sent
    headers, body = handler.received[0]
    assert webhooks.verify(secret, headers, body, NOW.timestamp())


@pytest.mark.parametrize(
    ("box", "problem"),
    [
        (NO_KEY, "webhook secret is encrypted but TRACKER_SECRET_KEY is not set"),
        (SecretBox([KEY]), "webhook secret is encrypted but TRACKER_SECRET_KEY does not match"),
    ],
    ids=["no-key", "wrong-key"],
)
def test_a_secret_no_key_opens_is_recorded_and_retried_never_sent_unsigned(
    engine: Engine, receiver: tuple[str, type[_Receiver]], box: SecretBox, problem: str
) -> None:
    url, handler = receiver
    secret = webhooks.generate_secret()
    ids = seed(engine, url, 2, SecretBox([OTHER]).seal(secret))
    outcomes = deliveries.deliver_batch(engine, [(i, 0) for i in ids], lambda: NOW, True, box=box)
    assert handler.hits == []  # nothing went out, signed or not
    assert not outcomes[0].sent and outcomes[0].step is webhooks.Step.RETRY
    assert stored(engine, ids) == [("pending", 1), ("pending", 0)]  # the rest wait their turn
    with engine.connect() as conn:
        (attempt,) = outbox.attempts_of(conn, ids[0])
        (delivery,) = outbox.get_deliveries(conn, [ids[0]])
        (endpoint,) = endpoints.list_endpoints(conn)
    assert attempt["error"].startswith(f"endpoint {endpoint.id}: {problem}")
    assert attempt["status_code"] is None and secret not in attempt["error"]
    assert delivery.next_attempt_at is not None and delivery.next_attempt_at > NOW
    assert endpoint.enabled and endpoint.failing_since is None  # not the endpoint's fault
    # the key that sealed it comes back: the same delivery goes out at its next attempt, signed
    fixed = SecretBox([KEY, OTHER])
    later = deliveries.deliver(engine, ids[0], 1, lambda: NOW, True, box=fixed)
    assert later.step is webhooks.Step.SUCCEEDED
    headers, body = handler.received[0]
    assert webhooks.verify(secret, headers, body, NOW.timestamp())


# ----------------------------------------------------------------------------- rotation (WH-4)


def test_during_a_rotations_overlap_receivers_with_either_secret_verify(
    engine: Engine, receiver: tuple[str, type[_Receiver]]
) -> None:
    """reliability.md WH-4: during the overlap, a receiver holding only the old secret and one
    holding only the new one both verify; after it, only the new one does."""
    from datetime import timedelta

    from tracker.service import secrets

    url, handler = receiver
    old, box = webhooks.generate_secret(), SecretBox([KEY])
    first, second = seed(engine, url, 2, box.seal(old))
    with engine.connect() as conn:
        endpoint_id = endpoints.list_endpoints(conn)[0].id
    new = secrets.rotate(engine, box, endpoint_id, NOW, overlap=timedelta(hours=24))
    assert new != old and new.startswith("whsec_")
    during = NOW + timedelta(hours=23)
    assert deliveries.deliver(engine, first, 0, lambda: during, True, box=box).sent
    headers, body = handler.received[-1]
    assert len(headers["webhook-signature"].split()) == 2
    for holder in (old, new):
        assert webhooks.verify(holder, headers, body, during.timestamp())
    assert not webhooks.verify(webhooks.generate_secret(), headers, body, during.timestamp())
    after = NOW + timedelta(hours=24)
    assert deliveries.deliver(engine, second, 0, lambda: after, True, box=box).sent
    headers, body = handler.received[-1]
    assert webhooks.verify(new, headers, body, after.timestamp())
    assert not webhooks.verify(old, headers, body, after.timestamp())
    with engine.connect() as conn:
        row = endpoints.get_endpoint(conn, endpoint_id)
    assert row is not None and row.previous_secret is not None
    assert box.open(row.secret, endpoint_id) == new  # both sealed at rest
    assert box.open(row.previous_secret, endpoint_id) == old


def test_a_rotation_refuses_a_bad_secret_an_unknown_endpoint_or_a_long_overlap(
    engine: Engine, receiver: tuple[str, type[_Receiver]]
) -> None:
    from datetime import timedelta

    from tracker.errors import NotFoundError, ValidationError
    from tracker.service import secrets

    url, _ = receiver
    current = webhooks.generate_secret()
    seed(engine, url, 1, current)
    with engine.connect() as conn:
        endpoint_id = endpoints.list_endpoints(conn)[0].id
    with pytest.raises(NotFoundError):
        secrets.rotate(engine, NO_KEY, "ep_nope", NOW)
    with pytest.raises(ValidationError, match="secret"):
        secrets.rotate(engine, NO_KEY, endpoint_id, NOW, secret="not-a-secret")
    with pytest.raises(ValidationError, match="current secret"):
        secrets.rotate(engine, NO_KEY, endpoint_id, NOW, secret=current)
    with pytest.raises(ValidationError, match="overlap"):
        secrets.rotate(engine, NO_KEY, endpoint_id, NOW, overlap=timedelta(days=31))
    with engine.connect() as conn:
        row = endpoints.get_endpoint(conn, endpoint_id)
    assert row is not None and row.secret == current and row.previous_secret is None


# ----------------------------------------------------------------------------- recovery (WH-8)


def test_recover_sends_again_what_failed_since_and_lists_show_it(
    engine: Engine, receiver: tuple[str, type[_Receiver]]
) -> None:
    import sqlalchemy as sa

    from tracker.errors import NotFoundError
    from tracker.store.tables import webhook_deliveries

    url, _ = receiver
    ids = seed(engine, url, 4)
    stamps = [NOW - timedelta(days=d) for d in (3, 2, 1, 0)]
    with engine.begin() as conn:
        for did, stamp, status in zip(ids, stamps, ["failed", "failed", "succeeded", "failed"],
                                      strict=True):  # fmt: skip
            conn.execute(
                sa.update(webhook_deliveries).where(webhook_deliveries.c.id == did)
                .values(status=status, created_at=stamp, next_attempt_at=None, attempts=10)
            )  # fmt: skip
        endpoint_id = endpoints.list_endpoints(conn)[0].id
    failed, cursor = deliveries.listing(engine, status="failed", limit=2)
    assert [d["id"] for d in failed] == [ids[3], ids[1]] and cursor == ids[1]
    older, cursor = deliveries.listing(engine, status="failed", before_id=cursor, limit=2)
    assert [d["id"] for d in older] == [ids[0]] and cursor is None
    assert failed[0]["alert_type"] == "order.overdue"
    assert deliveries.recover(engine, endpoint_id, NOW - timedelta(days=2), NOW) == 2
    assert stored(engine, ids) == [("failed", 10), ("pending", 10), ("succeeded", 10),
                                   ("pending", 10)]  # fmt: skip
    assert deliveries.sweep(engine, NOW, lambda batch: None) == 2  # due now: the sweep sends
    with pytest.raises(NotFoundError):
        deliveries.recover(engine, "ep_nope", NOW, NOW)


def test_an_endpoint_failing_for_five_days_is_disabled_once_and_said_once(
    engine: Engine, receiver: tuple[str, type[_Receiver]], caplog: pytest.LogCaptureFixture
) -> None:
    """reliability.md WH-8 / WH-5: an always-failing endpoint is still enabled at day 4 and
    disabled at day 5, with exactly one notification; a delivery whose schedule runs out is
    said once."""
    url, handler = receiver
    handler.status = 500
    ids = seed(engine, url, 4)

    def send(did: int, at: datetime, attempts: int = 0) -> None:
        deliveries.deliver(engine, did, attempts, lambda: at, True, box=NO_KEY)

    def said(event: str) -> int:
        return sum(1 for r in caplog.records if getattr(r, "event", None) == event)

    with engine.connect() as conn:
        endpoint_id = endpoints.list_endpoints(conn)[0].id
    send(ids[0], NOW)
    send(ids[1], NOW + timedelta(days=4))
    with engine.connect() as conn:
        assert endpoints.get_endpoint(conn, endpoint_id).enabled  # type: ignore[union-attr]
    send(ids[2], NOW + timedelta(days=5, minutes=1))
    with engine.connect() as conn:
        row = endpoints.get_endpoint(conn, endpoint_id)
    assert (
        row is not None and not row.enabled and "every attempt failed" in str(row.disabled_reason)
    )
    send(ids[3], NOW + timedelta(days=5, minutes=2))  # disabled: nothing goes out, nothing said
    assert said("endpoint.disabled") == 1
    assert len(handler.hits) == 3


def test_a_delivery_whose_schedule_runs_out_is_said_once(
    engine: Engine, receiver: tuple[str, type[_Receiver]], caplog: pytest.LogCaptureFixture
) -> None:
    url, handler = receiver
    handler.status = 500
    (last,) = seed(engine, url, 1)
    with engine.begin() as conn:
        for _ in range(webhooks.MAX_ATTEMPTS - 1):
            outbox.record_attempt(conn, last, attempted_at=NOW, duration_ms=1, status="pending",
                                  status_code=500, next_attempt_at=NOW)  # fmt: skip
    at = NOW + timedelta(days=3)
    deliveries.deliver(engine, last, webhooks.MAX_ATTEMPTS - 1, lambda: at, True, box=NO_KEY)
    assert stored(engine, [last]) == [("failed", webhooks.MAX_ATTEMPTS)]
    exhausted = [
        r for r in caplog.records if getattr(r, "event", None) == "message.attempt.exhausted"
    ]
    assert len(exhausted) == 1 and exhausted[0].levelname == "ERROR"


def test_a_secret_no_key_opens_any_more_can_be_rotated_away(
    engine: Engine, receiver: tuple[str, type[_Receiver]]
) -> None:
    """The key that sealed a secret is lost: rotating gives the endpoint a secret that signs
    again, without deleting it (and its deliveries)."""
    from tracker.service import secrets

    url, handler = receiver
    (did,) = seed(engine, url, 1, SecretBox([OTHER]).seal(webhooks.generate_secret()))
    with engine.connect() as conn:
        endpoint_id = endpoints.list_endpoints(conn)[0].id
    box = SecretBox([KEY])
    new = secrets.rotate(engine, box, endpoint_id, NOW, overlap=timedelta(hours=24))
    assert deliveries.deliver(engine, did, 0, lambda: NOW, True, box=box).sent
    headers, body = handler.received[-1]
    assert webhooks.verify(new, headers, body, NOW.timestamp())
    assert len(headers["webhook-signature"].split()) == 1  # the unreadable one is not kept
    # and re-sealing under a new first key is not stopped by it
    later = SecretBox([Fernet.generate_key().decode(), KEY])
    assert secrets.encrypt_secrets(engine, later).reencrypted == [endpoint_id]
