"""USPS adapter: v3 JSON (GMT vs local time), legacy TrackV2 XML, errors as values, HTTP shape."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import responses
from hypothesis import given

from tests.sources._carrier_fuzz import (
    FUZZ,
    check,
    json_payloads,
    observe,
    sample_text,
    xml_payloads,
)
from tracker.errors import ConfigurationError, UnparseableResponse
from tracker.model import Outcome, Status, TzProvenance
from tracker.sources import usps
from tracker.sources.http import NO_RETRY, SourceClient

V3 = sample_text("usps", "v3-delivered-parcel-locker.json")
V3_NUMBER = "9400109104250532908587"
LEGACY = sample_text("usps", "trackv2-fieldrequest-in-transit.xml")
NOT_FOUND = sample_text("usps", "v3-not-found-error.json")


def test_instant_comes_from_gmt_timestamp_not_from_local_time() -> None:
    result = usps.parse(observe("usps", V3, (V3_NUMBER,)))
    delivered = result.events[0]
    assert delivered.occurred_at == datetime(2024, 11, 22, 18, 58, 40, tzinfo=UTC)
    assert delivered.utc_offset_minutes == -300
    assert delivered.occurred_local == datetime(2024, 11, 22, 13, 58, 40)
    assert delivered.tz_provenance is TzProvenance.CARRIER_UTC
    assert "eventTimestamp=2024-11-22T13:58:00" in (delivered.raw_time or "")
    assert not result.warnings


def test_parcel_locker_delivery_is_not_a_plain_delivery() -> None:
    result = usps.parse(observe("usps", V3, (V3_NUMBER,)))
    assert result.events[0].substatus == "delivered.to_locker"
    assert result.events[0].raw_code == "01"
    assert result.results[0].status is Status.DELIVERED
    assert result.results[0].outcome is Outcome.FOUND


def test_local_time_that_disagrees_with_gmt_keeps_both_and_drops_the_offset() -> None:
    body = json.loads(V3)
    body["trackingEvents"] = [dict(body["trackingEvents"][0], eventTimestamp="2024-11-22T18:58:00")]
    result = usps.parse(observe("usps", json.dumps(body), (V3_NUMBER,)))
    event = result.events[0]
    assert event.occurred_at == datetime(2024, 11, 22, 18, 58, 40, tzinfo=UTC)
    assert event.occurred_local == datetime(2024, 11, 22, 18, 58)
    assert event.utc_offset_minutes is None
    assert any("disagrees" in w.message for w in result.warnings)


def test_local_time_without_gmt_stays_naive() -> None:
    body = json.loads(V3)
    event = dict(body["trackingEvents"][0])
    del event["GMTTimestamp"], event["GMTOffset"]
    body["trackingEvents"] = [event]
    parsed = usps.parse(observe("usps", body, (V3_NUMBER,))).events[0]
    assert parsed.occurred_at is None
    assert parsed.tz_provenance is TzProvenance.UNKNOWN
    assert parsed.occurred_local == datetime(2024, 11, 22, 13, 58)


def test_legacy_xml_times_stay_naive() -> None:
    result = usps.parse(observe("usps", LEGACY, ("XXXXXXXXXX1",)))
    summary = result.events[0]
    assert summary.occurred_local == datetime(2016, 1, 6, 22, 45)
    assert summary.occurred_at is None
    assert summary.tz_provenance is TzProvenance.UNKNOWN
    assert [e.raw_code for e in result.events] == ["10", "03"]
    assert result.results[0].status is Status.IN_TRANSIT


def test_legacy_xml_error_is_not_found() -> None:
    body = (
        '<TrackResponse><TrackInfo ID="EJ123456780US"><Error><Number>-2147219302</Number>'
        "<Description>The Postal Service could not locate the tracking information for your "
        "request.</Description></Error></TrackInfo></TrackResponse>"
    )
    result = usps.parse(observe("usps", body, ("EJ123456780US",)))
    assert result.results[0].outcome is Outcome.NOT_FOUND
    assert result.events == ()


def test_not_yet_available_error_is_a_not_found_value() -> None:
    result = usps.parse(observe("usps", NOT_FOUND, ("9400100000000000000000",)))
    assert result.results[0].outcome is Outcome.NOT_FOUND
    assert result.results[0].message and result.results[0].message.startswith("12:")


def test_unrecognised_error_is_unparseable_and_keeps_the_body() -> None:
    body = json.dumps({"apiVersion": "/tracking/v3", "error": {"code": "500", "message": "boom"}})
    with pytest.raises(UnparseableResponse) as info:
        usps.parse(observe("usps", body, ("X",)))
    assert info.value.raw == body
    assert info.value.field == "$.error"


def test_answer_for_another_number_is_other_number() -> None:
    result = usps.parse(observe("usps", V3, ("9400100000000000000001",)))
    assert result.results[0].outcome is Outcome.OTHER_NUMBER
    assert result.results[0].answered == V3_NUMBER


def test_unknown_event_code_is_unknown_with_a_warning() -> None:
    body = json.loads(V3)
    body["trackingEvents"] = [dict(body["trackingEvents"][0], eventCode="Q9")]
    result = usps.parse(observe("usps", body, (V3_NUMBER,)))
    assert result.events[0].substatus == "unknown.other"
    assert any("Q9" in w.message for w in result.warnings)


@responses.activate
def test_fetch_sends_bearer_token_and_reads_not_found_as_value() -> None:
    responses.get(
        f"https://apis.usps.com/tracking/v3/tracking/{V3_NUMBER}",
        body=V3,
        content_type="application/json",
    )
    responses.get(
        "https://apis.usps.com/tracking/v3/tracking/9400100000000000000000",
        body=NOT_FOUND,
        status=400,
        content_type="application/json",
    )
    client = SourceClient(usps.SPEC, key="token-1", policy=NO_RETRY)
    observations = usps.fetch(client, [V3_NUMBER, "9400100000000000000000"])
    assert len(responses.calls) == 2
    for call in responses.calls:
        assert call.request.headers["Authorization"] == "Bearer token-1"
        assert "expand=DETAIL" in (call.request.url or "")
    assert [o.numbers for o in observations] == [(V3_NUMBER,), ("9400100000000000000000",)]
    outcomes = [usps.parse(o).results[0].outcome for o in observations]
    assert outcomes == [Outcome.FOUND, Outcome.NOT_FOUND]


def test_fetch_without_token_names_the_setting() -> None:
    with pytest.raises(ConfigurationError, match="TRACKER_USPS_KEY"):
        usps.fetch(SourceClient(usps.SPEC, key=None, policy=NO_RETRY), ["X"])


@FUZZ
@given(json_payloads([V3, NOT_FOUND]))
def test_json_parser_raises_nothing_but_unparseable(payload: object) -> None:
    check(usps.parse, observe("usps", payload, (V3_NUMBER,)))


@FUZZ
@given(xml_payloads([LEGACY]))
def test_xml_parser_raises_nothing_but_unparseable(payload: str) -> None:
    check(usps.parse, observe("usps", payload, ("XXXXXXXXXX1",)))
