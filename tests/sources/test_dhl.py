"""DHL adapter: Unified contradictions kept raw, 404 as a value, Express and Parcel DE XML,
HTTP shape."""

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
from tracker.sources import dhl
from tracker.sources.http import NO_RETRY, SourceClient

UNIFIED = sample_text("dhl", "unified-api-doc-example.json")
PROBLEM = sample_text("dhl", "unified-not-found-problem.json")
EXPRESS = sample_text("dhl", "express-xmlpi-3awb-delivered.xml")
EXPRESS_TRANSIT = sample_text("dhl", "express-xmlpi-in-transit.xml")
PARCEL_DE = sample_text("dhl", "parcel-de-tracking-xml-delivered.xml")
PIECE = "00340434161094015902"


def test_contradiction_is_classified_by_status_code_and_kept_raw() -> None:
    result = dhl.parse(observe("dhl", UNIFIED, ("7777777770",)))
    [event] = result.events
    assert event.status is Status.PRE_TRANSIT
    assert (event.raw_status, event.raw_substatus) == ("pre-transit", "DELIVERED")
    assert "JESSICA" in event.raw_description
    assert any("contradicts" in w.message for w in result.warnings)
    assert result.results[0].status is Status.PRE_TRANSIT
    assert event.signed_by == "John"  # the proof-of-delivery signer stays as evidence


def test_naive_event_time_stays_naive_and_z_is_carrier_utc() -> None:
    body = json.loads(UNIFIED)
    [event] = dhl.parse(observe("dhl", body, ("7777777770",))).events
    assert event.occurred_local == datetime(2018, 3, 2, 7, 53, 47)
    assert (event.occurred_at, event.tz_provenance) == (None, TzProvenance.UNKNOWN)
    body["shipments"][0]["events"][0]["timestamp"] = "2018-03-02T07:53:47Z"
    [event] = dhl.parse(observe("dhl", body, ("7777777770",))).events
    assert event.occurred_at == datetime(2018, 3, 2, 7, 53, 47, tzinfo=UTC)
    assert event.tz_provenance is TzProvenance.CARRIER_UTC


def test_answer_for_another_shipment_is_other_number() -> None:
    [answer] = dhl.parse(observe("dhl", UNIFIED, ("JJD0001",))).results
    assert (answer.outcome, answer.answered) == (Outcome.OTHER_NUMBER, "7777777770")


def test_problem_404_is_not_found_and_other_problems_are_unparseable() -> None:
    [answer] = dhl.parse(observe("dhl", PROBLEM, ("JJD0001",))).results
    assert answer.outcome is Outcome.NOT_FOUND
    body = json.dumps({"title": "Server error", "status": 500})
    with pytest.raises(UnparseableResponse, match="problem 500"):
        dhl.parse(observe("dhl", body, ("JJD0001",)))


def test_parcel_de_delivery_flag_and_delivery_event() -> None:
    result = dhl.parse(observe("dhl", PARCEL_DE, (PIECE,)))
    [answer] = result.results
    assert (answer.outcome, answer.status) == (Outcome.FOUND, Status.DELIVERED)
    delivered = result.events[-1]
    assert delivered.substatus == "delivered.signed"
    assert (delivered.raw_status, delivered.raw_code) == ("DLVRD", "ZU")
    assert delivered.signed_by == "Kraemer"
    assert delivered.location.country == "DE"  # the piece's ISO code, not the name "Germany"
    assert delivered.location.city == "Bonn"
    assert delivered.occurred_local == datetime(2016, 3, 18, 10, 2)
    assert delivered.occurred_at is None
    assert result.events[0].location.country is None  # "Germany" is a name: not guessed
    assert not result.warnings


def test_parcel_de_flag_without_delivery_event_is_reported() -> None:
    body = PARCEL_DE.replace(
        'standard-event-code="ZU"\n        ruecksendung',
        'standard-event-code="PO"\n        ruecksendung',
    )
    result = dhl.parse(observe("dhl", body, (PIECE,)))
    assert result.results[0].status is Status.DELIVERED
    assert all(e.status is not Status.DELIVERED for e in result.events)
    assert any("delivery-event-flag=1" in w.message for w in result.warnings)


def test_parcel_de_return_delivery_is_returned_to_sender() -> None:
    body = PARCEL_DE.replace('ruecksendung="false"\n      />', 'ruecksendung="true"\n      />')
    events = dhl.parse(observe("dhl", body, (PIECE,))).events
    assert events[-1].substatus == "returned.returned_to_sender"
    assert events[0].substatus == "returning.return_initiated"


def test_express_delivery_signatory_and_naive_times() -> None:
    result = dhl.parse(observe("dhl", EXPRESS, ("3180831640", "7740842550", "1815115363")))
    assert [r.outcome for r in result.results] == [Outcome.FOUND] * 3
    assert [r.status for r in result.results] == [
        Status.DELIVERED,
        Status.IN_TRANSIT,
        Status.IN_TRANSIT,
    ]
    delivered = [e for e in result.events if e.status is Status.DELIVERED]
    assert [(e.raw_code, e.signed_by) for e in delivered] == [("OK", "CAMPAGNA")]
    assert delivered[0].occurred_local == datetime(2009, 8, 31, 10, 9)
    weigh = [e for e in result.events if e.raw_code == "RW"]
    assert weigh and all(e.signed_by is None for e in weigh)  # Signatory there is a weight
    assert all(e.occurred_at is None for e in result.events)


def test_express_no_shipments_found_is_a_value() -> None:
    body = EXPRESS_TRANSIT.replace(
        "<ActionStatus>success</ActionStatus>", "<ActionStatus>No Shipments Found</ActionStatus>"
    )
    [answer] = dhl.parse(observe("dhl", body, ("9053283201",))).results
    assert answer.outcome is Outcome.NOT_FOUND


@responses.activate
def test_fetch_sends_api_key_and_reads_404_as_not_found() -> None:
    url = "https://api-eu.dhl.com/track/shipments"
    responses.get(url, body=PROBLEM, status=404, content_type="application/problem+json")
    client = SourceClient(dhl.SPEC, key="k-1", policy=NO_RETRY)
    [observation] = dhl.fetch(client, ["JJD0001"])
    [call] = responses.calls
    assert call.request.headers["DHL-API-Key"] == "k-1"
    assert "trackingNumber=JJD0001" in (call.request.url or "")
    [answer] = dhl.parse(observation).results
    assert (answer.requested, answer.outcome) == ("JJD0001", Outcome.NOT_FOUND)


def test_fetch_without_key_names_the_setting() -> None:
    with pytest.raises(ConfigurationError, match="TRACKER_DHL_KEY"):
        dhl.fetch(SourceClient(dhl.SPEC, key=None, policy=NO_RETRY), ["X"])


@FUZZ
@given(json_payloads([UNIFIED, PROBLEM]))
def test_json_parser_raises_nothing_but_unparseable(payload: object) -> None:
    check(dhl.parse, observe("dhl", payload, ("7777777770",)))


@FUZZ
@given(xml_payloads([EXPRESS, EXPRESS_TRANSIT, PARCEL_DE]))
def test_xml_parser_raises_nothing_but_unparseable(payload: str) -> None:
    check(dhl.parse, observe("dhl", payload, (PIECE,)))
