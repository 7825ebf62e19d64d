"""The evidence: raw observations, insert-only events, and the verdict history."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tracker.model import (
    DeliveryVerdict,
    Location,
    Observation,
    SourceEvent,
    Status,
    TzProvenance,
)
from tracker.store._sql import from_row, upsert_insert
from tracker.store.tables import events, observation_parcels, observations, parcels, verdicts

_EVENT_COLUMNS = frozenset(c.name for c in events.c) - {"created_at"}


@dataclass(frozen=True, slots=True)
class EventRow:
    id: str
    parcel_id: int
    observation_id: int | None
    source: str
    source_number: str
    data: dict[str, Any]
    occurred_at: datetime | None
    status: str
    substatus: str
    created_at: datetime


def store_observation(
    conn: Connection, parcel_ids: Iterable[int], obs: Observation, *, sha256: str | None = None
) -> int:
    """Keep `obs` as received, once per distinct body, linked to every parcel it covers.

    Storing the same body again (a re-poll that changed nothing) returns the first row's id and
    only adds links that are new. A push not yet tied to a parcel passes no parcel ids.
    `sha256` is `obs.sha256` when the caller has it already (it hashes the whole body).
    """
    return store_observations(conn, [(obs, parcel_ids, sha256 or obs.sha256)])[0]


def store_observations(
    conn: Connection, items: Sequence[tuple[Observation, Iterable[int], str]]
) -> list[int]:
    """`store_observation` for several answers at once, each `(observation, parcel ids, its
    sha256)`: one INSERT of the bodies not stored yet, one SELECT of those that were, one
    INSERT of the links, whatever the number of answers. Returns their ids, in order."""
    if not items:
        return []
    keys = [(obs.source, digest) for obs, _, digest in items]
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for obs, _, digest in items:
        if (obs.source, digest) not in rows:  # a body answered twice: its first answer is kept,
            rows[obs.source, digest] = {  # as storing them in turn would keep it
                "source": obs.source,
                "numbers": list(obs.numbers),
                "fetched_at": obs.fetched_at,
                "http_status": obs.http_status,
                "content_type": obs.content_type,
                "sha256": digest,
                "body": obs.text,
            }
    stmt = (
        upsert_insert(conn, observations)
        .on_conflict_do_nothing(index_elements=["source", "sha256"])
        .returning(observations.c.id, observations.c.source, observations.c.sha256)
    )  # an executemany with RETURNING: SQLAlchemy sends it as one INSERT ("insertmanyvalues")
    ids = {(r.source, r.sha256): int(r.id) for r in conn.execute(stmt, list(rows.values()))}
    stored = [key for key in rows if key not in ids]
    if stored:
        query = sa.select(observations.c.id, observations.c.source, observations.c.sha256).where(
            sa.tuple_(observations.c.source, observations.c.sha256).in_(stored)
        )
        ids.update({(r.source, r.sha256): int(r.id) for r in conn.execute(query)})
    links = {
        (ids[key], parcel_id): None
        for key, (_, parcel_ids, _) in zip(keys, items, strict=True)
        for parcel_id in parcel_ids
    }
    _link(conn, list(links))
    return [ids[key] for key in keys]


def stored_links(conn: Connection, source: str, sha256: str) -> tuple[int, set[int]] | None:
    """The id of the stored body of `source` with this sha256 and the parcels it is linked to
    (None if that body was never stored)."""
    query = (
        sa.select(observations.c.id, observation_parcels.c.parcel_id)
        .select_from(observations.outerjoin(observation_parcels))
        .where(observations.c.source == source, observations.c.sha256 == sha256)
    )
    rows = conn.execute(query).all()
    if not rows:
        return None
    return int(rows[0].id), {int(r.parcel_id) for r in rows if r.parcel_id is not None}


def link_observation(conn: Connection, observation_id: int, parcel_ids: Iterable[int]) -> None:
    _link(conn, [(observation_id, pid) for pid in set(parcel_ids)])


def _link(conn: Connection, pairs: Sequence[tuple[int, int]]) -> None:
    """Link observations to parcels, in one statement; links that exist already are kept.
    On PostgreSQL the pairs travel as two arrays (`_LINK_ARRAYS`): an executemany is a
    statement per row there, and a multi-row VALUES is compiled anew for every length."""
    if not pairs:
        return
    if conn.dialect.name == "postgresql":
        conn.execute(_LINK_ARRAYS, {"o": [o for o, _ in pairs], "p": [p for _, p in pairs]})
        return
    values = [{"observation_id": obs_id, "parcel_id": pid} for obs_id, pid in pairs]
    conn.execute(upsert_insert(conn, observation_parcels).on_conflict_do_nothing(), values)


_LINK_ARRAYS = sa.text(
    "INSERT INTO observation_parcels (observation_id, parcel_id) "
    "SELECT * FROM unnest(CAST(:o AS bigint[]), CAST(:p AS integer[])) "
    "ON CONFLICT DO NOTHING"
)


def observations_for_order(conn: Connection, order_id: str) -> list[Observation]:
    """The order's observations, oldest first. `payload` is the stored body text."""
    linked = (
        sa.select(observation_parcels.c.observation_id)
        .join(parcels, parcels.c.id == observation_parcels.c.parcel_id)
        .where(parcels.c.order_id == order_id)
    )
    query = (
        sa.select(observations)
        .where(observations.c.id.in_(linked))
        .order_by(observations.c.fetched_at, observations.c.id)
    )
    return [
        Observation(
            source=row.source,
            payload=row.body,
            fetched_at=row.fetched_at,
            numbers=tuple(row.numbers),
            http_status=row.http_status,
            content_type=row.content_type,
        )
        for row in conn.execute(query)
    ]


