"""Event ids never change: `evidence.event_json` writes the bytes of the original formula.

Ids are stored in users' databases and compared with fresh ones on every poll, so a single
changed byte would make every re-poll insert its events again. `reference_json` and
`reference_event_id` are that original formula, kept here as the spec; the fast serializer
must match it for every event the sources produce and for every value the model allows.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bench.casegen import make_case
from tracker import pipeline, sources
from tracker.casefile import Case
from tracker.model import (
    NOWHERE,
    SOURCE_NAMES,
    Location,
    Observation,
    SourceEvent,
    Status,
    TzProvenance,
)
from tracker.service.reanalysis import event_id
from tracker.store import evidence

TESTS = Path(__file__).resolve().parents[1]
FETCHED_AT = datetime(2026, 11, 12, 10, 0, tzinfo=UTC)
PARCEL_IDS = (1, 42, 2**31 + 7)


def reference_json(event: SourceEvent) -> bytes:
    """The spec: the stored dict of the event (`event_to_data`, unchanged since ids were
    first stored) with sorted keys. `test_ids_stored_before_are_pinned` pins literal ids, so
    this reference cannot drift with `event_to_data` unnoticed."""
    return orjson.dumps(evidence.event_to_data(event), option=orjson.OPT_SORT_KEYS)


def reference_event_id(parcel_id: int, event: SourceEvent) -> str:
    data = reference_json(event)
    return hashlib.sha256(str(parcel_id).encode() + b"\x00" + data).hexdigest()[:32]


def assert_same_ids(events: Iterable[SourceEvent]) -> None:
    for event in events:
        assert evidence.event_json(event) == reference_json(event), event
        for parcel_id in PARCEL_IDS:
            assert event_id(parcel_id, event) == reference_event_id(parcel_id, event), event


# ------------------------------------------------------------------ events the sources produce


def fixture_events() -> list[SourceEvent]:
    """Every event parsed from tests/fixtures/<source>/ (real payloads, as the contract reads)."""
    found: list[SourceEvent] = []
    for source in SOURCE_NAMES:
        for path in sorted((TESTS / "fixtures" / source).iterdir()):
            if path.name.endswith(".expected.json") or path.suffix not in (".json", ".xml", ".txt"):
                continue
            expected = path.with_name(path.name.rsplit(".", 1)[0] + ".expected.json")
            numbers = json.loads(expected.read_text()).get("numbers", [])
            text = path.read_text(encoding="utf-8")
            obs = Observation(source, text, FETCHED_AT, numbers=tuple(numbers))
            found.extend(sources.parse(obs).events)
    return found


def case_events(cases: Iterable[Any]) -> list[SourceEvent]:
    found: list[SourceEvent] = []
    for data in cases:
        case = Case.from_json(data)
        for events in pipeline.route(case.parcels, case.observations).events.values():
            found.extend(events)
    return found


def test_every_fixture_event_keeps_its_id() -> None:
    events = fixture_events()
    assert len({e.source for e in events}) == len(SOURCE_NAMES)
    assert_same_ids(events)


def test_every_sample_case_event_keeps_its_id() -> None:
    paths = sorted((TESTS / "cases").glob("*.json"))
    events = case_events(json.loads(p.read_text(encoding="utf-8")) for p in paths)
    assert paths and events
    assert_same_ids(events)


def test_every_casegen_event_keeps_its_id() -> None:
    rng = random.Random(7)
    cases = (orjson.loads(orjson.dumps(make_case(i, rng))) for i in range(120))
    events = case_events(cases)
    assert len(events) > 3000
    assert_same_ids(events)


def test_every_status_and_provenance_keeps_its_id() -> None:
    assert_same_ids(
        SourceEvent("cainiao", "LP1", status, status.sub("other"), tz_provenance=provenance)
        for status in Status
        for provenance in TzProvenance
    )


def test_ids_stored_before_are_pinned() -> None:
    """Literal ids computed with the original formula: any change of bytes shows here."""
    every_kind = [
        SourceEvent("cainiao", "LP1", status, status.sub("other"), tz_provenance=provenance)
        for status in Status
        for provenance in TzProvenance
    ]
    ids = "\n".join(event_id(42, e) for e in every_kind)
    assert hashlib.sha256(ids.encode()).hexdigest() == (
        "e9aa1e7b571733594835b7e3585133aa439fb57e7175e8d2cb7797bb1141261c"
    )
    delivered = SourceEvent(
        "17track",
        "YT2616912345678901",
        Status.DELIVERED,
        "delivered.signed",
        raw_description='Zugestellt "an" Nachbar \\ é',
        location=Location("Berlin, DE", "Berlin", None, "10115", "DE"),
        occurred_local=datetime(2026, 10, 21, 14, 5, 6, 789),
        utc_offset_minutes=120,
        occurred_at=datetime(2026, 10, 21, 12, 5, 6, 789, tzinfo=UTC),
        tz_provenance=TzProvenance.CARRIER_UTC,
        raw_time="2026-10-21 14:05:06",
    )
    assert event_id(1, delivered) == "f3838e5e77f00cc7628393d07fca7f97"


def test_event_json_names_every_field_of_the_model_in_sorted_order() -> None:
    """A field added to SourceEvent must be added to `event_json` too (and changes every id)."""
    data = orjson.loads(evidence.event_json(SourceEvent("dhl", "1", Status.UNKNOWN, "x")))
    assert list(data) == sorted(f.name for f in dataclasses.fields(SourceEvent))
    assert list(data["location"]) == sorted(f.name for f in dataclasses.fields(Location))


# ------------------------------------------------------------ every value the model allows


class NoOffset(tzinfo):
    """An aware-looking tzinfo whose utcoffset is None: isoformat() writes no offset."""

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None

    def tzname(self, dt: datetime | None) -> str | None:
        return None


class FixedOffset(tzinfo):
    """A tzinfo that is neither datetime.timezone nor zoneinfo."""

    def __init__(self, offset: timedelta) -> None:
        self.offset = offset

    def utcoffset(self, dt: datetime | None) -> timedelta:
        return self.offset

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None


DAY = timedelta(hours=24)
WHOLE_MINUTES = st.integers(-1439, 1439).map(lambda m: timedelta(minutes=m))
ANY_OFFSET = st.timedeltas(min_value=-DAY + timedelta(microseconds=1), max_value=DAY * 0.99999)
TZINFOS = st.one_of(
    st.none(),
    st.just(UTC),
    st.just(ZoneInfo("UTC")),
    st.builds(timezone, WHOLE_MINUTES),
    st.builds(timezone, ANY_OFFSET),
    st.builds(timezone, WHOLE_MINUTES, st.text(max_size=5)),
    st.timezones(),
    st.just(NoOffset()),
    st.builds(FixedOffset, WHOLE_MINUTES | ANY_OFFSET),
)
DATETIMES = st.none() | st.datetimes(timezones=TZINFOS) | st.datetimes()
TEXT = st.text()
OPTIONAL_TEXT = st.none() | st.text()
LOCATIONS = st.just(NOWHERE) | st.builds(
    Location,
    text=OPTIONAL_TEXT,
    city=OPTIONAL_TEXT,
    state=OPTIONAL_TEXT,
    postal_code=OPTIONAL_TEXT,
    country=OPTIONAL_TEXT,
)
EVENTS = st.builds(
    SourceEvent,
    source=st.sampled_from(SOURCE_NAMES) | TEXT,
    source_number=TEXT,
    status=st.sampled_from(Status),
    substatus=TEXT,
    raw_description=TEXT,
    raw_status=OPTIONAL_TEXT,
    raw_substatus=OPTIONAL_TEXT,
    raw_code=OPTIONAL_TEXT,
    reporting_carrier=OPTIONAL_TEXT,
    location=LOCATIONS,
    occurred_local=DATETIMES,
    utc_offset_minutes=st.none() | st.integers(-1440, 1440) | st.integers(-(2**63), 2**64 - 1),
    occurred_at=DATETIMES,
    tz_provenance=st.sampled_from(TzProvenance),
    raw_time=OPTIONAL_TEXT,
    shipment_ref=OPTIONAL_TEXT,
    signed_by=OPTIONAL_TEXT,
)
BERLIN = ZoneInfo("Europe/Berlin")


def _at(moment: datetime, local: datetime | None = None) -> SourceEvent:
    return SourceEvent(
        "17track",
        "LP00512345678901",
        Status.IN_TRANSIT,
        "in_transit.other",
        raw_description='Zugestellt — 已签收 \u2028 "quoted" \\ \x00',
        location=Location("Berlin", "Berlin", None, "10115", "DE"),
        occurred_local=local,
        utc_offset_minutes=60,
        occurred_at=moment,
        tz_provenance=TzProvenance.CARRIER_OFFSET,
    )


@settings(max_examples=400, deadline=None)
@given(EVENTS)
@example(_at(datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=BERLIN)))  # the repeated hour
@example(_at(datetime(1900, 1, 1, tzinfo=ZoneInfo("Asia/Shanghai"))))  # LMT: +08:05:43
@example(_at(datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=5, seconds=15)))))
@example(_at(datetime(2026, 1, 1, tzinfo=NoOffset()), datetime(2026, 1, 1, 0, 0, 0, 1)))
@example(_at(datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, 999999)))
def test_any_event_keeps_its_id(event: SourceEvent) -> None:
    assert_same_ids([event])
