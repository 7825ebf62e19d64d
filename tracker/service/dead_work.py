"""Giving up the work of a task message that kept killing its worker (workers.poison).

Recording the message is not enough: the work it carried stays due, and the sweeps send it
again under a new message (a queued lookup is re-queued after a minute, leased parcels come back
after their lease, pending deliveries are swept again), each new message killing a worker four
more times. So the work itself is closed, each kind the way its own failures are, and only
where nothing else has moved it on since the message was sent:

- a lookup still queued is finished as failed, with the reason;
- a poll's parcels still scheduled wait at least GIVE_UP_WAIT before their next poll (a parcel
  whose polling stopped stays stopped, one scheduled later keeps its time);
- a delivery still pending at the attempt count the message carried records a failed attempt
  (it can be replayed once the cause is fixed; one sent or tried since is left as it is).

Tasks without work of their own (dispatch, the sweeps) have nothing to close: their next tick
is a new message.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from tracker.store import access, outbox
from tracker.store.orders import delay_polls

GIVE_UP_WAIT = timedelta(hours=6)
REASON = "dead-lettered: the task kept killing the worker that ran it"


def give_up(conn: Connection, task_name: str, args: Sequence[Any], now: datetime) -> str | None:
    """Close the work of a dead-lettered `task_name(*args)`; what was closed, or None."""
    short = task_name.rsplit(".", 1)[-1]
    if short == "lookup" and args:
        closed = access.finish_lookup(conn, str(args[0]), now=now, error=REASON)
        return f"lookup {args[0]} failed" if closed else None
    if short == "poll_batch" and len(args) == 2:
        delayed = delay_polls(conn, [int(i) for i in args[1]], now + GIVE_UP_WAIT)
        return f"{delayed} parcels wait {GIVE_UP_WAIT}" if delayed else None
    expected = dict(_deliveries(short, args))
    pending = [
        d.id
        for d in outbox.get_deliveries(conn, list(expected))
        if d.status == "pending" and d.attempts == expected[d.id]
    ]
    for delivery_id in pending:
        outbox.record_attempt(conn, delivery_id, attempted_at=now, duration_ms=0,
                              status="failed", error=REASON)  # fmt: skip
    return f"deliveries {pending} failed" if pending else None


def _deliveries(short: str, args: Sequence[Any]) -> list[tuple[int, int]]:
    """(delivery id, the attempt count the message was sent at) of a delivery task."""
    if short == "deliver" and len(args) == 2:
        return [(int(args[0]), int(args[1]))]
    if short == "deliver_batch" and args:
        return [(int(item[0]), int(item[1])) for item in args[0]]
    return []
