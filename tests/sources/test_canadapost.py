"""Canada Post: delivered-then-more-scans order, wrappers and namespaces, zone abbreviations,
No Pin History as a value, HTTP, fuzz."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import responses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.sources.postal_fuzz import (
    mutated_xml,
    observation,
    parse_or_unparseable,
    sample_text,
)
from tracker.model import Outcome, ParseResult, Status, TzProvenance
from tracker.sources import canadapost
from tracker.sources.http import NO_RETRY, SourceClient

DETAIL = sample_text("canadapost", "tracking-detail-delivered-then-more-scans.xml")
NO_PIN = sample_text("canadapost", "error-no-pin-history.xml")
PIN = "7023210039414604"
BASE = "https://canadapost.test/vis/track"
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def parse(text: str, *numbers: str) -> ParseResult:
    return canadapost.parse(observation("canadapost", text, numbers))


def unwrapped(text: str) -> str:
    return text.replace("<wrapper>", "").replace("</wrapper>", "").strip()


def test_delivered_then_more_scans_keeps_every_event_in_payload_order() -> None:
    events = parse(DETAIL, PIN).events
    assert [e.raw_code for e in events] == ["20", "0174", "0100", "0173", "1496", "20"]
    delivered = events.index(next(e for e in events if e.raw_code == "1496"))
    later = [
        e
        for e in events[:delivered]
        if e.occurred_at
        and events[delivered].occurred_at
        and e.occurred_at > events[delivered].occurred_at
    ]
    assert {e.substatus for e in later} >= {
        "out_for_delivery.out_for_delivery",
        "exception.address_correction",
    }


def test_zero_padded_identifiers_are_read_as_integers() -> None:
    event = next(e for e in parse(DETAIL).events if e.raw_code == "0174")
    assert event.status is Status.OUT_FOR_DELIVERY


def test_est_maps_to_an_offset_and_unknown_zone_stays_naive() -> None:
    event = parse(DETAIL).events[4]
    assert event.occurred_at == datetime(2011, 2, 1, 12, 59, 52, tzinfo=UTC)
    assert event.utc_offset_minutes == -300
    assert event.tz_provenance is TzProvenance.CARRIER_OFFSET
    odd = parse(DETAIL.replace("<event-time-zone>EST", "<event-time-zone>XYZ", 1)).events[0]
    assert odd.occurred_local == datetime(2011, 2, 3, 11, 59, 59)
    assert odd.occurred_at is None
    assert odd.tz_provenance is TzProvenance.UNKNOWN


def test_signatory_and_province_are_kept() -> None:
    event = parse(DETAIL).events[5]
    assert event.signed_by == "R GREGOIRE"
    assert (event.location.city, event.location.state, event.location.country) == (
        "QUEBEC",
        "QC",
        "CA",
    )


def test_with_or_without_wrapper_and_with_a_namespace_the_answer_is_the_same() -> None:
    plain = parse(DETAIL, PIN)
    assert parse(unwrapped(DETAIL), PIN) == plain
    spaced = unwrapped(DETAIL).replace(
        "<tracking-detail>", '<tracking-detail xmlns="http://www.canadapost.ca/ws/track-v2">', 1
    )
    assert parse(spaced, PIN) == plain


def test_no_pin_history_is_a_not_found_value() -> None:
    (result,) = parse(NO_PIN, "1371134583769923").results
    assert result.outcome is Outcome.NOT_FOUND
    assert result.message == "004 No Pin History"
    assert parse(unwrapped(NO_PIN), "1").results[0].outcome is Outcome.NOT_FOUND


def test_other_pin_in_the_answer_is_other_number() -> None:
    (result,) = parse(DETAIL, "1111111111111111").results
    assert result.outcome is Outcome.OTHER_NUMBER
    assert result.answered == PIN


@responses.activate
def test_fetch_uses_basic_auth_and_the_v2_media_type_and_keeps_404_bodies() -> None:
    responses.get(
        f"{BASE}/pin/1371134583769923/detail",
        body=NO_PIN,
        status=404,
        content_type="application/vnd.cpc.track-v2+xml",
    )
    client = SourceClient(canadapost.SPEC, base_url=BASE, key="user:pa:ss", policy=NO_RETRY)
    (obs,) = canadapost.fetch(client, ["1371134583769923"])
    headers = responses.calls[0].request.headers
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"user:pa:ss").decode()
    assert headers["Accept"] == "application/vnd.cpc.track-v2+xml"
    assert canadapost.parse(obs).results[0].outcome is Outcome.NOT_FOUND


@FUZZ
@given(st.sampled_from([DETAIL, NO_PIN, unwrapped(DETAIL)]).flatmap(mutated_xml))
def test_mutated_documents_parse_or_raise_unparseable(text: str) -> None:
    parse_or_unparseable(canadapost.parse, observation("canadapost", text))


@FUZZ
@given(
    st.text()
    | st.sampled_from([DETAIL, NO_PIN]).flatmap(
        lambda t: st.integers(0, len(t) - 1).map(lambda n: t[:n])
    )
)
def test_random_and_truncated_text_parse_or_raise_unparseable(text: str) -> None:
    parse_or_unparseable(canadapost.parse, observation("canadapost", text))


def test_a_decoded_json_value_is_not_xml() -> None:
    parse_or_unparseable(canadapost.parse, observation("canadapost", {"tracking-detail": {}}))
