"""Cainiao adapter: key behaviours, HTTP shape, and parser robustness."""

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
from tracker.errors import UnparseableResponse
from tracker.model import Observation, Outcome, Status, TrackingState, TzProvenance
from tracker.sources import cainiao
from tracker.sources.http import NO_RETRY, SourceClient

FIXTURES = Path(__file__).parent.parent / "fixtures" / "cainiao"
JOURNEY = load(FIXTURES / "detail-cn-de-delivered.json")
STATION = load(FIXTURES / "detail-pickup-station-signed.json")
OTHER = load(FIXTURES / "detail-other-mailno.json")
UNKNOWN = load(FIXTURES / "detail-unknown-number.json")
TRAPS = load(FIXTURES / "detail-timezone-traps.json")
BASE = "https://cainiao.test"


def parse(body: Any, *numbers: str) -> Any:
    return cainiao.parse(Observation(source="cainiao", payload=json.dumps(body),
                                     fetched_at=FETCHED_AT, numbers=numbers))


def one_event(**fields: Any) -> dict[str, Any]:
    body = copy.deepcopy(JOURNEY)
    module = body["module"][0]
    event = {"actionCode": "LH_ARRIVE", "time": 1791261660000, "timeStr": "2026-10-06 12:41:00",
             "timeZone": "GMT+02:00", "desc": "Arrived"}
    event.update(fields)
    module["detailList"] = [event]
    module["latestTrace"] = event
    return body


def test_pickup_station_signing_is_not_delivered() -> None:
    result = parse(STATION, "LP00523456789012")
    newest = result.events[0]
    assert newest.raw_code == "GTMS_STA_SIGNED"
    assert newest.substatus == "available_for_pickup.station_received"
    assert all(e.status is not Status.DELIVERED for e in result.events)
    [answer] = result.results
    assert answer.status is Status.AVAILABLE_FOR_PICKUP  # not the loose "DELIVERED" token


def test_recipient_signing_is_delivered_by_the_last_mile_carrier() -> None:
    newest = parse(JOURNEY).events[0]
    assert newest.substatus == "delivered.signed"
    assert newest.reporting_carrier == "DHL Paket"


def test_answer_for_another_mail_no_is_other_number() -> None:
    result = parse(OTHER, "LP00598765432101")
    [answer] = result.results
    assert answer.outcome is Outcome.OTHER_NUMBER
    assert answer.answered == "LP00598765432110"
    assert {e.source_number for e in result.events} == {"LP00598765432110"}


def test_unknown_number_is_a_not_found_value() -> None:
    result = parse(UNKNOWN, "LP00500000000000")
    [answer] = result.results
    assert answer.outcome is Outcome.NOT_FOUND
    assert answer.tracking_state is TrackingState.PENDING
    assert result.events == ()


def test_number_missing_from_a_batch_answer_is_not_found() -> None:
    results = parse(JOURNEY, "LP00512345678901", "LP00511111111111").results
    assert [(r.requested, r.outcome) for r in results] == [
        ("LP00512345678901", Outcome.FOUND), ("LP00511111111111", Outcome.NOT_FOUND)]


def test_the_instant_is_the_epoch_never_time_str() -> None:
    # timeStr is Beijing time (+8 h) although timeZone says GMT+2.
    [event] = parse(one_event()).events
    assert event.occurred_at == datetime(2026, 10, 6, 4, 41, tzinfo=UTC)
    assert event.occurred_local == datetime(2026, 10, 6, 6, 41)
    assert event.utc_offset_minutes == 120
    assert event.tz_provenance is TzProvenance.CARRIER_UTC
    assert "12:41:00" in (event.raw_time or "")  # the misleading string is kept, not used


