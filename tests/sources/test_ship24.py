"""Ship24: multi-leg numbers, the spec's bogus strings, answers as values, HTTP shape, fuzz."""

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
    sample_text,
)
from tracker.errors import ConfigurationError
from tracker.model import Outcome, Status, TrackingState, TzProvenance
from tracker.sources import ship24
from tracker.sources.http import NO_RETRY, SourceClient

DEMO = sample_json("ship24", "trackers-results-demo-delivered.json")
WEBHOOK = sample_json("ship24", "webhook-tracking-events-delivered.json")
BASE = "https://ship24.test/public/v1"
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def parse(body: Any, *numbers: str) -> Any:
    return ship24.parse(observation("ship24", json.dumps(body), numbers))


def webhook_event(**fields: Any) -> dict[str, Any]:
    body = copy.deepcopy(WEBHOOK)
    body["trackings"][0]["events"][0].update(fields)
    return body


def test_each_leg_keeps_its_own_number_and_courier() -> None:
    events = parse(DEMO, "S24DEMO456393").events
    legs = {(e.source_number, e.reporting_carrier) for e in events}
    assert legs == {("S24DEMO169411", "us-post"), ("S24DEMO456393", "cn-post")}


def test_null_status_code_falls_back_to_the_milestone_without_a_warning() -> None:
    result = parse(DEMO, "S24DEMO456393")
    flight = next(e for e in result.events if e.raw_description == "Flight Departure")
    assert flight.raw_code is None
    assert flight.substatus == "in_transit.other"
    assert result.warnings == ()


def test_naive_occurrence_time_stays_a_wall_clock_only() -> None:
    event = parse(DEMO, "S24DEMO456393").events[0]
    assert event.occurred_local == datetime(2021, 3, 4, 17, 12, 57)
    assert event.occurred_at is None
    assert event.tz_provenance is TzProvenance.UNKNOWN


def test_spec_bug_strings_are_tolerated_and_datetime_is_the_aggregator_instant() -> None:
    event = parse(WEBHOOK).events[0]  # hasNoTime "false,", utcOffset "null,"
    assert event.occurred_at == datetime(2025, 3, 4, 17, 12, 57, tzinfo=UTC)
    assert event.utc_offset_minutes is None
    assert event.tz_provenance is TzProvenance.AGGREGATOR_UTC
    assert "utcOffset=null," in (event.raw_time or "")


def test_a_real_offset_that_agrees_is_kept_and_one_that_disagrees_is_dropped() -> None:
    agree = webhook_event(utcOffset="-08:00", datetime="2025-03-05T01:12:57Z")
    event = parse(agree).events[0]
    assert event.utc_offset_minutes == -480
    disagree = webhook_event(utcOffset="+02:00", datetime="2025-03-05T01:12:57Z")
    event = parse(disagree).events[0]
    assert event.utc_offset_minutes is None
    assert event.occurred_at == datetime(2025, 3, 5, 1, 12, 57, tzinfo=UTC)


def test_has_no_time_means_no_instant() -> None:
    event = parse(webhook_event(hasNoTime=True)).events[0]
    assert event.occurred_at is None
    assert event.occurred_local == datetime(2025, 3, 4, 17, 12, 57)


def test_signed_by_goes_on_delivered_events_only() -> None:
    body = copy.deepcopy(DEMO)
    body["data"]["trackings"][0]["shipment"]["delivery"]["signedBy"] = "J DOE"
    events = parse(body, "S24DEMO456393").events
    assert [e.signed_by for e in events if e.status is Status.DELIVERED] == ["J DOE"]
    assert {e.signed_by for e in events if e.status is not Status.DELIVERED} == {None}


def test_last_mile_number_is_found_through_shipment_tracking_numbers() -> None:
    (result,) = parse(DEMO, "S24DEMO169411").results
    assert result.outcome is Outcome.FOUND
    assert result.answered == "S24DEMO456393"


def test_answer_for_another_number_is_other_number() -> None:
    (result,) = parse(DEMO, "LZ000000000CN").results
    assert result.outcome is Outcome.OTHER_NUMBER
    assert result.answered == "S24DEMO456393"


def test_tracker_without_events_is_pending_not_found() -> None:
    body = copy.deepcopy(DEMO)
    tracking = body["data"]["trackings"][0]
    tracking["events"] = []
    tracking["shipment"]["statusMilestone"] = "pending"
    (result,) = parse(body, "S24DEMO456393").results
    assert result.outcome is Outcome.NOT_FOUND
    assert result.tracking_state is TrackingState.PENDING


def test_unknown_status_code_is_unknown_with_a_warning() -> None:
    result = parse(webhook_event(statusCode="delivery_teleported"))
    assert result.events[0].status is Status.UNKNOWN
    assert "delivery_teleported" in result.warnings[0].message


@responses.activate
def test_fetch_posts_each_number_with_the_bearer_key() -> None:
    responses.post(
        f"{BASE}/trackers/track", body=sample_text("ship24", "tracker-results-example.json")
    )
    client = SourceClient(ship24.SPEC, base_url=BASE, key="s24key", policy=NO_RETRY)
    observations = ship24.fetch(client, ["9400115901047177598206", "S24DEMO456393"])
    assert len(responses.calls) == 2
    first = responses.calls[0].request
    assert first.headers["Authorization"] == "Bearer s24key"
    assert json.loads(first.body or b"{}") == {"trackingNumber": "9400115901047177598206"}
    assert [o.numbers for o in observations] == [("9400115901047177598206",), ("S24DEMO456393",)]
    assert ship24.parse(observations[1]).results[0].outcome is Outcome.OTHER_NUMBER


def test_fetch_without_a_key_names_the_setting() -> None:
    client = SourceClient(ship24.SPEC, base_url=BASE, key=None, policy=NO_RETRY)
    with pytest.raises(ConfigurationError, match="TRACKER_SHIP24_KEY"):
        ship24.fetch(client, ["X"])


SAMPLES = [DEMO, WEBHOOK, sample_json("ship24", "tracker-results-example.json")]


@FUZZ
@given(st.sampled_from(SAMPLES).flatmap(mutated_json))
def test_mutated_samples_parse_or_raise_unparseable(payload: Any) -> None:
    parse_or_unparseable(ship24.parse, observation("ship24", payload))
    parse_or_unparseable(ship24.parse, observation("ship24", json.dumps(payload), ()))


@FUZZ
@given(
    st.text()
    | st.sampled_from([json.dumps(s) for s in SAMPLES]).flatmap(
        lambda t: st.integers(0, len(t) - 1).map(lambda n: t[:n])
    )
)
def test_random_and_truncated_text_parse_or_raise_unparseable(text: str) -> None:
    parse_or_unparseable(ship24.parse, observation("ship24", text))
