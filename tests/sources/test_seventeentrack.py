"""17TRACK adapter: key behaviours, HTTP shape, and parser robustness."""

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
from tracker.sources import seventeentrack
from tracker.sources.http import NO_RETRY, SourceClient

FIXTURES = Path(__file__).parent.parent / "fixtures" / "17track"
CORREIOS = load(FIXTURES / "api-v2.4-gettrackinfo-correios-2151.json")
YANWEN = load(FIXTURES / "api-v2.4-gettrackinfo-yanwen-190012.json")
PROFILE = load(FIXTURES / "profile-packages-response-timezones.json")
BASE = "https://17track.test/track/v2.4"


def parse(body: Any, *numbers: str) -> Any:
    return seventeentrack.parse(Observation(source="17track", payload=json.dumps(body),
                                            fetched_at=FETCHED_AT, numbers=numbers))


def first_event(body: dict[str, Any]) -> dict[str, Any]:
    event: dict[str, Any] = body["data"]["accepted"][0]["track_info"]["tracking"][
        "providers"][0]["events"][0]
    return event


# ----------------------------------------------------------------------------- behaviour


def test_null_time_utc_falls_back_to_the_raw_wall_clock_without_inventing_an_instant() -> None:
    delivered = parse(CORREIOS, "AA123456789BR").events[0]
    assert delivered.status is Status.DELIVERED
    assert delivered.occurred_local == datetime(2026, 6, 30, 14, 23)
    assert delivered.occurred_at is None
    assert delivered.utc_offset_minutes is None
    assert delivered.tz_provenance is TzProvenance.UNKNOWN
    assert "14:23:00" in (delivered.raw_time or "")


def test_iso_and_utc_that_agree_give_wall_clock_offset_and_instant() -> None:
    picked_up = parse(CORREIOS).events[-1]
    assert picked_up.occurred_local == datetime(2026, 6, 25, 10, 12)
    assert picked_up.utc_offset_minutes == -180
    assert picked_up.occurred_at == datetime(2026, 6, 25, 13, 12, tzinfo=UTC)


def test_time_utc_alone_is_an_aggregator_instant() -> None:
    body = copy.deepcopy(CORREIOS)
    event = first_event(body)
    event["time_utc"] = "2026-06-30T17:23:00Z"
    got = parse(body).events[0]
    assert got.occurred_at == datetime(2026, 6, 30, 17, 23, tzinfo=UTC)
    assert got.tz_provenance is TzProvenance.AGGREGATOR_UTC
    assert got.occurred_local == datetime(2026, 6, 30, 14, 23)  # from time_raw
    assert got.utc_offset_minutes is None


def test_iso_and_utc_that_disagree_keep_utc_drop_the_offset_and_warn() -> None:
    body = copy.deepcopy(CORREIOS)
    event = first_event(body)
    event.update(time_iso="2026-06-30T14:23:00+05:30", time_utc="2026-06-30T09:23:00Z")
    got = parse(body)
    delivered = got.events[0]
    assert delivered.occurred_at == datetime(2026, 6, 30, 9, 23, tzinfo=UTC)
    assert delivered.utc_offset_minutes is None
    assert delivered.tz_provenance is TzProvenance.AGGREGATOR_UTC
    assert any("disagree" in w.message for w in got.warnings)


def test_delivered_with_contradicting_text_stays_mapped_by_code() -> None:
    body = copy.deepcopy(CORREIOS)
    first_event(body)["description"] = "Not delivered - returned to sender"
    delivered = parse(body).events[0]
    assert delivered.substatus == "delivered.delivered"
    assert delivered.raw_description.startswith("Not delivered")


def test_unknown_sub_status_is_unknown_with_a_warning() -> None:
    result = parse(YANWEN)
    odd = [e for e in result.events if e.raw_substatus == "InTransit_QuantumTunnelling"]
    assert [e.substatus for e in odd] == ["unknown.other"]
    assert any("InTransit_QuantumTunnelling" in w.message for w in result.warnings)


def test_rejected_number_is_a_not_found_value() -> None:
    results = {r.requested: r for r in parse(YANWEN, "YT2616912345678901",
                                             "21213123123230").results}
    assert results["21213123123230"].outcome is Outcome.NOT_FOUND
    assert results["21213123123230"].tracking_state is TrackingState.PENDING
    assert "-18019902" in (results["21213123123230"].message or "")
    assert results["YT2616912345678901"].outcome is Outcome.FOUND


def test_accepted_number_differing_from_the_request_is_other_number() -> None:
    result = parse(CORREIOS, "AA123456780BR")
    [answer] = result.results
    assert answer.outcome is Outcome.OTHER_NUMBER
    assert answer.answered == "AA123456789BR"
    assert {e.source_number for e in result.events} == {"AA123456789BR"}


def test_number_written_with_spaces_is_the_same_number() -> None:
    [answer] = parse(CORREIOS, "aa 123 456 789 br").results
    assert answer.outcome is Outcome.FOUND


def test_a_requested_number_missing_from_the_answer_is_not_found() -> None:
    results = parse(CORREIOS, "AA123456789BR", "ZZ000000000ZZ").results
    missing = [r for r in results if r.requested == "ZZ000000000ZZ"]
    assert [r.outcome for r in missing] == [Outcome.NOT_FOUND]


