"""AfterShip adapter: key behaviours, HTTP shape, and parser robustness."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import responses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.sources.aggregator_fuzz import (
    FETCHED_AT,
    check_parse,
    json_values,
    keys_of,
    load,
    mutated,
    truncated,
)
from tracker.errors import ConfigurationError, UnparseableResponse
from tracker.model import Observation, Outcome, Status, TrackingState, TzProvenance
from tracker.sources import aftership
from tracker.sources.http import NO_RETRY, SourceClient

FIXTURES = Path(__file__).parent.parent / "fixtures" / "aftership"
POSTNL = load(FIXTURES / "v4-get-tracking-postnl-3s-in-transit.json")
LISTED = load(FIXTURES / "v4-list-trackings-fedex-delivered-ups-expired.json")
BASE = "https://aftership.test/tracking/2024-04"


def parse(body: Any, *numbers: str) -> Any:
    return aftership.parse(Observation(source="aftership", payload=json.dumps(body),
                                       fetched_at=FETCHED_AT, numbers=numbers))


def tracking(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(POSTNL)
    body["data"]["tracking"].update(changes)
    return body


def test_checkpoint_time_with_offset_is_a_full_reading() -> None:
    arrived = parse(POSTNL).events[-1]
    assert arrived.occurred_local == datetime(2021, 3, 25, 10, 59)
    assert arrived.utc_offset_minutes == 60
    assert arrived.occurred_at == datetime(2021, 3, 25, 9, 59, tzinfo=UTC)
    assert arrived.tz_provenance is TzProvenance.CARRIER_OFFSET


def test_naive_checkpoint_time_is_a_wall_clock_only() -> None:
    body = copy.deepcopy(POSTNL)
    body["data"]["tracking"]["checkpoints"][-1]["checkpoint_time"] = "2021-03-25T10:59:00"
    arrived = parse(body).events[-1]
    assert arrived.occurred_local == datetime(2021, 3, 25, 10, 59)
    assert arrived.occurred_at is None
    assert arrived.tz_provenance is TzProvenance.UNKNOWN


def test_iso3_countries_become_iso2_and_names_stay_text() -> None:
    events = parse(POSTNL).events
    assert events[-1].location.country == "ES"  # country_iso3 ESP
    body = copy.deepcopy(POSTNL)
    checkpoint = body["data"]["tracking"]["checkpoints"][-1]
    checkpoint.update(country_iso3=None, country_name="Spain", location=None)
    location = parse(body).events[-1].location
    assert (location.country, location.text) == (None, "Spain")


def test_expired_is_a_stale_subscription_not_a_parcel_status() -> None:
    results = {r.requested: r for r in parse(LISTED).results}
    expired = results["2222222222222"]
    assert expired.tracking_state is TrackingState.STALE
    assert expired.status is None
    assert results["1111111111111"].status is Status.DELIVERED


def test_pending_is_not_found_yet() -> None:
    body = tracking(tag="Pending", subtag="Pending_001", checkpoints=[])
    [result] = parse(body, "3SKAAG5995399").results
    assert result.outcome is Outcome.NOT_FOUND
    assert result.tracking_state is TrackingState.PENDING


def test_tracking_for_another_number_is_other_number() -> None:
    [result] = parse(POSTNL, "3SKAAG5995398").results
    assert result.outcome is Outcome.OTHER_NUMBER
    assert result.answered == "3SKAAG5995399"


def test_several_trackings_under_one_number_are_shipments() -> None:
    body = copy.deepcopy(LISTED)
    for item in body["data"]["trackings"]:
        item["tracking_number"] = "1111111111111"
    result = parse(body, "1111111111111")
    [answer] = result.results
    assert answer.shipments == 3
    assert {e.shipment_ref for e in result.events} == {"fedex"}


def test_delivered_event_carries_signed_by_and_returns_are_returns() -> None:
    events = parse(LISTED).events
    delivered = [e for e in events if e.status is Status.DELIVERED]
    assert [e.signed_by for e in delivered] == ["Signature not required"]
    body = tracking(subtag="Exception_011")
    body["data"]["tracking"]["checkpoints"][-1]["subtag"] = "Exception_011"
    assert parse(body).events[-1].substatus == "returned.returned_to_sender"


def test_unknown_subtag_is_unknown_with_a_warning() -> None:
    body = copy.deepcopy(POSTNL)
    body["data"]["tracking"]["checkpoints"][0]["subtag"] = "InTransit_099"
    result = parse(body)
    assert result.events[0].substatus == "unknown.other"
    assert any("InTransit_099" in w.message for w in result.warnings)


def test_not_found_meta_code_is_a_value() -> None:
    body = {"meta": {"code": 4004, "message": "Tracking does not exist.", "type": "NotFound"},
            "data": {}}
    [result] = parse(body, "3SKAAG5995399").results
    assert result.outcome is Outcome.NOT_FOUND


def test_unexpected_meta_without_tracking_is_unparseable() -> None:
    with pytest.raises(UnparseableResponse) as info:
        parse({"meta": {"code": 500, "message": "boom"}, "data": None}, "X")
    assert info.value.field == "meta.code"
    assert info.value.raw is not None


def test_webhook_push_parses_its_msg() -> None:
    push = {"event": "tracking_update", "event_id": "e-1", "is_tracking_first_tag": False,
            "msg": POSTNL["data"]["tracking"], "ts": 1616720268}
    assert parse(push, "3SKAAG5995399").events == parse(POSTNL, "3SKAAG5995399").events


# ----------------------------------------------------------------------------- HTTP


def client(key: str | None = "as-key") -> SourceClient:
    return SourceClient(aftership.SPEC, base_url=BASE, key=key, policy=NO_RETRY)


@responses.activate
def test_fetch_one_get_per_number_with_the_api_key_header() -> None:
    responses.get(f"{BASE}/trackings", json={"meta": {"code": 200},
                                             "data": {"trackings": []}})
    observations = aftership.fetch(client(), ["A1", "B2", "C3"])
    assert len(responses.calls) == 3
    assert [c.request.params["tracking_numbers"] for c in responses.calls] == ["A1", "B2", "C3"]
    assert all(c.request.headers["as-api-key"] == "as-key" for c in responses.calls)
    outcomes = [r.outcome for o in observations for r in aftership.parse(o).results]
    assert outcomes == [Outcome.NOT_FOUND] * 3


@responses.activate
def test_fetch_404_not_found_comes_back_as_a_value() -> None:
    responses.get(f"{BASE}/trackings", status=404,
                  json={"meta": {"code": 4004, "message": "Tracking does not exist."},
                        "data": {}})
    [observation] = aftership.fetch(client(), ["3SKAAG5995399"])
    assert observation.http_status == 404
    [result] = aftership.parse(observation).results
    assert (result.requested, result.outcome) == ("3SKAAG5995399", Outcome.NOT_FOUND)


def test_fetch_without_a_key_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="TRACKER_AFTERSHIP_KEY"):
        aftership.fetch(client(key=None), ["X"])


# ----------------------------------------------------------------------------- robustness

SAMPLES = [POSTNL, LISTED]
TEXTS = [p.read_text() for p in sorted(FIXTURES.glob("*.json")) if ".expected." not in p.name]
KEYS = sorted({k for s in SAMPLES for k in keys_of(s)})
FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.sampled_from(SAMPLES).flatmap(mutated))
def test_mutated_samples_parse_or_raise_unparseable(payload: Any) -> None:
    check_parse(aftership.parse, "aftership", json.dumps(payload), ("3SKAAG5995399",))


@FUZZ
@given(json_values(KEYS))
def test_random_json_parses_or_raises_unparseable(payload: Any) -> None:
    check_parse(aftership.parse, "aftership", payload)
    check_parse(aftership.parse, "aftership", {"meta": {"code": 200}, "data": payload})
    check_parse(aftership.parse, "aftership", {"event": "tracking_update", "msg": payload})


@FUZZ
@given(st.sampled_from(TEXTS).flatmap(truncated))
def test_truncated_bodies_raise_unparseable(text: str) -> None:
    check_parse(aftership.parse, "aftership", text)
