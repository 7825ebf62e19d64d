"""Giving up the work of a task message that kept killing its worker (workers.poison).

Recording the message is not enough: the work it carried stays due, and the sweeps send it
again under a new message (a queued lookup is re-queued after a minute, leased parcels come back
after their lease, pending deliveries are swept again), each new message killing a worker four
more times. So the work itself is closed, each kind the way its own failures are:

- a lookup is finished as failed, with the reason;
- a poll's parcels count a failed poll and wait GIVE_UP_WAIT before the next one;
- a delivery records a failed attempt (it can be replayed once the cause is fixed).

Tasks without work of their own (dispatch, the sweeps) have nothing to close: their next tick
is a new message.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from tracker.store import access, outbox
from tracker.store.orders import set_next_poll

GIVE_UP_WAIT = timedelta(hours=6)
REASON = "dead-lettered: the task kept killing the worker that ran it"


def give_up(engine: Engine, task_name: str, args: Sequence[Any], now: datetime) -> str | None:
    """Close the work of a dead-lettered `task_name(*args)`; what was closed, or None."""
    short = task_name.rsplit(".", 1)[-1]
    with engine.begin() as conn:
        if short == "lookup" and args:
            access.finish_lookup(conn, str(args[0]), now=now, error=REASON)
            return f"lookup {args[0]} failed"
        if short == "poll_batch" and len(args) == 2:
            for parcel_id in args[1]:
                set_next_poll(conn, int(parcel_id), now + GIVE_UP_WAIT, failed=True)
            return f"{len(args[1])} parcels wait {GIVE_UP_WAIT}"
        pending = [
            d.id
            for d in outbox.get_deliveries(conn, _deliveries(short, args))
            if d.status == "pending"
        ]  # a delivery sent since stays as it is
        for delivery_id in pending:
            outbox.record_attempt(conn, delivery_id, attempted_at=now, duration_ms=0,
                                  status="failed", error=REASON)  # fmt: skip
        return f"deliveries {pending} failed" if pending else None


def _deliveries(short: str, args: Sequence[Any]) -> list[int]:
    if short == "deliver" and args:
        return [int(args[0])]
    if short == "deliver_batch" and args:
        return [int(item[0]) for item in args[0]]
    return []
