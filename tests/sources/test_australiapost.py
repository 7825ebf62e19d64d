"""Australia Post: both nestings, +11:00 kept as printed, ESB-10001 as a value, batching, fuzz."""

from __future__ import annotations

import base64
import copy
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlparse

import responses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.sources.postal_fuzz import (
    mutated_json,
    observation,
    parse_or_unparseable,
    sample_json,
)
from tracker.model import Outcome, ParseResult, Status, TzProvenance
from tracker.sources import australiapost
from tracker.sources.http import NO_RETRY, SourceClient

MULTI = sample_json("australiapost", "track-multi-delivered-and-unknown.json")
INVALID = sample_json("australiapost", "error-invalid-tracking-id.json")
IDS = ("ET123456789AU", "LX123456789US", "00123456789000123400")
BASE = "https://auspost.test/shipping/v1"
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def parse(body: Any, *numbers: str) -> ParseResult:
    return australiapost.parse(observation("australiapost", json.dumps(body), numbers))


def test_both_nestings_yield_their_articles_events() -> None:
    events = parse(MULTI, *IDS).events
    counts = {n: sum(e.source_number == n for e in events) for n in IDS}
    assert counts == {"ET123456789AU": 8, "LX123456789US": 9, "00123456789000123400": 10}


def test_each_event_is_classified_by_its_own_text_not_the_item_status() -> None:
    events = [e for e in parse(MULTI).events if e.source_number == "LX123456789US"]
    assert events[0].substatus == "delivered.safe_place"
    assert events[-1].substatus == "in_transit.accepted"
    assert sum(e.status is Status.DELIVERED for e in events) == 1


def test_plus_eleven_is_kept_as_printed_even_on_a_us_scan() -> None:
    chicago = next(e for e in parse(MULTI).events if e.location.text == "CHICAGO (US)")
    assert chicago.utc_offset_minutes == 660
    assert chicago.occurred_at == datetime(2021, 1, 6, 21, 49, tzinfo=UTC)
    assert chicago.tz_provenance is TzProvenance.CARRIER_OFFSET
    assert chicago.location.country == "US"


def test_locations_read_state_country_and_postcode_where_given() -> None:
    places = {e.location.text: e.location for e in parse(MULTI).events}
    assert (places["BRISBANE QLD"].city, places["BRISBANE QLD"].country) == ("BRISBANE", "AU")
    assert (
        places["US-60199, UNITED STATES"].postal_code,
        places["US-60199, UNITED STATES"].country,
    ) == ("60199", "US")
    assert places["NZ"].country == "NZ"
    assert places["Transit Scan"].country is None


def test_result_status_falls_back_to_the_item_status() -> None:
    results = {r.requested: r for r in parse(MULTI, *IDS).results}
    assert results["ET123456789AU"].status is Status.UNKNOWN
    assert results["LX123456789US"].status is Status.DELIVERED


def test_esb_10001_and_missing_ids_are_not_found_values() -> None:
    (invalid,) = parse(INVALID, "7XX1000").results
    assert invalid.outcome is Outcome.NOT_FOUND
    assert invalid.message == "ESB-10001 Invalid tracking ID"
    missing = parse(MULTI, "ET123456789AU", "QQ000000000AU").results[1]
    assert missing.outcome is Outcome.NOT_FOUND


def test_unknown_description_is_unknown_with_a_warning() -> None:
    body = copy.deepcopy(MULTI)
    body["tracking_results"][1]["trackable_items"][0]["events"][0]["description"] = "Teleported"
    result = parse(body)
    assert result.events[8].status is Status.UNKNOWN
    assert any("teleported" in w.message for w in result.warnings)


@responses.activate
def test_fetch_batches_ten_ids_with_account_number_and_basic_auth() -> None:
    responses.get(f"{BASE}/track", json=MULTI)
    client = SourceClient(australiapost.SPEC, base_url=BASE, key="1234:apikey:pw", policy=NO_RETRY)
    numbers = [f"ID{i:02d}" for i in range(12)]
    observations = australiapost.fetch(client, numbers)
    assert [len(o.numbers) for o in observations] == [10, 2]
    first = responses.calls[0].request
    assert parse_qs(urlparse(first.url or "").query)["tracking_ids"] == [",".join(numbers[:10])]
    assert first.headers["Account-Number"] == "1234"
    assert first.headers["Authorization"] == "Basic " + base64.b64encode(b"apikey:pw").decode()
    assert australiapost.parse(observations[1]).results[0].outcome is Outcome.NOT_FOUND


SAMPLES = [MULTI, INVALID]


@FUZZ
@given(st.sampled_from(SAMPLES).flatmap(mutated_json))
def test_mutated_samples_parse_or_raise_unparseable(payload: Any) -> None:
    parse_or_unparseable(australiapost.parse, observation("australiapost", payload))
    parse_or_unparseable(
        australiapost.parse, observation("australiapost", json.dumps(payload), IDS)
    )


@FUZZ
@given(
    st.text()
    | st.sampled_from([json.dumps(s) for s in SAMPLES]).flatmap(
        lambda t: st.integers(0, len(t) - 1).map(lambda n: t[:n])
    )
)
def test_random_and_truncated_text_parse_or_raise_unparseable(text: str) -> None:
    parse_or_unparseable(australiapost.parse, observation("australiapost", text))
