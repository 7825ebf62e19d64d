"""Closing the work of a dead-lettered task message, on both databases: nothing a sweep would
send again stays due, and nothing moved on since the message is touched (reliability.md CEL-3;
the guard itself is tests/e2e/test_crash.py)."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tests.store._helpers import NOW, add_order
from tracker import webhooks
from tracker.model import Alert, AlertType
from tracker.service import dead_work, lookups
from tracker.store import access, endpoints, outbox
from tracker.store.tables import parcels


def give_up(engine: Engine, task: str, *args: object) -> str | None:
    with engine.begin() as conn:
        return dead_work.give_up(conn, f"workers.tasks.{task}", list(args), NOW)


def test_a_dead_lettered_lookup_fails_and_is_not_queued_again(engine: Engine) -> None:
    with engine.begin() as conn:
        lookup_id = access.create_lookup(conn, "LP00512345678901", now=NOW - timedelta(minutes=5))
        answered = access.create_lookup(conn, "LP00512345678902", now=NOW - timedelta(minutes=5))
        access.finish_lookup(conn, answered, now=NOW, report={"status": "delivered"})
    assert give_up(engine, "lookup", lookup_id)
    assert give_up(engine, "lookup", answered) is None  # answered meanwhile: left as it is
    with engine.connect() as conn:
        row = access.get_lookup(conn, lookup_id)
        done = access.get_lookup(conn, answered)
    assert row is not None and row.status == "failed" and "dead-lettered" in str(row.error)
    assert done is not None and done.status == "done"

    class Queue:
        sent: list[str] = []

        def lookup(self, lookup_id: str) -> None:
            self.sent.append(lookup_id)

    queue = Queue()
    lookups.requeue_stale(engine, queue, NOW)  # type: ignore[arg-type]
    assert queue.sent == []


def test_a_dead_lettered_poll_delays_only_parcels_still_due_sooner(engine: Engine) -> None:
    with engine.begin() as conn:
        due, stopped, later = add_order(conn, "A-1", "LP1", "LP2", "LP3")
        for parcel_id, when in ((due, NOW), (stopped, None), (later, NOW + timedelta(days=1))):
            conn.execute(sa.update(parcels).where(parcels.c.id == parcel_id)
                         .values(next_poll_at=when))  # fmt: skip
    assert give_up(engine, "poll_batch", "cainiao", [due, stopped, later]) is not None
    with engine.connect() as conn:
        rows = dict(conn.execute(sa.select(parcels.c.id, parcels.c.next_poll_at)).all())
    assert rows == {due: NOW + dead_work.GIVE_UP_WAIT, stopped: None,
                    later: NOW + timedelta(days=1)}  # fmt: skip


def test_a_dead_lettered_delivery_fails_unless_it_moved_on_since(engine: Engine) -> None:
    alerts = [Alert(AlertType.ORDER_OVERDUE, f"A-1001:o:{i}", "A-1001", {"n": i}) for i in (1, 2)]
    with engine.begin() as conn:
        add_order(conn)
        endpoints.create_endpoint(conn, "https://e.example/h", webhooks.generate_secret(), now=NOW)
        first, tried = outbox.create_deliveries_many(
            conn, outbox.insert_alerts(conn, alerts, now=NOW), now=NOW
        )
        outbox.record_attempt(conn, tried, attempted_at=NOW, duration_ms=3, status="pending",
                              status_code=503, next_attempt_at=NOW)  # fmt: skip
    # the message carried attempt count 0 for both; `tried` has had an attempt since
    assert give_up(engine, "deliver_batch", [[first, 0], [tried, 0]]) == (
        f"deliveries [{first}] failed")  # fmt: skip
    with engine.connect() as conn:
        assert [d.status for d in outbox.get_deliveries(conn, [first, tried])] == [
            "failed", "pending"]  # fmt: skip
        assert "dead-lettered" in str(outbox.attempts_of(conn, first)[-1]["error"])
    assert give_up(engine, "dispatch") is None
