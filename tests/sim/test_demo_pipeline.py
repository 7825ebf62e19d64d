"""The demo scenario end to end: our adapters fetch every order from the simulator, the
offline pipeline judges it, and each parcel comes out as its note says (every fake suspect)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from tracker import sources
from tracker.casefile import Case
from tracker.pipeline import run_case
from tracker.sim import SimServer, from_dict
from tracker.sim.scenario import DEMO_PATH, Scenario, SimParcel
from tracker.sources.http import NO_RETRY, SourceClient


def _quiet_demo() -> Scenario:
    """The demo without its global 429s and garbled pages: this test is about the journeys."""
    doc = json.loads(DEMO_PATH.read_text())
    doc["behaviours"] = []
    for parcel in doc["parcels"]:
        parcel.pop("behaviours", None)
    return from_dict(doc)


def _observe(sim: SimServer, source: str, number: str) -> dict[str, Any]:
    module = sources.module(source)
    client = SourceClient(module.SPEC, base_url=sim.url(source), key="sim-key", policy=NO_RETRY)
    (observation,) = module.fetch(client, [number])
    return {
        "source": source,
        "tracking_number": number,
        "fetched_at": observation.fetched_at.isoformat(),
        "payload": observation.payload,
    }


def _case(sim: SimServer, order: dict[str, Any], parcel: SimParcel) -> dict[str, Any]:
    observations = [_observe(sim, s, parcel.number_at(s)) for s in parcel.sources]
    others = [parcel.number_at(s) for s in parcel.sources if parcel.number_at(s) != parcel.number]
    return {
        "order": order,
        "parcels": [{"tracking_number": parcel.number, "other_numbers": others}],
        "observations": observations,
    }


def _expected(note: str) -> str:
    if note.startswith("fake:"):
        return "suspect"
    if note.startswith(("clean delivery", "collected")):
        return "delivered"
    return "none"


@pytest.fixture(scope="module")
def reports() -> list[tuple[str, dict[str, Any]]]:
    scenario = _quiet_demo()
    now = datetime.now(UTC).replace(microsecond=0)
    with SimServer(scenario, now=now) as sim:
        orders = requests.get(f"{sim.base_url}/_sim/orders", timeout=5).json()
        out = []
        for order in orders:
            parcel = scenario.parcels[order["tracking_numbers"][0]]
            case = Case.from_json(_case(sim, order, parcel))
            out.append((parcel.note or "", run_case(case, now)))
    return out


def test_every_demo_parcel_is_judged_as_its_note_says(
    reports: list[tuple[str, dict[str, Any]]],
) -> None:
    wrong = [
        (note, report["delivery"]["verdict"], [r["rule"] for r in report["delivery"]["reasons"]])
        for note, report in reports
        if report["delivery"]["verdict"] != _expected(note)
    ]
    assert wrong == []


def test_demo_reports_carry_the_expected_alerts(reports: list[tuple[str, dict[str, Any]]]) -> None:
    alerts = {note: {a["type"] for a in report["alerts"]} for note, report in reports}
    assert "order.overdue" in alerts["overdue: still travelling"]
    assert "tracking.stalled" in alerts["stalled after arrival"]
    assert "delivery.suspect" in alerts["fake: delivered in another country"]
