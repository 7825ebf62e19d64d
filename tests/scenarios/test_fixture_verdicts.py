"""Every recorded payload that shows a delivery, analysed on its own as a one-parcel order
(`tracker.pipeline.run_case`): clean deliveries are never flagged, and the few payloads kept
because they show a conflict are flagged by exactly the rule they show.

The payloads are the source fixtures (tests/fixtures/<source>/, provenance in each
`.expected.json`), unchanged. The order ships a day before the first scan, goes to the
country the parcel was delivered in, and is judged two days after the last scan."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tracker import sources
from tracker.model import Observation
from tracker.pipeline import Case, run_case

FIXTURES = Path(__file__).parent.parent / "fixtures"
FETCHED = datetime(2026, 11, 12, tzinfo=UTC)  # only for reading the scan times

# (source, payload file, number, destination country, rules expected: none for a clean one)
DELIVERED = [
    ("17track", "api-v2.4-gettrackinfo-correios-2151.json", "AA123456789BR", "BR", set()),
    ("aftership", "v4-list-trackings-fedex-delivered-ups-expired.json", "1111111111111", "US",
     set()),
    # one answer for a whole consignment: the other items' scans are not this parcel's
    ("australiapost", "track-multi-delivered-and-unknown.json", "LX123456789US", "AU", set()),
    ("australiapost", "track-multi-delivered-and-unknown.json", "00123456789000123400", "NZ",
     set()),
    ("cainiao", "detail-cn-de-delivered.json", "LP00512345678901", "DE", set()),
    ("cainiao", "detail-other-mailno.json", "LP00598765432101", "DE", {"identity_mismatch"}),
    ("canadapost", "tracking-detail-delivered-then-more-scans.xml", "7023210039414604", "CA",
     {"post_delivery_activity"}),
    ("dhl", "express-xmlpi-3awb-delivered.xml", "3180831640", "DE", set()),
    ("dhl", "parcel-de-tracking-xml-delivered.xml", "00340434161094015902", "DE", set()),
    ("fedex", "delivered-mixed-tz-naive-datetime.json", "738488882438", "US", set()),
    ("postnl", "shippingstatus-completestatus-delivered.json", "3SABCD987516327", "NL", set()),
    ("postnl", "shippingstatus-updatedshipments.json", "3SABCD3563340", "NL", set()),
    ("postnl", "shippingstatus-updatedshipments.json", "3SABCD987453178", "NL", set()),
    # a leg's own number on some events: still this parcel's scans
    ("ship24", "tracker-results-example.json", "9400115901047177598206", "US", set()),
    ("ship24", "webhook-tracking-events-delivered.json", "9400115901047177598206", "US", set()),
    ("ups", "trackresponse-delivered-label-then-delivered.json", "1Z1442YY7229014688", "US",
     set()),
    ("usps", "v3-delivered-parcel-locker.json", "9400109104250532908587", "US", set()),
]  # fmt: skip


def _case(source: str, name: str, number: str, country: str) -> tuple[dict[str, Any], Any]:
    text = (FIXTURES / source / name).read_text(encoding="utf-8")
    payload = json.loads(text) if name.endswith(".json") else text
    observation = Observation(source=source, payload=text, fetched_at=FETCHED, numbers=(number,))
    events = sources.parse(observation).events
    # a wall clock without a zone is within a day of its instant, whatever the zone
    instants = [e.occurred_at or e.occurred_local.replace(tzinfo=UTC) for e in events
                if e.occurred_at or e.occurred_local]  # fmt: skip
    shipped, now = min(instants) - timedelta(days=1), max(instants) + timedelta(days=2)
    case = {
        "order": {"id": f"{source}-{number}", "destination": {"country": country},
                  "shipped_at": shipped.isoformat(), "promised_by": (now + timedelta(days=30))
                  .date().isoformat()},
        "parcels": [{"tracking_number": number}],
        "observations": [{"source": source, "tracking_number": number,
                          "fetched_at": now.isoformat(), "payload": payload}],
    }  # fmt: skip
    return case, now


@pytest.mark.parametrize(("source", "name", "number", "country", "expected"), DELIVERED,
                         ids=[f"{s}/{n}/{num}" for s, n, num, _, _ in DELIVERED])  # fmt: skip
def test_each_recorded_delivery_is_judged_by_what_it_shows(
    source: str, name: str, number: str, country: str, expected: set[str]
) -> None:
    case, now = _case(source, name, number, country)
    report = run_case(Case.from_json(case), now)
    rules = {r["rule"] for r in report["delivery"]["reasons"]}
    assert rules == expected, report["delivery"]["reasons"]
    assert report["delivery"]["verdict"] == ("suspect" if expected else "delivered")
    assert all(e["location"]["country"] in (None, country) or e["status"] != "delivered"
               for e in report["timeline"])  # fmt: skip


def test_false_positives_across_recorded_clean_deliveries_are_zero() -> None:
    flagged = []
    for source, name, number, country, expected in DELIVERED:
        if expected:
            continue
        case, now = _case(source, name, number, country)
        if run_case(Case.from_json(case), now)["delivery"]["verdict"] != "delivered":
            flagged.append(f"{source}/{name}/{number}")
    assert flagged == []


@pytest.mark.parametrize("other_numbers", [[], ["LX987654321US"]], ids=["one", "two-asked"])
def test_an_answer_for_another_number_is_kept_for_the_judge_not_dropped(
    other_numbers: list[str],
) -> None:
    """Australia Post asked for the parcel's number(s) answers only for another item: the
    parcel is neither silently 'not found' nor delivered with someone else's scans; the judge
    sees the answer and names the mismatch (asked for both numbers of the parcel too)."""
    body = json.loads((FIXTURES / "australiapost" / "track-multi-delivered-and-unknown.json")
                      .read_text())  # fmt: skip
    body["tracking_results"] = [r for r in body["tracking_results"]
                                if r["tracking_id"] == "00123456789000123400"]  # fmt: skip
    case = {
        "order": {"id": "AU-2", "destination": {"country": "AU"},
                  "shipped_at": "2021-01-01T00:00:00Z", "promised_by": "2021-03-01"},
        "parcels": [{"tracking_number": "LX123456789US", "other_numbers": other_numbers}],
        "observations": [{"source": "australiapost", "fetched_at": "2021-02-05T00:00:00Z",
                          "payload": body}],
    }  # fmt: skip
    if not other_numbers:
        case["observations"][0]["tracking_number"] = "LX123456789US"
    report = run_case(Case.from_json(case), datetime(2021, 2, 5, tzinfo=UTC))
    assert report["delivery"]["verdict"] == "suspect"
    assert "identity_mismatch" in {r["rule"] for r in report["delivery"]["reasons"]}
    assert len(report["timeline"]) == 10


def test_an_answer_for_another_number_asked_for_both_numbers_routes_a_mismatch() -> None:
    from tracker import pipeline
    from tracker.model import Outcome, Parcel

    body = json.loads((FIXTURES / "australiapost" / "track-multi-delivered-and-unknown.json")
                      .read_text())  # fmt: skip
    body["tracking_results"] = [r for r in body["tracking_results"]
                                if r["tracking_id"] == "00123456789000123400"]  # fmt: skip
    parcel = Parcel("LX123456789US", other_numbers=("LX987654321US",))
    asked = Observation(source="australiapost", payload=json.dumps(body), fetched_at=FETCHED,
                        numbers=parcel.numbers)  # fmt: skip
    routed = pipeline.route([parcel], [asked])
    assert routed.events[parcel]  # kept for the judge...
    mismatch = [r for r in routed.results[parcel] if r.outcome is Outcome.OTHER_NUMBER]
    assert [r.answered for r in mismatch] == ["00123456789000123400"]  # ...as another number's
