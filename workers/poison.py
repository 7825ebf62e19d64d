"""The poison-message guard (reliability.md CEL-3).

Tasks are acknowledged late and re-queued when the process running them dies
(`reject_on_worker_lost`), so nothing is lost when a worker is killed. The price, in Celery's
own words, is that this "can cause message loops": a message whose task itself kills the
process (a native crash, the OOM killer on one huge payload) would be redelivered for ever and
starve the queue behind it.

So every task start counts its message's starts in Redis (`tracker:deliveries:<task id>`, kept
a day), and a task that returns or raises clears it: only starts that never finished add up
(the process died under them). A message started more than 1 + MAX_REDELIVERIES times without
finishing is recorded as a dead letter, its work closed (tracker.service.dead_work), logged
and counted (`tracker_dead_letters`), then acknowledged without running: the worker goes on
with the next message. Every task pays two Redis round trips, and no key outlives a finished
task.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from redis import Redis, RedisError
from sqlalchemy.engine import Engine

from tracker import metrics
from tracker.service import dead_work
from tracker.store import dead_letters

log = logging.getLogger("tracker.workers")

MAX_REDELIVERIES = 3
COUNT_TTL_SECONDS = 86400


def deliveries(client: Redis, task_id: str) -> int:
    """This start's number among the message's deliveries (1 the first time). Redis out of
    reach counts as a first delivery: the guard never stops a task that can still run."""
    key = f"tracker:deliveries:{task_id}"
    pipe = client.pipeline(transaction=False)
    pipe.set(key, 0, ex=COUNT_TTL_SECONDS, nx=True)  # the day starts at the first delivery
    pipe.incr(key)
    try:
        _, count = pipe.execute()
    except RedisError as exc:
        log.warning("delivery count unavailable, running the task: %s", exc)
        return 1
    return int(count)


def finished(client: Redis, task_id: str) -> None:
    """The task returned or raised: its process survived, so the count starts over (a message
    run again after a visibility timeout, not a crash, never adds up to a dead letter; and
    no key outlives the tasks that finish)."""
    try:
        client.delete(f"tracker:deliveries:{task_id}")
    except RedisError as exc:
        log.warning("delivery count not cleared (it expires in a day): %s", exc)


def is_poison(count: int) -> bool:
    return count > 1 + MAX_REDELIVERIES


def bury(
    engine: Engine, task_id: str, task_name: str, args: Sequence[Any], kwargs: Any, count: int
) -> None:
    """Record the message as a dead letter (once), close the work it carried so that no sweep
    sends it again (tracker.service.dead_work), and say so."""
    now = datetime.now(UTC)
    with engine.begin() as conn:  # one transaction: the letter is recorded with its work closed
        fresh = dead_letters.record(
            conn, task_id, task_name, {"args": list(args), "kwargs": kwargs}, count, now
        )
        closed = dead_work.give_up(conn, task_name, args, now) if fresh else None
    if fresh:
        metrics.DEAD_LETTERS.labels(task=task_name).inc()
    log.error(
        "task %s (%s) started %d times without finishing: dead-lettered, no longer run%s",
        task_name,
        task_id,
        count,
        f"; {closed}" if closed else "",
        extra={"task_id": task_id, "task_name": task_name, "deliveries": count},
    )