def insert_events(conn: Connection, rows: Iterable[Mapping[str, Any]], *, now: datetime) -> int:
    """Insert events whose id is new; returns how many were new. Existing ids are left as is.

    Each row has the `events` columns except `created_at` (set to `now`). The ids are
    deterministic, so a re-poll or a redelivered task inserts nothing.
    """
    values = [_event_values(row, now) for row in rows]
    if not values:
        return 0
    stmt = (
        upsert_insert(conn, events)
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(events.c.id)
    )
    return len(conn.execute(stmt, values).all())


def _event_values(row: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    missing = _EVENT_COLUMNS - set(row)
    if missing:
        raise ValueError(f"event row lacks {sorted(missing)}")
    return {**{name: row[name] for name in _EVENT_COLUMNS}, "created_at": now}


def event_row(
    event_id: str, parcel_id: int, observation_id: int | None, event: SourceEvent
) -> dict[str, Any]:
    """The `insert_events` row for a source event (its full data kept in `data`)."""
    return {
        "id": event_id,
        "parcel_id": parcel_id,
        "observation_id": observation_id,
        "source": event.source,
        "source_number": event.source_number,
        "data": event_to_data(event),
        "occurred_at": event.occurred_at,
        "status": event.status.value,
        "substatus": event.substatus,
    }


def event_to_data(event: SourceEvent) -> dict[str, Any]:
    """A JSON-safe, lossless dict of a SourceEvent (`event_from_data` reverses it)."""
    data: dict[str, Any] = {}
    for f in dataclasses.fields(event):
        value = getattr(event, f.name)
        if isinstance(value, Enum):
            value = value.value
        elif isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, Location):
            value = value.to_dict()
        data[f.name] = value
    return data


def event_json(event: SourceEvent) -> bytes:
    """`orjson.dumps(event_to_data(event), option=OPT_SORT_KEYS)`, byte for byte, ~5x faster.

    Event ids hash these bytes and are already stored, so they must never change. The dict is
    built with its keys already sorted (no OPT_SORT_KEYS, no field loop, no isinstance chain).
    orjson writes the enums as their values and naive and UTC datetimes exactly as `isoformat()`
    does. Any other datetime goes through `isoformat()`: orjson drops the seconds of an offset
    (LMT zones), writes a tzinfo whose utcoffset is None as UTC and rejects subclasses.
    tests/store/test_event_ids.py holds the original formula as the spec.
    """
    at, local, where = event.occurred_at, event.occurred_local, event.location
    return orjson.dumps(
        {
            "location": {
                "city": where.city,
                "country": where.country,
                "postal_code": where.postal_code,
                "state": where.state,
                "text": where.text,
            },
            "occurred_at": at if at is None or _iso_native(at) else at.isoformat(),
            "occurred_local": local if local is None or _iso_native(local) else local.isoformat(),
            "raw_code": event.raw_code,
            "raw_description": event.raw_description,
            "raw_status": event.raw_status,
            "raw_substatus": event.raw_substatus,
            "raw_time": event.raw_time,
            "reporting_carrier": event.reporting_carrier,
            "shipment_ref": event.shipment_ref,
            "signed_by": event.signed_by,
            "source": event.source,
            "source_number": event.source_number,
            "status": event.status,
            "substatus": event.substatus,
            "tz_provenance": event.tz_provenance,
            "utc_offset_minutes": event.utc_offset_minutes,
        }
    )


