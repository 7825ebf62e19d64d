"""Royal Mail: offsets, error bodies (per number vs per request), signature, HTTP, fuzz."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
import responses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.sources.postal_fuzz import (
    mutated_json,
    observation,
    parse_or_unparseable,
    sample_json,
)
from tracker.errors import ConfigurationError, SourceRequestRejected
from tracker.model import Outcome, Status, TzProvenance
from tracker.sources import royalmail
from tracker.sources.http import NO_RETRY, SourceClient

EVENTS = sample_json("royalmail", "mailpieces-v2-events-in-transit.json")
HEADER_ERROR = sample_json("royalmail", "error-header-validation.json")
NOT_RECOGNISED = {
    "httpCode": "404",
    "httpMessage": "Not Found",
    "errors": [{"errorCode": "E1142", "errorDescription": "Barcode reference isn't recognised"}],
}
BASE = "https://royalmail.test/mailpieces/v2"
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def parse(body: Any, *numbers: str) -> Any:
    return royalmail.parse(observation("royalmail", json.dumps(body), numbers))


def test_event_time_keeps_wall_clock_offset_and_instant() -> None:
    event = parse(EVENTS).events[0]
    assert event.occurred_local == datetime(2016, 10, 20, 10, 4)
    assert event.utc_offset_minutes == 60
    assert event.occurred_at == datetime(2016, 10, 20, 9, 4, tzinfo=UTC)
    assert event.tz_provenance is TzProvenance.CARRIER_OFFSET
    assert event.substatus == "exception.missorted"


def test_unrecognised_barcode_is_a_not_found_value() -> None:
    (result,) = parse(NOT_RECOGNISED, "AB123456789GB").results
    assert result.outcome is Outcome.NOT_FOUND
    assert result.message is not None and "E1142" in result.message


def test_request_level_error_says_nothing_about_the_number() -> None:
    result = parse(HEADER_ERROR, "AB123456789GB")
    assert result.results == ()
    assert "E0004" in result.warnings[0].message


def test_signature_goes_on_the_delivery_event() -> None:
    body = copy.deepcopy(EVENTS)
    body["mailPieces"]["events"].insert(
        0,
        {
            "eventCode": "EVKSP",
            "eventName": "Delivered",
            "eventDateTime": "2016-10-21T09:00:00+01:00",
            "locationName": "Stafford DO",
        },
    )
    result = parse(body, "FQ087430672GB")
    delivered = [e for e in result.events if e.status is Status.DELIVERED]
    assert [e.signed_by for e in delivered] == ["Simon"]
    assert result.warnings == ()


def test_signature_without_delivery_is_flagged() -> None:
    result = parse(EVENTS, "FQ087430672GB")
    assert {e.signed_by for e in result.events} == {None}
    assert "no delivery event" in result.warnings[0].message


def test_other_number_is_reported() -> None:
    (result,) = parse(EVENTS, "ZZ000000000GB").results
    assert result.outcome is Outcome.OTHER_NUMBER
    assert result.answered == "FQ087430672GB"


@responses.activate
def test_fetch_sends_ibm_headers_and_terms_and_returns_not_found_as_value() -> None:
    responses.get(f"{BASE}/AB123456789GB/events", json=NOT_RECOGNISED, status=404)
    client = SourceClient(royalmail.SPEC, base_url=BASE, key="cid:csecret", policy=NO_RETRY)
    (obs,) = royalmail.fetch(client, ["AB123456789GB"])
    headers = responses.calls[0].request.headers
    assert headers["X-IBM-Client-Id"] == "cid"
    assert headers["X-IBM-Client-Secret"] == "csecret"
    assert headers["X-Accept-RMG-Terms"] == "yes"
    assert royalmail.parse(obs).results[0].outcome is Outcome.NOT_FOUND


@responses.activate
def test_fetch_raises_request_errors_instead_of_storing_them() -> None:
    responses.get(f"{BASE}/AB123456789GB/events", json=HEADER_ERROR, status=400)
    client = SourceClient(royalmail.SPEC, base_url=BASE, key="cid:csecret", policy=NO_RETRY)
    with pytest.raises(SourceRequestRejected, match="E0004"):
        royalmail.fetch(client, ["AB123456789GB"])


def test_fetch_needs_id_and_secret() -> None:
    client = SourceClient(royalmail.SPEC, base_url=BASE, key="only-id", policy=NO_RETRY)
    with pytest.raises(ConfigurationError, match="TRACKER_ROYALMAIL_KEY"):
        royalmail.fetch(client, ["X"])


SAMPLES = [EVENTS, HEADER_ERROR, NOT_RECOGNISED]


@FUZZ
@given(st.sampled_from(SAMPLES).flatmap(mutated_json))
def test_mutated_samples_parse_or_raise_unparseable(payload: Any) -> None:
    parse_or_unparseable(royalmail.parse, observation("royalmail", payload))


@FUZZ
@given(
    st.text()
    | st.sampled_from([json.dumps(s) for s in SAMPLES]).flatmap(
        lambda t: st.integers(0, len(t) - 1).map(lambda n: t[:n])
    )
)
def test_random_and_truncated_text_parse_or_raise_unparseable(text: str) -> None:
    parse_or_unparseable(royalmail.parse, observation("royalmail", text))
