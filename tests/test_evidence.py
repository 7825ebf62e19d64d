"""The dispute summary: everything a buyer needs, with carrier text made inert."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tests.factories import at, delivered, journey, order, parcel, timeline
from tracker import evidence
from tracker.judge import judge
from tracker.pipeline import event_dict, iso_z

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