@pytest.mark.parametrize(("zone", "offset"), [
    ("GMT+0", 0), ("GMT-3", -180), ("GMT+0800", 480), ("GMT+08:00", 480), ("GMT+2", 120),
    ("", None), ("Europe/Dublin", None), (None, None),
])
def test_time_zone_gives_the_offset_only_when_readable(zone: Any, offset: int | None) -> None:
    [event] = parse(one_event(timeZone=zone)).events
    assert event.occurred_at == datetime(2026, 10, 6, 4, 41, tzinfo=UTC)
    assert event.utc_offset_minutes == offset
    assert (event.occurred_local is None) == (offset is None)


def test_event_without_epoch_has_no_instant_and_a_warning() -> None:
    result = parse(one_event(time=None))
    [event] = result.events
    assert (event.occurred_at, event.occurred_local) == (None, None)
    assert any("epoch" in w.message for w in result.warnings)


def test_code_families_and_unknown_codes() -> None:
    assert parse(one_event(actionCode="TD_TRANS_ARRIVE_C")).events[0].substatus == \
        "in_transit.transit_country"
    assert parse(one_event(actionCode="CW_INBOUND")).events[0].substatus == \
        "in_transit.origin_facility"
    assert parse(one_event(actionCode="GTMS_STA_HOME_TO_DOOR")).events[0].substatus == \
        "in_transit.forwarded"
    result = parse(one_event(actionCode="GTMS_TELEPORTED"))
    assert result.events[0].substatus == "unknown.other"
    assert any("GTMS_TELEPORTED" in w.message for w in result.warnings)


def test_failed_call_is_unparseable_and_keeps_the_body() -> None:
    body = {"success": False, "errorCode": "SYSTEM_BUSY", "errorMsg": "try later"}
    with pytest.raises(UnparseableResponse) as info:
        parse(body, "LP00512345678901")
    assert info.value.field == "success"
    assert "SYSTEM_BUSY" in str(info.value.raw)


def test_html_block_page_is_unparseable() -> None:
    with pytest.raises(UnparseableResponse, match="cainiao"):
        cainiao.parse(Observation(source="cainiao", payload="<html>unusual traffic</html>",
                                  fetched_at=FETCHED_AT))


# ----------------------------------------------------------------------------- HTTP


@responses.activate
def test_fetch_batches_ten_comma_separated_numbers_without_credentials() -> None:
    responses.get(f"{BASE}/global/detail.json", json=UNKNOWN)
    numbers = [f"LP005{i:011d}" for i in range(25)]
    client = SourceClient(cainiao.SPEC, base_url=BASE, policy=NO_RETRY)
    observations = cainiao.fetch(client, numbers)
    assert len(responses.calls) == 3
    sent = [c.request.params["mailNos"].split(",") for c in responses.calls]
    assert sent == [numbers[:10], numbers[10:20], numbers[20:]]
    assert all("Authorization" not in c.request.headers for c in responses.calls)
    results = [r for o in observations for r in cainiao.parse(o).results]
    assert len({r.requested for r in results}) == 25
    assert {r.outcome for r in results} == {Outcome.NOT_FOUND}


# ----------------------------------------------------------------------------- robustness

SAMPLES = [JOURNEY, STATION, OTHER, UNKNOWN, TRAPS]
TEXTS = [p.read_text() for p in sorted(FIXTURES.glob("*.json")) if ".expected." not in p.name]
KEYS = sorted({k for s in SAMPLES for k in keys_of(s)})
FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.sampled_from(SAMPLES).flatmap(mutated))
def test_mutated_samples_parse_or_raise_unparseable(payload: Any) -> None:
    check_parse(cainiao.parse, "cainiao", json.dumps(payload), ("LP00512345678901",))


@FUZZ
@given(json_values(KEYS))
def test_random_json_parses_or_raises_unparseable(payload: Any) -> None:
    check_parse(cainiao.parse, "cainiao", payload)
    check_parse(cainiao.parse, "cainiao", {"success": True, "module": payload})
    check_parse(cainiao.parse, "cainiao", {"success": True, "module": [payload]})


@FUZZ
@given(st.sampled_from(TEXTS).flatmap(truncated))
def test_truncated_bodies_raise_unparseable(text: str) -> None:
    check_parse(cainiao.parse, "cainiao", text)
