"""Dead letters: task messages no longer run because they kept killing their worker
(reliability.md CEL-3; the guard is in workers.poison)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tracker.store._sql import upsert_insert
from tracker.store.tables import dead_letters


@dataclass(frozen=True, slots=True)
class DeadLetter:
    task_id: str
    task_name: str
    args: Any
    deliveries: int
    created_at: datetime


def record(
    conn: Connection, task_id: str, task_name: str, args: Any, deliveries: int, now: datetime
) -> bool:
    """Record one dead letter; False if this message was recorded already (a later delivery
    of it, or another worker that saw it too)."""
    values = {"task_id": task_id, "task_name": task_name, "args": args,
              "deliveries": deliveries, "created_at": now}  # fmt: skip
    statement = upsert_insert(conn, dead_letters).on_conflict_do_nothing(index_elements=["task_id"])
    return bool(conn.execute(statement, values).rowcount)


def newest(conn: Connection, limit: int = 100) -> Sequence[DeadLetter]:
    """The most recent dead letters, newest first."""
    query = (
        sa.select(dead_letters.c.task_id, dead_letters.c.task_name, dead_letters.c.args,
                  dead_letters.c.deliveries, dead_letters.c.created_at)
        .order_by(dead_letters.c.id.desc())
        .limit(limit)
    )  # fmt: skip
    return [DeadLetter(*row) for row in conn.execute(query)]