def test_expired_is_a_stale_subscription_not_a_parcel_status() -> None:
    body = copy.deepcopy(CORREIOS)
    body["data"]["accepted"][0]["track_info"]["latest_status"] = {
        "status": "Expired", "sub_status": "Expired_Other"}
    [answer] = parse(body).results
    assert answer.tracking_state is TrackingState.STALE
    assert answer.status is None


def test_customs_in_the_shippers_country_is_export_customs() -> None:
    body = copy.deepcopy(YANWEN)
    first = first_event(body)
    first["sub_status"] = "InTransit_CustomsProcessing"
    first["address"]["country"] = "CN"
    assert parse(body).events[0].substatus == "in_transit.export_customs_started"
    first["address"]["country"] = "US"
    assert parse(body).events[0].substatus == "in_transit.import_customs_processing"


def test_tracking_updated_push_parses_like_gettrackinfo() -> None:
    item = CORREIOS["data"]["accepted"][0]
    push = {"event": "TRACKING_UPDATED", "data": {k: item[k] for k in
                                                 ("number", "carrier", "tag", "track_info")}}
    assert parse(push, "AA123456789BR").events == parse(CORREIOS, "AA123456789BR").events


def test_failed_call_is_unparseable_naming_the_field_and_keeping_the_body() -> None:
    body = {"code": -18010002, "data": {"errors": [{"code": -18010002, "message": "bad key"}]}}
    with pytest.raises(UnparseableResponse) as info:
        parse(body)
    assert info.value.field == "code"
    assert info.value.source == "17track"
    assert "bad key" in str(info.value.raw)


def test_legacy_profile_offsets_apply_only_when_readable() -> None:
    events = parse(PROFILE).events
    assert events[0].occurred_at == datetime(2019, 2, 26, 15, 5, 34, tzinfo=UTC)
    assert events[1].occurred_at is None  # tz null
    assert events[3].occurred_local == datetime(2019, 2, 26, 15, 5, 34)  # t "42:05:34" -> a
    assert events[4].utc_offset_minutes is None  # dd as a list: not trusted
    assert len({e.shipment_ref for e in events}) == 5


def test_legacy_package_state_maps_like_v1_codes() -> None:
    body = copy.deepcopy(PROFILE)
    body["Json"] = body["Json"][:1]
    body["Json"][0]["FPackageState"] = 40
    result = parse(body)
    assert result.events[0].status is Status.DELIVERED
    assert result.events[0].location.text == "Spain"  # a name stays text
    assert result.events[0].location.country is None
    assert result.warnings == ()


# ----------------------------------------------------------------------------- HTTP


def client(key: str | None = "k-17") -> SourceClient:
    return SourceClient(seventeentrack.SPEC, base_url=BASE, key=key, policy=NO_RETRY)


@responses.activate
def test_fetch_batches_by_forty_with_the_17token_header() -> None:
    responses.post(f"{BASE}/gettrackinfo", json={"code": 0, "data": {"accepted": [],
                                                                       "rejected": []}})
    numbers = [f"LP{i:014d}" for i in range(45)]
    observations = seventeentrack.fetch(client(), numbers)
    assert len(responses.calls) == 2
    bodies = [json.loads(call.request.body or b"[]") for call in responses.calls]
    assert [len(b) for b in bodies] == [40, 5]
    assert bodies[0][0] == {"number": "LP00000000000000"}
    assert all(call.request.headers["17token"] == "k-17" for call in responses.calls)
    assert [len(o.numbers) for o in observations] == [40, 5]
    results = [r for o in observations for r in seventeentrack.parse(o).results]
    assert len(results) == 45
    assert {r.outcome for r in results} == {Outcome.NOT_FOUND}


@responses.activate
def test_fetched_not_found_numbers_come_back_as_values() -> None:
    responses.post(f"{BASE}/gettrackinfo", json=YANWEN)
    [observation] = seventeentrack.fetch(client(), ["YT2616912345678901", "21213123123230"])
    assert observation.payload == json.dumps(YANWEN)
    outcomes = {r.requested: r.outcome for r in seventeentrack.parse(observation).results}
    assert outcomes == {"YT2616912345678901": Outcome.FOUND,
                        "21213123123230": Outcome.NOT_FOUND}


def test_fetch_without_a_key_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="TRACKER_17TRACK_KEY"):
        seventeentrack.fetch(client(key=None), ["X"])


# ----------------------------------------------------------------------------- robustness

SAMPLES = [load(p) for p in sorted(FIXTURES.glob("*.json")) if ".expected." not in p.name]
TEXTS = [p.read_text() for p in sorted(FIXTURES.glob("*.json")) if ".expected." not in p.name]
KEYS = sorted({k for s in SAMPLES for k in keys_of(s)})
FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.sampled_from(SAMPLES).flatmap(mutated))
def test_mutated_samples_parse_or_raise_unparseable(payload: Any) -> None:
    check_parse(seventeentrack.parse, "17track", json.dumps(payload), ("AA123456789BR",))


@FUZZ
@given(json_values(KEYS))
def test_random_json_parses_or_raises_unparseable(payload: Any) -> None:
    check_parse(seventeentrack.parse, "17track", payload)
    check_parse(seventeentrack.parse, "17track", {"code": 0, "data": payload})
    check_parse(seventeentrack.parse, "17track", {"event": "TRACKING_UPDATED", "data": payload})


@FUZZ
@given(st.sampled_from(TEXTS).flatmap(truncated))
def test_truncated_bodies_raise_unparseable(text: str) -> None:
    check_parse(seventeentrack.parse, "17track", text)
