"""PostNL: scans paired with status rows, 99 filler, Dutch wall clock, answers, HTTP, fuzz."""

from __future__ import annotations

import copy
import json
from datetime import datetime
from typing import Any

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
from tracker.model import Outcome, Status, TzProvenance
from tracker.sources import postnl
from tracker.sources.http import NO_RETRY, SourceClient

DELIVERED = sample_json("postnl", "shippingstatus-completestatus-delivered.json")
RECEIVED = sample_json("postnl", "shippingstatus-completestatus-received.json")
UPDATED = sample_json("postnl", "shippingstatus-updatedshipments.json")
BASE = "https://postnl.test/shipment/v2/status"
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def parse(body: Any, *numbers: str) -> Any:
    return postnl.parse(observation("postnl", json.dumps(body), numbers))


def test_status_code_99_rows_are_skipped_without_a_warning() -> None:
    result = parse(DELIVERED, "3SABCD987516327")
    assert "99" not in {e.raw_status for e in result.events}
    assert not any("Niet van toepassing" in e.raw_description for e in result.events)
    assert result.warnings == ()


def test_delivery_comes_from_status_11_phase_4_paired_with_its_scan() -> None:
    delivered = [e for e in parse(DELIVERED).events if e.status is Status.DELIVERED]
    assert len(delivered) == 1
    event = delivered[0]
    assert (event.raw_code, event.raw_status, event.raw_substatus) == ("01B", "11", "4")
    assert event.raw_description == "Zending is bezorgd"


def test_status_22_in_phase_4_is_collected_by_the_recipient() -> None:
    collected = next(e for e in parse(UPDATED).events if e.raw_status == "22")
    assert collected.substatus == "delivered.picked_up_by_recipient"
    assert collected.occurred_local == datetime(2021, 3, 1, 14, 31, 8)


def test_scan_and_status_a_day_apart_are_both_kept() -> None:
    sorted_events = [e for e in parse(DELIVERED).events if "gesorteerd" in e.raw_description]
    assert sorted(e.occurred_local for e in sorted_events if e.occurred_local) == [
        datetime(2021, 3, 25, 9, 30, 58),
        datetime(2021, 3, 26, 9, 30, 58),
    ]


def test_times_are_dutch_wall_clock_without_an_invented_offset() -> None:
    for event in parse(DELIVERED).events + parse(UPDATED).events:
        assert event.occurred_local is not None
        assert event.occurred_at is None
        assert event.utc_offset_minutes is None
        assert event.tz_provenance is TzProvenance.UNKNOWN


def test_ambiguous_scan_code_alone_is_unknown_with_a_warning() -> None:
    body = copy.deepcopy(RECEIVED)
    body["CompleteStatus"]["Shipment"]["OldStatus"] = []
    body["CompleteStatus"]["Shipment"].pop("Status")
    result = parse(body)
    first = result.events[0]
    assert first.raw_code == "01B"
    assert first.status is Status.UNKNOWN
    assert any("01B" in w.message for w in result.warnings)


def test_main_barcode_or_barcode_both_count_as_the_number_asked() -> None:
    for number in ("3SDEVC123456789", "33DEVC123456789"):
        (result,) = parse(RECEIVED, number).results
        assert result.outcome is Outcome.FOUND
    (other,) = parse(RECEIVED, "3SXXXX000000000").results
    assert other.outcome is Outcome.OTHER_NUMBER


def test_unknown_barcode_warning_is_a_not_found_value() -> None:
    body = {"Warnings": [{"Code": "1", "Description": "No shipment found"}]}
    (result,) = parse(body, "3SABCD000000000").results
    assert result.outcome is Outcome.NOT_FOUND
    assert result.message is not None and "No shipment found" in result.message


def test_updated_shipments_report_only_listed_barcodes() -> None:
    result = parse(UPDATED, "3SABCD3563340", "3SNOTCHANGED00")
    assert [r.requested for r in result.results] == ["3SABCD3563340"]


@responses.activate
def test_fetch_gets_each_barcode_with_the_apikey_header() -> None:
    body = sample_text("postnl", "shippingstatus-completestatus-delivered.json")
    responses.get(f"{BASE}/barcode/3SABCD987516327", body=body)
    client = SourceClient(postnl.SPEC, base_url=BASE, key="pnl-key", policy=NO_RETRY)
    (obs,) = postnl.fetch(client, ["3SABCD987516327"])
    request = responses.calls[0].request
    assert request.headers["apikey"] == "pnl-key"
    assert "detail=true" in (request.url or "")
    assert postnl.parse(obs).results[0].status is Status.DELIVERED


SAMPLES = [DELIVERED, RECEIVED, UPDATED]


@FUZZ
@given(st.sampled_from(SAMPLES).flatmap(mutated_json))
def test_mutated_samples_parse_or_raise_unparseable(payload: Any) -> None:
    parse_or_unparseable(postnl.parse, observation("postnl", payload))
    parse_or_unparseable(postnl.parse, observation("postnl", json.dumps(payload), ()))


@FUZZ
@given(
    st.text()
    | st.sampled_from([json.dumps(s) for s in SAMPLES]).flatmap(
        lambda t: st.integers(0, len(t) - 1).map(lambda n: t[:n])
    )
)
def test_random_and_truncated_text_parse_or_raise_unparseable(text: str) -> None:
    parse_or_unparseable(postnl.parse, observation("postnl", text))
