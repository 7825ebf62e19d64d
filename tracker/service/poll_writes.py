"""What re-analysing a batch of orders writes, gathered and sent in a handful of round trips.

A poll of ten orders used to issue about ten statements per order (events, results, report,
schedule, check time, alerts, deliveries); on a 2-core machine shared with PostgreSQL those
round trips, not the pipeline, were most of a poll's time. Here each kind of write is one
executemany (pipelined by psycopg) for the whole batch, inside the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from tracker import metrics
from tracker.model import Alert, DeliveryVerdict
from tracker.store import evidence, outbox
from tracker.store._sql import relax_commit
from tracker.store.orders import update_order_reports, update_parcels
from tracker.store.polling import set_next_checks


@dataclass(frozen=True)
class Written:
    """What a flush wrote: new events, the types of the new alerts, deliveries to enqueue."""

    new_events: int = 0
    alert_types: list[str] = field(default_factory=list)
    deliveries: list[tuple[int, int]] = field(default_factory=list)

    def count_alerts(self) -> None:
        """Count the new alerts by type; called once their transaction has committed."""
        for alert_type in self.alert_types:
            metrics.ALERTS.labels(type=alert_type).inc()


@dataclass
class PollWrites:
    events: list[dict[str, Any]] = field(default_factory=list)
    parcels: dict[int, dict[str, Any]] = field(default_factory=dict)  # id -> new values
    reports: list[dict[str, Any]] = field(default_factory=list)
    verdicts: list[tuple[str, DeliveryVerdict]] = field(default_factory=list)
    checks: dict[str, datetime | None] = field(default_factory=dict)
    alerts: list[Alert] = field(default_factory=list)

    def parcel(self, values: dict[str, Any]) -> None:
        """Merge new values of one parcel (results and schedule go out as one row)."""
        self.parcels.setdefault(values["id"], {}).update(values)

    def flush(self, conn: Connection, now: datetime) -> Written:
        """Write everything, inside the caller's transaction."""
        if not self.alerts:
            # Without alerts everything here is rebuilt by polling again (deterministic event
            # ids), so the commit need not wait for the disk. An alert's payload carries its
            # creation time: a lost one re-raised later would reuse its webhook-id with other
            # bytes, so those commits stay synchronous.
            relax_commit(conn)
        new_events = evidence.insert_events(conn, self.events, now=now)
        update_parcels(conn, list(self.parcels.values()))
        update_order_reports(conn, self.reports)
        evidence.record_verdicts(conn, self.verdicts, now=now)
        set_next_checks(conn, self.checks)
        new_alerts = outbox.insert_new_alerts(conn, self.alerts, now=now)
        deliveries = outbox.create_deliveries_many(conn, [i for i, _ in new_alerts], now=now)
        return Written(new_events, [t for _, t in new_alerts], [(d, 0) for d in deliveries])
