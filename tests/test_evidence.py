"""The dispute summary: everything a buyer needs, with carrier text made inert."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tests.factories import at, delivered, journey, order, parcel, timeline
from tests.scenarios import build as sc
from tracker import evidence
from tracker.judge import judge
from tracker.pipeline import Case, event_dict, iso_z, run_case

EVIL = "Delivered | **now** [click](http://evil.example) <script>alert(1)</script> _x_"


def report() -> dict[str, Any]:
    events = [*journey()[:4], delivered(at(12), country="CN", postal_code=None, description=EVIL)]
    tl = timeline(*events)
    verdict = judge(order(), parcel(), tl, ())
    timeline_dicts = [
        {**event_dict(e), "raw_codes": list(e.raw_codes) or ["GTMS_SIGNED"]} for e in tl.events
    ]
    return {
        "order_id": "A-1001",
        "order": {
            "marketplace": "aliexpress",
            "destination": {"country": "DE", "postal_code": "10115", "city": "Berlin"},
            "shipped_at": "2026-10-01T01:00:00Z",
            "promised_by": "2026-11-10",
            "confirmed_at": None,
        },
        "status": "delivered",
        "substatus": "delivered.delivered",
        "delivery": {
            "verdict": verdict.verdict.value,
            "delivered_at": iso_z(verdict.delivered_at),
            "delivered_event": verdict.delivered_event,
            "reasons": [r.to_dict() for r in verdict.reasons],
        },
        "timeline": timeline_dicts,
        "protection": {
            "policy": "aliexpress",
            "policy_version": 1,
            "dispute_opens_at": "2026-10-12T01:00:00Z",
            "promised_end": "2026-11-10T23:00:00Z",
            "dispute_closes_at": "2026-11-25T23:00:00Z",
            "state": "open",
        },
        "alerts": [],
        "warnings": [{"source": "usps", "message": "unparseable | response <html>"}],
    }


NOW = datetime(2026, 11, 20, 23, 0, tzinfo=UTC)


def test_markdown_has_every_part_of_the_dispute() -> None:
    r = report()
    text = evidence.markdown(r, now=NOW)
    assert "# Delivery evidence for order A\\-1001" in text
    assert "Berlin, 10115, DE" in text
    assert "2026\\-11\\-10" in text  # promised by
    assert "Verdict: **suspect**" in text
    for reason in r["delivery"]["reasons"]:
        assert f"**{evidence.md(reason['rule'])}**" in text
    assert "### Conflicting records" in text
    assert "GTMS\\_SIGNED" in text
    assert "### Merged timeline" in text
    assert text.count("in\\_transit\\.") >= 4
    assert "\\(5 days left\\)" in text
    assert "## Warnings" in text


def test_markdown_escapes_carrier_text() -> None:
    text = evidence.markdown(report(), now=NOW)
    assert "<script>" not in text
    assert "**now**" not in text
    assert "[click](" not in text
    assert "\\<script\\>" in text
    assert "\\*\\*now\\*\\*" in text
    # a pipe in carrier text never adds a table column
    for line in text.splitlines():
        if line.startswith("| ") and "Delivered" in line and "now" in line:
            assert line.count(" | ") == line.replace("\\|", "").count(" | ")


def test_markdown_without_now_has_no_days_left() -> None:
    text = evidence.markdown(report())
    assert "days left" not in text
    assert "2026\\-11\\-25T23:00:00Z" in text


def test_markdown_for_several_parcels() -> None:
    r = report()
    r["parcels"] = [
        {
            "tracking_number": "LP1",
            "other_numbers": [],
            "status": "delivered",
            "substatus": "delivered.delivered",
            "delivery": r["delivery"],
            "timeline": r["timeline"],
        },
        {
            "tracking_number": "LP2",
            "other_numbers": ["US9"],
            "status": "in_transit",
            "substatus": "in_transit.other",
            "delivery": {"verdict": "none", "reasons": []},
            "timeline": [],
        },
    ]
    text = evidence.markdown(r, now=NOW)
    assert "## Parcel LP1" in text and "## Parcel LP2" in text
    assert "LP1, LP2, US9" in text


def test_html_is_escaped_and_complete() -> None:
    page = evidence.html(report(), now=NOW)
    assert page.startswith("<!doctype html>")
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert '<strong class="suspect">suspect</strong>' in page
    assert "Conflicting records" in page and "Merged timeline" in page
    assert "5 days left" in page
    assert "<style>" in page


def test_a_real_report_gives_the_summary_its_order_facts_and_raw_codes() -> None:
    """From `run_case` itself (not a report written for the test): the order's facts, every
    tracking number, and the raw codes of the conflicting records are all in the summary."""
    signed = ("GTMS_SIGNED", sc.at(11, 19), "Delivered")
    awaiting = [("MA", "Pre-Shipment Info Sent to USPS, USPS Awaiting Item", sc.at(13), "34442")]
    now = sc.at(13, 2)
    built = sc.case(
        [
            sc.obs("cainiao", sc.cainiao([*sc.ORIGIN, *sc.ARRIVAL, signed]), sc.NUMBER, now),
            sc.obs("usps", sc.usps(awaiting), sc.USPS_NUMBER, now),
        ],
        now,
    )
    real = run_case(Case.from_json(built), now)
    assert real["delivery"]["verdict"] == "suspect"
    text = evidence.markdown(real, now=now)
    head = text.split("## Delivery")[0]
    rows = [line.strip("| ").split(" | ") for line in head.splitlines() if line.startswith("| ")]
    facts = {row[0]: row[1] for row in rows if len(row) == 2}
    assert facts["Marketplace"] == "aliexpress"
    assert facts["Destination"] == "Hernando, 34442, US"
    assert facts["Shipped at"] == "2026\\-10\\-01T01:00:00Z"
    assert facts["Promised by"] == "2026\\-11\\-10"
    assert facts["Tracking numbers"] == f"{sc.NUMBER}, {sc.USPS_NUMBER}"
    assert [k for k, v in facts.items() if v == "—"] == ["Receipt confirmed at"]
    conflicting = text.split("### Conflicting records")[1].split("###")[0]
    assert "GTMS\\_SIGNED" in conflicting and "| MA |" in conflicting
