"""Webhook deliveries: sign, send outside any transaction, record the try.

Every path that hands a delivery to a worker says which attempt it expects (`attempts` as
stored when it was handed on); `deliver` sends only if the delivery is still pending at that
count. A task redelivered after its worker died mid-send may send that attempt again: the same
webhook-id and the same stored bytes, which consumers dedupe (Standard Webhooks). The sweeper
leases what is due, so a lost task is sent again once its lease runs out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.engine import Connection, Engine

from tracker import webhooks
from tracker.store import endpoints, outbox
from tracker.store._sql import relax_commit
from tracker.webhooks import Step

LEASE = timedelta(seconds=60)  # longer than one send can take (3 s connect + 15 s read)
SWEEP_LIMIT = 500

_STORED_STATUS: dict[Step, outbox.DeliveryStatus] = {
    Step.SUCCEEDED: "succeeded",
    Step.RETRY: "pending",
    Step.FAILED: "failed",
    Step.DISABLE_ENDPOINT: "failed",
}


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    delivery_id: int
    sent: bool
    status_code: int | None = None
    step: Step | None = None


def deliver(
    engine: Engine,
    delivery_id: int,
    attempts: int,
    now: Callable[[], datetime],
    allow_private: bool,
) -> DeliveryOutcome:
    """Send attempt number `attempts + 1` of a delivery, if it is still the one to send."""
    with engine.connect() as conn:
        delivery = outbox.get_delivery(conn, delivery_id)
        endpoint = endpoints.get_endpoint(conn, delivery.endpoint_id) if delivery else None
    if (
        delivery is None
        or endpoint is None
        or not endpoint.enabled
        or delivery.status != "pending"
        or delivery.attempts != attempts
    ):
        return DeliveryOutcome(delivery_id, sent=False)
    body = delivery.payload.encode()
    started = now()
    headers = webhooks.headers(endpoint.secret, delivery.webhook_id, int(started.timestamp()), body)
    result = webhooks.send(endpoint.url, headers, body, allow_private)
    step = webhooks.next_step(
        result.status_code, attempts + 1, now(), retry_after=result.retry_after
    )
    with engine.begin() as conn:
        relax_commit(conn)  # a lost record means one more send of the same id and bytes
        _record(conn, delivery, endpoint.failing_since, started, result, step)
    return DeliveryOutcome(delivery_id, True, result.status_code, step.step)


def _record(
    conn: Connection,
    delivery: outbox.DeliveryRow,
    failing_since: datetime | None,
    started: datetime,
    result: webhooks.AttemptResult,
    step: webhooks.Next,
) -> None:
    outbox.record_attempt(
        conn,
        delivery.id,
        attempted_at=started,
        duration_ms=result.duration_ms,
        status=_STORED_STATUS[step.step],
        next_attempt_at=step.at,
        status_code=result.status_code,
        error=result.error,
        response=result.response_excerpt,
    )
    endpoint_id = delivery.endpoint_id
    if step.step is Step.SUCCEEDED:
        # as read before sending, so most successes write nothing (a failure recorded since
        # is cleared by the next success)
        if failing_since is not None:
            endpoints.set_failing_since(conn, endpoint_id, None)
    elif step.step is Step.DISABLE_ENDPOINT:
        endpoints.disable_endpoint(conn, endpoint_id, "the endpoint answered 410 Gone")
    else:
        endpoints.set_failing_since(conn, endpoint_id, started)
        endpoint = endpoints.get_endpoint(conn, endpoint_id)
        if endpoint is not None and webhooks.should_disable(endpoint.failing_since, started):
            since = endpoint.failing_since
            endpoints.disable_endpoint(
                conn, endpoint_id, f"every attempt failed since {since:%Y-%m-%d %H:%M} UTC"
            )


def sweep(
    engine: Engine, now: datetime, enqueue: Callable[[int, int], None], limit: int = SWEEP_LIMIT
) -> int:
    """Lease every due delivery and hand it to `enqueue(delivery_id, attempts)`."""
    with engine.begin() as conn:
        due = outbox.claim_due_deliveries(conn, now, limit, lease=LEASE)
    for delivery in due:
        enqueue(delivery.id, delivery.attempts)
    return len(due)


def replay(engine: Engine, delivery_id: int, now: datetime) -> int:
    """Send a delivery again (operator action): pending, due now, same webhook-id and bytes.
    Returns the attempt count the new send is expected at."""
    with engine.begin() as conn:
        return outbox.reopen_delivery(conn, delivery_id, now=now)