def _iso_native(value: datetime) -> bool:
    """True when orjson writes `value` exactly as `value.isoformat()`: a naive or UTC datetime."""
    return type(value) is datetime and (value.tzinfo is None or value.tzinfo is UTC)


def event_from_data(data: Mapping[str, Any]) -> SourceEvent:
    fields: dict[str, Any] = dict(data)
    fields["status"] = Status(fields["status"])
    fields["tz_provenance"] = TzProvenance(fields["tz_provenance"])
    fields["location"] = Location(**fields["location"])
    for name in ("occurred_local", "occurred_at"):
        if fields.get(name) is not None:
            fields[name] = datetime.fromisoformat(fields[name])
    return SourceEvent(**fields)


# oldest first; events without a known instant last, in arrival order
_OLDEST_FIRST = (
    events.c.occurred_at.is_(None),
    events.c.occurred_at,
    events.c.created_at,
    events.c.id,
)


def events_for_parcel(conn: Connection, parcel_id: int) -> list[EventRow]:
    """Oldest first; events without a known instant come last, in arrival order."""
    query = sa.select(events).where(events.c.parcel_id == parcel_id).order_by(*_OLDEST_FIRST)
    return [from_row(EventRow, row) for row in conn.execute(query)]


def source_events_for_parcels(
    conn: Connection, parcel_ids: Iterable[int]
) -> dict[int, dict[str, SourceEvent]]:
    """Each parcel's stored events as source events by id, in `events_for_parcel`'s order:
    what re-analysis reads (only the id and the data columns)."""
    ids = sorted(set(parcel_ids))
    found: dict[int, dict[str, SourceEvent]] = {pid: {} for pid in ids}
    if ids:
        query = (
            sa.select(events.c.parcel_id, events.c.id, events.c.data)
            .where(events.c.parcel_id.in_(ids))
            .order_by(*_OLDEST_FIRST)
        )
        for parcel_id, event_id, data in conn.execute(query):
            found[parcel_id][event_id] = event_from_data(data)
    return found


def event_ids_for_parcels(conn: Connection, parcel_ids: Iterable[int]) -> dict[int, set[str]]:
    """The ids of the parcels' stored events (no data: enough to tell what a poll adds)."""
    ids = sorted(set(parcel_ids))
    found: dict[int, set[str]] = {pid: set() for pid in ids}
    if ids:
        query = sa.select(events.c.parcel_id, events.c.id).where(events.c.parcel_id.in_(ids))
        for parcel_id, event_id in conn.execute(query):
            found[parcel_id].add(event_id)
    return found


def record_verdict(
    conn: Connection,
    order_id: str,
    parcel_id: int | None,
    verdict: DeliveryVerdict,
    *,
    now: datetime,
) -> int:
    """Append to the verdict history (one row per computation, so changes can be audited)."""
    stmt = (
        sa.insert(verdicts)
        .values(
            order_id=order_id,
            parcel_id=parcel_id,
            verdict=verdict.verdict.value,
            delivered_at=verdict.delivered_at,
            reasons=[reason.to_dict() for reason in verdict.reasons],
            computed_at=now,
        )
        .returning(verdicts.c.id)
    )
    return int(conn.execute(stmt).scalar_one())


def record_verdicts(
    conn: Connection, changes: Iterable[tuple[str, DeliveryVerdict]], *, now: datetime
) -> None:
    """`record_verdict` for many orders (order-level rows) in one executemany."""
    values = [
        {
            "order_id": order_id,
            "parcel_id": None,
            "verdict": verdict.verdict.value,
            "delivered_at": verdict.delivered_at,
            "reasons": [reason.to_dict() for reason in verdict.reasons],
            "computed_at": now,
        }
        for order_id, verdict in changes
    ]
    if values:
        conn.execute(sa.insert(verdicts), values)


def verdict_history(conn: Connection, order_id: str) -> list[dict[str, Any]]:
    query = sa.select(verdicts).where(verdicts.c.order_id == order_id).order_by(verdicts.c.id)
    return [dict(row._mapping) for row in conn.execute(query)]
