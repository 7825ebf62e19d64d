"""Small SQL helpers shared by the repository modules (dialect choices live here)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Row

T = TypeVar("T")

DEFAULT_LEASE = timedelta(minutes=5)
"""How long a claimed row stays invisible to other claimers if its worker never reports."""

_INSERTS: dict[str, Any] = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


def json_dumps(value: Any) -> str:
    """JSON columns' serializer (the engine's, and `SetKey`'s): orjson, as json.dumps would."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def upsert_insert(conn: Connection, table: sa.Table) -> Any:
    """The dialect's INSERT, which has `on_conflict_do_nothing/update` on both databases."""
    return _INSERTS[conn.dialect.name](table)


def from_row(cls: type[T], row: Row[Any]) -> T:
    """Build the dataclass `cls` from the row's columns of the same names."""
    mapping = row._mapping
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    return cls(**{name: mapping[name] for name in names})


def claim_due(
    conn: Connection,
    table: sa.Table,
    due_column: str,
    *,
    now: datetime,
    limit: int,
    lease: timedelta,
    where: Sequence[sa.ColumnElement[bool]] = (),
) -> list[Row[Any]]:
    """Lease the `limit` most overdue rows whose `due_column <= now`; returned in id order.

    One WITH due AS (SELECT ... FOR UPDATE SKIP LOCKED) UPDATE ... statement: on PostgreSQL
    concurrent claimers skip each other's rows instead of queueing behind them; on SQLite the
    statement takes the write lock before it reads, so two claimers serialise instead of both
    reading the same rows (a SELECT first would let them). The lease moves the due time
    forward, so a later claim does not see the rows again; the worker sets the real next time
    when it is done. (SQLite's RETURNING sees only the new values, so the old due times, and
    with them the due order, cannot come back from the same statement.)
    """
    due_col = table.c[due_column]
    # A CTE, not an IN (subquery): PostgreSQL evaluates a locking CTE exactly once, whereas
    # a subquery the planner re-scans can lock and return more than `limit` rows.
    due = (
        sa.select(table.c.id)
        .where(due_col <= now, *where)
        .order_by(due_col, table.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("due")
    )
    stmt = (
        sa.update(table)
        .where(table.c.id.in_(sa.select(due.c.id)))
        .values({due_column: now + lease})
        .returning(*table.c)
    )
    return sorted(conn.execute(stmt), key=lambda row: row.id)  # RETURNING has no order


@dataclasses.dataclass(frozen=True, slots=True)
class SetKey:
    """An UPDATE value for a JSON object column: replace one key, keep the others, in SQL.

    Two transactions setting different keys of one row (a Cainiao poll and a 17TRACK poll of
    the same parcel, at once) then both land: the database merges each into the row as it is
    when the UPDATE runs, where writing a dict merged in Python would drop the other's key."""

    key: str
    value: Any  # any JSON value


def _set_key(dialect: str, column: sa.Column[Any], key: Any, value: Any) -> Any:
    """`column` with `key` set to the JSON text `value` (both bind parameters)."""
    if dialect == "postgresql":
        obj = sa.func.coalesce(sa.cast(column, postgresql.JSONB), sa.text("'{}'::jsonb"))
        merged = obj.op("||")(sa.func.jsonb_build_object(key, sa.cast(value, postgresql.JSONB)))
        return sa.cast(merged, sa.JSON)
    path = sa.literal_column("'$.\"'") + key + sa.literal_column("'\"'")
    return sa.func.json_set(sa.func.coalesce(column, "{}"), path, sa.func.json(value))


def update_many(conn: Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """UPDATE many rows by `id` in one executemany per distinct set of columns (psycopg sends
    them pipelined: one round trip, not one per row). Each dict has `id` and the new values;
    a `SetKey` value replaces one key of a JSON column and keeps the rest."""
    groups: dict[tuple[tuple[str, bool], ...], list[dict[str, Any]]] = {}
    for row in rows:
        shape = tuple(sorted((k, isinstance(v, SetKey)) for k, v in row.items() if k != "id"))
        groups.setdefault(shape, []).append(row)
    dialect = conn.dialect.name
    for shape, group in groups.items():
        # bind names must not be column names: SQLAlchemy reserves those for SET values
        values: dict[str, Any] = {}
        for c, keyed in shape:
            if keyed:
                key = sa.bindparam(f"k_{c}", type_=sa.Text)
                text = sa.bindparam(f"v_{c}", type_=sa.Text)  # the new value as JSON text
                values[c] = _set_key(dialect, table.c[c], key, text)
            else:
                values[c] = sa.bindparam(f"b_{c}", type_=table.c[c].type)
        stmt = (
            sa.update(table)
            .where(table.c.id == sa.bindparam("b_id", type_=table.c.id.type))
            .values(values)
        )
        conn.execute(stmt, [_binds(row) for row in group])


def _binds(row: dict[str, Any]) -> dict[str, Any]:
    binds: dict[str, Any] = {}
    for k, v in row.items():
        if isinstance(v, SetKey):
            binds[f"k_{k}"], binds[f"v_{k}"] = v.key, json_dumps(v.value)
        else:
            binds[f"b_{k}"] = v
    return binds


def relax_commit(conn: Connection) -> None:
    """Let the current transaction's commit return before its WAL reaches disk (PostgreSQL
    `synchronous_commit = off`, this transaction only; nothing on SQLite). A server crash can
    then lose the last fraction of a second of such commits, never corrupt anything: use it
    only for writes that are repaired by doing them again (a poll's lease runs out and the
    parcel is polled again; a lost attempt record leaves the delivery pending, and it is sent
    again with the same webhook-id and bytes, which consumers dedupe)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SET LOCAL synchronous_commit TO OFF"))
