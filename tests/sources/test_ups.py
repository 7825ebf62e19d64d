"""UPS adapter: not-found/invalid as values, customs release is not a delivery, GMT fields,
HTTP shape."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import responses
from hypothesis import given

from tests.sources._carrier_fuzz import FUZZ, check, json_payloads, observe, sample_text
from tracker.errors import UnparseableResponse
from tracker.model import Outcome, Status, TrackingState, TzProvenance
from tracker.sources import ups
from tracker.sources.http import NO_RETRY, SourceClient

DOC = sample_text("ups", "trackresponse-api-doc-example.json")
DELIVERED = sample_text("ups", "trackresponse-delivered-label-then-delivered.json")
NOT_FOUND = sample_text("ups", "trackresponse-warning-not-found.json")
INVALID = sample_text("ups", "trackresponse-error-invalid-number.json")
NUMBER = "1Z1442YY7229014688"


def test_not_found_warning_at_http_200_is_a_value() -> None:
    result = ups.parse(observe("ups", NOT_FOUND, ("1Z12345E0205271688",)))
    assert result.events == ()
    [answer] = result.results
    assert answer.outcome is Outcome.NOT_FOUND
    assert answer.tracking_state is TrackingState.PENDING
    assert answer.message and "TW0001" in answer.message


def test_invalid_number_error_is_a_value() -> None:
    [answer] = ups.parse(observe("ups", INVALID, ("1Z0000",))).results
    assert answer.outcome is Outcome.INVALID
    assert answer.tracking_state is TrackingState.NOT_FOUND_FINAL


def test_unknown_error_code_is_unparseable() -> None:
    body = json.dumps({"response": {"errors": [{"code": "XX9999", "message": "?"}]}})
    with pytest.raises(UnparseableResponse) as info:
        ups.parse(observe("ups", body, ("1Z0000",)))
    assert info.value.field == "$.response.errors[0].code"
    assert info.value.raw == body


def test_customs_release_labelled_delivered_is_customs() -> None:
    result = ups.parse(observe("ups", DOC, ("1Z023E2X0214323462",)))
    [event] = result.events
    assert event.substatus == "in_transit.import_customs_released"
    assert (event.raw_status, event.raw_code) == ("X", "SR")
    assert "simplifiedTextDescription: Delivered" in event.raw_description
    assert all(e.status is not Status.DELIVERED for e in result.events)


def test_package_number_differing_from_inquiry_is_other_number() -> None:
    [answer] = ups.parse(observe("ups", DOC, ("1Z023E2X0214323462",))).results
    assert answer.outcome is Outcome.OTHER_NUMBER
    assert answer.answered == "string"  # the doc example's placeholder package number


def test_local_date_and_time_stay_naive() -> None:
    result = ups.parse(observe("ups", DELIVERED, (NUMBER,)))
    delivered, label = result.events
    assert delivered.substatus == "delivered.delivered"
    assert delivered.occurred_local == datetime(2022, 1, 26, 16, 30)
    assert delivered.occurred_at is None
    assert delivered.tz_provenance is TzProvenance.UNKNOWN
    assert label.substatus == "pre_transit.label_created"
    assert result.results[0].status is Status.DELIVERED  # newest activity, no currentStatus


def _with_activity(**fields: str) -> str:
    body = json.loads(DELIVERED)
    package = body["trackResponse"]["shipment"][0]["package"][0]
    package["activity"][0].update(fields)
    package["deliveryInformation"] = {"receivedBy": "SMITH"}
    return json.dumps(body)


def test_gmt_fields_give_the_instant() -> None:
    body = _with_activity(gmtDate="20220126", gmtTime="21:30:00", gmtOffset="-05:00")
    delivered = ups.parse(observe("ups", body, (NUMBER,))).events[0]
    assert delivered.occurred_at == datetime(2022, 1, 26, 21, 30, tzinfo=UTC)
    assert delivered.utc_offset_minutes == -300
    assert delivered.occurred_local == datetime(2022, 1, 26, 16, 30)
    assert delivered.tz_provenance is TzProvenance.CARRIER_UTC
    assert (delivered.substatus, delivered.signed_by) == ("delivered.signed", "SMITH")


def test_gmt_fields_that_contradict_local_time_are_kept_with_a_warning() -> None:
    body = _with_activity(gmtDate="20220126", gmtTime="23:30:00", gmtOffset="-05:00")
    result = ups.parse(observe("ups", body, (NUMBER,)))
    delivered = result.events[0]
    assert delivered.occurred_at == datetime(2022, 1, 26, 23, 30, tzinfo=UTC)
    assert delivered.occurred_local == datetime(2022, 1, 26, 16, 30)
    assert delivered.utc_offset_minutes is None
    assert any("disagrees" in w.message for w in result.warnings)


def test_unknown_status_type_is_unknown_with_a_warning() -> None:
    body = json.loads(DELIVERED)
    body["trackResponse"]["shipment"][0]["package"][0]["activity"][0]["status"]["type"] = "Z"
    result = ups.parse(observe("ups", body, (NUMBER,)))
    assert result.events[0].substatus == "unknown.other"
    assert any("'Z'" in w.message for w in result.warnings)


@responses.activate
def test_fetch_one_get_per_number_with_bearer_and_transaction_headers() -> None:
    base = "https://onlinetools.ups.com/api/track/v1/details"
    responses.get(f"{base}/{NUMBER}", body=DELIVERED, content_type="application/json")
    responses.get(
        f"{base}/1Z12345E0205271688", body=NOT_FOUND, status=404, content_type="application/json"
    )
    client = SourceClient(ups.SPEC, key="tok", policy=NO_RETRY)
    observations = ups.fetch(client, [NUMBER, "1Z12345E0205271688"])
    assert len(responses.calls) == 2
    for call in responses.calls:
        headers = call.request.headers
        assert headers["Authorization"] == "Bearer tok"
        assert headers["transactionSrc"] == "tracker"
        assert headers["transId"]
    outcomes = [ups.parse(o).results[0].outcome for o in observations]
    assert outcomes == [Outcome.FOUND, Outcome.NOT_FOUND]


@FUZZ
@given(json_payloads([DOC, DELIVERED, NOT_FOUND, INVALID]))
def test_parser_raises_nothing_but_unparseable(payload: object) -> None:
    check(ups.parse, observe("ups", payload, (NUMBER,)))
