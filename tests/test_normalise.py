"""Normalising source events: countries, text, and an honest instant for every time."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from tracker.model import Location, SourceEvent, Status, TzProvenance
from tracker.normalise import clean_text, normalise


def naive(
    local: datetime, location: Location, status: Status = Status.IN_TRANSIT, source: str = "ups"
) -> SourceEvent:
    return SourceEvent(
        source=source,
        source_number="1Z999",
        status=status,
        substatus=status.sub("other"),
        location=location,
        occurred_local=local,
    )


def test_wall_clock_is_read_in_the_country_zone_dst_correct() -> None:
    summer = naive(datetime(2026, 7, 1, 12, 0), Location(country="Germany"))
    winter = naive(datetime(2026, 12, 1, 12, 0), Location(text="BERLIN, DEU"))
    (s, w), warnings = normalise([summer, winter])
    assert warnings == []
    assert s.occurred_at == datetime(2026, 7, 1, 10, 0, tzinfo=UTC)
    assert s.utc_offset_minutes == 120
    assert w.occurred_at == datetime(2026, 12, 1, 11, 0, tzinfo=UTC)
    assert w.utc_offset_minutes == 60
    assert s.tz_provenance is w.tz_provenance is TzProvenance.INFERRED_LOCATION
    assert s.location.country == "DE"
    assert w.location.country == "DE"
    assert s.occurred_local == datetime(2026, 7, 1, 12, 0)  # the wall clock is kept


def test_last_mile_event_without_country_uses_the_destination_zone() -> None:
    delivered = naive(datetime(2026, 11, 3, 9, 0), Location(), Status.DELIVERED)
    transit = naive(datetime(2026, 11, 3, 9, 0), Location())
    (d, t), warnings = normalise([delivered, transit], destination_country="DE")
    assert d.occurred_at == datetime(2026, 11, 3, 8, 0, tzinfo=UTC)
    assert d.tz_provenance is TzProvenance.INFERRED_LOCATION
    assert d.location.country is None  # the zone is inferred, the place is not invented
    assert t.occurred_at == datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
    assert t.tz_provenance is TzProvenance.ASSUMED_UTC
    assert t.utc_offset_minutes is None
    assert [w.source for w in warnings] == ["ups"]
    assert "assumed_utc" in warnings[0].message


def test_country_without_single_zone_falls_back_to_assumed_utc() -> None:
    (e,), warnings = normalise([naive(datetime(2026, 1, 5, 8, 0), Location(country="US"))])
    assert e.tz_provenance is TzProvenance.ASSUMED_UTC
    assert len(warnings) == 1


def test_carrier_instant_is_never_overwritten() -> None:
    at = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)
    given_event = SourceEvent(
        source="17track",
        source_number="X",
        status=Status.IN_TRANSIT,
        substatus="in_transit.other",
        location=Location(country="CN"),
        occurred_local=datetime(2026, 1, 5, 2, 0),  # inconsistent on purpose
        occurred_at=at,
        tz_provenance=TzProvenance.AGGREGATOR_UTC,
    )
    (e,), _ = normalise([given_event])
    assert e is given_event


def test_unknown_substatus_warns_once_and_unknown_other_does_not() -> None:
    bad = SourceEvent(
        source="dhl", source_number="X", status=Status.IN_TRANSIT, substatus="in_transit.teleported"
    )
    unmapped = SourceEvent(
        source="dhl", source_number="X", status=Status.UNKNOWN, substatus="unknown.other"
    )
    (b, u), warnings = normalise([bad, unmapped])
    assert (b.status, b.substatus) == (Status.UNKNOWN, "unknown.other")
    assert u is unmapped
    assert [w.message for w in warnings] == ["unknown sub-status 'in_transit.teleported'"]


def test_unrecognised_country_is_dropped_but_kept_as_text() -> None:
    (e,), _ = normalise([naive(datetime(2026, 1, 5), Location(country="Atlantis"))])
    assert e.location.country is None
    assert e.location.text == "Atlantis"


def test_description_whitespace_and_controls_are_cleaned() -> None:
    event = SourceEvent(
        source="cainiao",
        source_number="X",
        status=Status.IN_TRANSIT,
        substatus="in_transit.other",
        raw_description="  Arrived\tat\x00 hub\n ",
    )
    (e,), _ = normalise([event])
    assert e.raw_description == "Arrived at hub"


@given(st.text())
def test_clean_text_is_idempotent_and_printable(value: str) -> None:
    cleaned = clean_text(value)
    assert clean_text(cleaned) == cleaned
    assert cleaned.isprintable()
    assert "  " not in cleaned
