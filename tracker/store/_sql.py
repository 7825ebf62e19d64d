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
    # a JSON null (what the JSON type stores for None) counts as no object yet, like SQL NULL
    if dialect == "postgresql":
        stored = sa.func.nullif(sa.cast(column, postgresql.JSONB), sa.text("'null'::jsonb"))
        obj = sa.func.coalesce(stored, sa.text("'{}'::jsonb"))
        merged = obj.op("||")(sa.func.jsonb_build_object(key, sa.cast(value, postgresql.JSONB)))
        return sa.cast(merged, sa.JSON)
    path = sa.literal_column("'$.\"'") + key + sa.literal_column("'\"'")
    stored = sa.func.nullif(column, "null")
    return sa.func.json_set(sa.func.coalesce(stored, "{}"), path, sa.func.json(value))


def update_many(conn: Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """UPDATE many rows by `id`: one statement per distinct set of columns. Each dict has
    `id` and the new values; a `SetKey` value replaces one key of a JSON column and keeps the
    rest. On PostgreSQL the rows travel as one JSON document (`UPDATE ... FROM
    json_to_recordset(...)`): one statement for the whole group, where an executemany costs a
    statement per row on both sides; elsewhere, an executemany. Rows are written in id order
    (locks taken in one order by concurrent writers)."""
    groups: dict[tuple[tuple[str, bool], ...], list[dict[str, Any]]] = {}
    for row in sorted(rows, key=lambda r: r["id"]):
        shape = tuple(sorted((k, isinstance(v, SetKey)) for k, v in row.items() if k != "id"))
        groups.setdefault(shape, []).append(row)
    dialect = conn.dialect.name
    for shape, group in groups.items():
        if dialect == "postgresql":
            _update_from_json(conn, table, shape, group)
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


def _update_from_json(
    conn: Connection,
    table: sa.Table,
    shape: tuple[tuple[str, bool], ...],
    group: Sequence[dict[str, Any]],
) -> None:
    """One `UPDATE table AS t SET ... FROM json_to_recordset(rows) AS v(...) WHERE t.id =
    v.id`: the rows travel as one JSON document, serialised once by orjson (as arrays, each
    text element went through psycopg's escaping in Python: ~10% of a poll's CPU for the
    JSON columns' long texts). Each value goes through its column type's bind processing
    (UTCDateTime's checks, JSON serialisation) first; JSON columns travel as their text and
    are cast back, so what is stored is what the engine's own serialiser writes."""
    dialect = conn.dialect
    fields = [f"id {table.c.id.type.compile(dialect=dialect)}"]
    sets = []
    records: list[dict[str, Any]] = [{"id": row["id"]} for row in group]
    for c, keyed in shape:
        column = table.c[c]
        if keyed:
            for record, row in zip(records, group, strict=True):
                record[f"k_{c}"], record[f"v_{c}"] = row[c].key, json_dumps(row[c].value)
            fields += [f"k_{c} text", f"v_{c} text"]
            sets.append(
                f'"{c}" = CAST(COALESCE(NULLIF(CAST(t."{c}" AS jsonb), \'null\'::jsonb), '
                f"'{{}}'::jsonb) "
                f"|| jsonb_build_object(v.k_{c}, CAST(v.v_{c} AS jsonb)) AS json)"
            )
            continue
        process = column.type.bind_processor(dialect)
        for record, row in zip(records, group, strict=True):
            record[f"b_{c}"] = process(row[c]) if process else row[c]
        if isinstance(column.type, sa.JSON):  # serialised to text by its processor
            fields.append(f"b_{c} text")
            sets.append(f'"{c}" = CAST(v.b_{c} AS json)')
        else:
            fields.append(f"b_{c} {column.type.compile(dialect=dialect)}")
            sets.append(f'"{c}" = v.b_{c}')
    # names come from the table's own columns (table.c[c] refused any other); values are bound
    sql = (
        f'UPDATE "{table.name}" AS t SET {", ".join(sets)} '  # noqa: S608
        f"FROM json_to_recordset(CAST(:rows AS json)) AS v({', '.join(fields)}) "
        "WHERE t.id = v.id"
    )
    conn.execute(sa.text(sql), {"rows": orjson.dumps(records).decode()})


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
