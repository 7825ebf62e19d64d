"""Closing the work of a dead-lettered task message, on both databases: nothing a sweep would
send again stays due (reliability.md CEL-3; the guard itself is tests/e2e/test_crash.py)."""

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


def test_a_dead_lettered_lookup_fails_and_is_not_queued_again(engine: Engine) -> None:
    with engine.begin() as conn:
        lookup_id = access.create_lookup(conn, "LP00512345678901", now=NOW - timedelta(minutes=5))
    assert dead_work.give_up(engine, "workers.tasks.lookup", [lookup_id], NOW)
    with engine.connect() as conn:
        row = access.get_lookup(conn, lookup_id)
    assert row is not None and row.status == "failed" and "dead-lettered" in str(row.error)

    class Queue:
        sent: list[str] = []

        def lookup(self, lookup_id: str) -> None:
            self.sent.append(lookup_id)

    queue = Queue()
    lookups.requeue_stale(engine, queue, NOW)  # type: ignore[arg-type]
    assert queue.sent == []


def test_a_dead_lettered_poll_counts_a_failure_and_waits(engine: Engine) -> None:
    with engine.begin() as conn:
        ids = add_order(conn)
    assert dead_work.give_up(engine, "workers.tasks.poll_batch", ["cainiao", ids], NOW)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(parcels.c.next_poll_at, parcels.c.poll_failures)).all()
    assert all(r.next_poll_at == NOW + dead_work.GIVE_UP_WAIT and r.poll_failures == 1
               for r in rows)  # fmt: skip


def test_a_dead_lettered_delivery_fails_unless_it_was_sent_meanwhile(engine: Engine) -> None:
    alerts = [Alert(AlertType.ORDER_OVERDUE, f"A-1001:o:{i}", "A-1001", {"n": i}) for i in (1, 2)]
    with engine.begin() as conn:
        add_order(conn)
        endpoints.create_endpoint(conn, "https://e.example/h", webhooks.generate_secret(), now=NOW)
        first, sent = outbox.create_deliveries_many(
            conn, outbox.insert_alerts(conn, alerts, now=NOW), now=NOW
        )
        outbox.record_attempt(conn, sent, attempted_at=NOW, duration_ms=3, status="succeeded",
                              status_code=204)  # fmt: skip
    closed = dead_work.give_up(engine, "workers.tasks.deliver_batch", [[[first, 0], [sent, 0]]],
                               NOW)  # fmt: skip
    assert closed == f"deliveries [{first}] failed"
    with engine.connect() as conn:
        assert [d.status for d in outbox.get_deliveries(conn, [first, sent])] == [
            "failed", "succeeded"]  # fmt: skip
        assert "dead-lettered" in str(outbox.attempts_of(conn, first)[-1]["error"])
    assert dead_work.give_up(engine, "workers.tasks.dispatch", [], NOW) is None
