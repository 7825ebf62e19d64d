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
    """UPDATE many rows by `id`: one statement per distinct set of columns. Each dict has
    `id` and the new values; a `SetKey` value replaces one key of a JSON column and keeps the
    rest. On PostgreSQL the rows travel as arrays (`UPDATE ... FROM unnest(...)`): one
    statement for the whole group, where an executemany costs a statement per row on both
    sides; elsewhere, an executemany. Rows are written in id order (locks taken in one order
    by concurrent writers)."""
    groups: dict[tuple[tuple[str, bool], ...], list[dict[str, Any]]] = {}
    for row in sorted(rows, key=lambda r: r["id"]):
        shape = tuple(sorted((k, isinstance(v, SetKey)) for k, v in row.items() if k != "id"))
        groups.setdefault(shape, []).append(row)
    dialect = conn.dialect.name
    for shape, group in groups.items():
        if dialect == "postgresql":
            _update_unnest(conn, table, shape, group)
            continue
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


def _update_unnest(
    conn: Connection,
    table: sa.Table,
    shape: tuple[tuple[str, bool], ...],
    group: Sequence[dict[str, Any]],
) -> None:
    """One `UPDATE table AS t SET ... FROM unnest(arrays) AS v(...) WHERE t.id = v.id`. Each
    value goes through its column type's bind processing (UTCDateTime's checks, JSON
    serialisation) before it joins its array."""
    dialect = conn.dialect
    arrays: dict[str, list[Any]] = {"id": [row["id"] for row in group]}
    casts = [f"CAST(:id AS {table.c.id.type.compile(dialect=dialect)}[])"]
    names, sets = ["id"], []
    for c, keyed in shape:
        column = table.c[c]
        if keyed:
            arrays[f"k_{c}"] = [row[c].key for row in group]
            arrays[f"v_{c}"] = [json_dumps(row[c].value) for row in group]
            casts += [f"CAST(:k_{c} AS text[])", f"CAST(:v_{c} AS text[])"]
            names += [f"k_{c}", f"v_{c}"]
            sets.append(
                f'"{c}" = CAST(COALESCE(CAST(t."{c}" AS jsonb), \'{{}}\'::jsonb) '
                f"|| jsonb_build_object(v.k_{c}, CAST(v.v_{c} AS jsonb)) AS json)"
            )
            continue
        process = column.type.bind_processor(dialect)
        values = [row[c] for row in group]
        arrays[f"b_{c}"] = [process(v) for v in values] if process else values
        if isinstance(column.type, sa.JSON):  # serialised to text by its processor
            casts.append(f"CAST(:b_{c} AS text[])")
            sets.append(f'"{c}" = CAST(v.b_{c} AS json)')
        else:
            casts.append(f"CAST(:b_{c} AS {column.type.compile(dialect=dialect)}[])")
            sets.append(f'"{c}" = v.b_{c}')
        names.append(f"b_{c}")
    # names come from the table's own columns (table.c[c] refused any other); values are bound
    sql = (
        f'UPDATE "{table.name}" AS t SET {", ".join(sets)} '  # noqa: S608
        f"FROM unnest({', '.join(casts)}) AS v({', '.join(names)}) WHERE t.id = v.id"
    )
    conn.execute(sa.text(sql), arrays)


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
