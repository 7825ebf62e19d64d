"""FedEx adapter: duplicate numbers as several shipments, naive scans stay naive, batching."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import responses
from hypothesis import given

from tests.sources._carrier_fuzz import FUZZ, check, json_payloads, observe, sample_text
from tracker.errors import UnparseableResponse
from tracker.model import Outcome, Status, TzProvenance
from tracker.sources import fedex
from tracker.sources.http import NO_RETRY, SourceClient

DOC = sample_text("fedex", "track-api-doc-example.json")
DUPLICATE = sample_text("fedex", "duplicate-tracking-number-delivered.json")
MIXED = sample_text("fedex", "delivered-mixed-tz-naive-datetime.json")
URL = "https://apis.fedex.com/track/v1/trackingnumbers"


def test_duplicate_track_results_are_two_shipments() -> None:
    result = fedex.parse(observe("fedex", DUPLICATE, ("776094337676",)))
    [answer] = result.results
    assert answer.outcome is Outcome.FOUND
    assert answer.shipments == 2
    assert answer.status is None  # one is delivered, the other at a facility: no single status
    refs = {e.shipment_ref for e in result.events}
    assert refs == {"2460425000~776094337676~FX", "2460426000~776094337676~FX"}
    delivered = [e for e in result.events if e.status is Status.DELIVERED]
    assert [e.shipment_ref for e in delivered] == ["2460426000~776094337676~FX"]
    assert delivered[0].signed_by == "D.HERRERA"


def test_offsets_are_the_scans_own_and_naive_scans_stay_naive() -> None:
    events = fedex.parse(observe("fedex", MIXED, ("738488882438",))).events
    delivered, pickup = events[0], events[-1]
    assert delivered.occurred_at == datetime(2024, 8, 20, 16, 41, 57, tzinfo=UTC)
    assert delivered.utc_offset_minutes == -240
    assert delivered.tz_provenance is TzProvenance.CARRIER_OFFSET
    assert {e.utc_offset_minutes for e in events if e.occurred_at} == {-240, -300}
    assert pickup.raw_code == "PU"
    assert pickup.occurred_local == datetime(2024, 8, 15)
    assert pickup.occurred_at is None
    assert pickup.utc_offset_minutes is None
    assert pickup.tz_provenance is TzProvenance.UNKNOWN


def test_not_found_result_and_other_number_in_one_answer() -> None:
    result = fedex.parse(observe("fedex", DOC, ("123456789012", "39936862321")))
    first, second = result.results
    assert (first.outcome, first.answered) == (Outcome.OTHER_NUMBER, "128667043726")
    assert second.outcome is Outcome.NOT_FOUND
    assert all(e.source_number == "128667043726" for e in result.events)


def test_number_missing_from_the_answer_is_not_found() -> None:
    result = fedex.parse(observe("fedex", MIXED, ("738488882438", "111111111111")))
    assert [r.outcome for r in result.results] == [Outcome.FOUND, Outcome.NOT_FOUND]


def test_unknown_event_type_falls_back_to_the_derived_status() -> None:
    body = json.loads(MIXED)
    scans = body["output"]["completeTrackResults"][0]["trackResults"][0]["scanEvents"]
    scans[1]["eventType"] = "ZZ"  # derivedStatusCode IT
    scans[2].update(eventType="YY", derivedStatusCode="QQ")
    result = fedex.parse(observe("fedex", body, ("738488882438",)))
    assert result.events[1].substatus == "in_transit.other"
    assert result.events[2].substatus == "unknown.other"
    assert [w.message for w in result.warnings] == ["unmapped eventType 'YY'"]


def test_top_level_not_found_error_is_a_value() -> None:
    body = json.dumps({"errors": [{"code": "NOT.FOUND.ERROR", "message": "not found"}]})
    [answer] = fedex.parse(observe("fedex", body, ("123",))).results
    assert answer.outcome is Outcome.NOT_FOUND


def test_unknown_top_level_error_is_unparseable() -> None:
    body = json.dumps({"errors": [{"code": "SYSTEM.UNAVAILABLE.EXCEPTION"}]})
    with pytest.raises(UnparseableResponse, match=r"SYSTEM\.UNAVAILABLE"):
        fedex.parse(observe("fedex", body, ("123",)))


@responses.activate
def test_fetch_posts_30_numbers_per_call_with_bearer() -> None:
    responses.post(URL, body=MIXED, content_type="application/json")
    missing = {"errors": [{"code": "NOT.FOUND.ERROR", "message": "Tracking number not found"}]}
    responses.post(URL, json=missing, status=404)
    numbers = [f"7000000000{i:02d}" for i in range(31)]
    observations = fedex.fetch(SourceClient(fedex.SPEC, key="tok", policy=NO_RETRY), numbers)
    assert len(responses.calls) == 2
    sent = [json.loads(call.request.body or b"") for call in responses.calls]
    assert [len(b["trackingInfo"]) for b in sent] == [30, 1]
    assert sent[1]["trackingInfo"][0]["trackingNumberInfo"]["trackingNumber"] == numbers[30]
    assert all(b["includeDetailedScans"] is True for b in sent)
    assert all(c.request.headers["Authorization"] == "Bearer tok" for c in responses.calls)
    assert [len(o.numbers) for o in observations] == [30, 1]
    # the first canned answer names none of the 30 numbers asked: each is a value, none raises;
    # the number it does name is reported after them, as not requested
    first = fedex.parse(observations[0]).results
    assert [r.outcome for r in first[:30]] == [Outcome.NOT_FOUND] * 30
    unasked = [(r.requested not in numbers, r.message) for r in first[30:]]
    assert unasked == [(True, "not requested")]
    # the 404 body of the second call is the not-found answer for its number
    [second] = fedex.parse(observations[1]).results
    assert (second.requested, second.outcome) == (numbers[30], Outcome.NOT_FOUND)


@FUZZ
@given(json_payloads([DOC, DUPLICATE, MIXED]))
def test_parser_raises_nothing_but_unparseable(payload: object) -> None:
    check(fedex.parse, observe("fedex", payload, ("776094337676", "738488882438")))
