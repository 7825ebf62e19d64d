"""Scenario files: validation names the field; the demo is valid; synthetic scenarios are lazy."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tracker.sim import ScenarioError, from_dict, generate, load
from tracker.sim.demo import build
from tracker.sim.orders import resolve_orders
from tracker.sim.scenario import DEMO_PATH

from .conftest import NUMBER, USPS_NUMBER, clean_parcel, scenario_dict


def _error(doc: dict[str, Any]) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        from_dict(doc)
    return info.value


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"journey": [{"kind": "delivred", "at": 1}]}, "parcels[0].journey[0].kind", "delivred"),
        ({"journey": [{"kind": "delivered"}]}, "parcels[0].journey[0].at", "required"),
        ({"journey": [{"kind": "delivered", "at": "soon"}]}, "parcels[0].journey[0].at", "number"),
        ({"sources": ["17track", "fedx"]}, "parcels[0].sources[1]", "fedx"),
        ({"destination": {"country": "XX"}}, "parcels[0].destination.country", "XX"),
        ({"destination": None}, "parcels[0].destination", "object"),
        (
            {"overrides": {"17track": [{"op": "teleport"}]}},
            "parcels[0].overrides.17track[0].op",
            "teleport",
        ),
        (
            {"overrides": {"usps": [{"op": "relocate", "kind": "delivered"}]}},
            "parcels[0].overrides.usps[0].location",
            "required",
        ),
        (
            {"behaviours": [{"kind": "error", "status": 404}]},
            "parcels[0].behaviours[0].status",
            "5xx",
        ),
        (
            {"behaviours": [{"kind": "rate_limit", "every": 0}]},
            "parcels[0].behaviours[0].every",
            "positive",
        ),
        (
            {"behaviours": [{"kind": "malformed", "body": "xml"}]},
            "parcels[0].behaviours[0].body",
            "xml",
        ),
        ({"number": None}, "parcels[0].number", "required"),
        ({"jorney": []}, "parcels[0].jorney", "unknown key"),
        (
            {"journey": [{"kind": "delivered", "at": 1, "wen": 2}]},
            "parcels[0].journey[0].wen",
            "unknown key",
        ),
    ],
)
def test_a_bad_parcel_names_its_field(change: dict[str, Any], field: str, words: str) -> None:
    error = _error(scenario_dict(clean_parcel(**change)))
    assert error.field == field
    assert words in str(error)


def test_top_level_errors_name_their_field() -> None:
    assert _error({"parcels": {}}).field == "parcels"
    assert _error(scenario_dict(start="yesterday")).field == "start"
    assert _error(scenario_dict(start="2026-10-01T00:00:00")).field == "start"
    assert _error(scenario_dict(speed=0)).field == "speed"
    assert _error(scenario_dict(clean_parcel(), clean_parcel())).field == "parcels[1].number"
    bad_order = {
        "id": "A",
        "destination": {"country": "DE"},
        "promised_by": 10,
        "timezone": "Mars/Olympus",
    }
    assert _error(scenario_dict(orders=[bad_order])).field == "orders[0].timezone"


def test_load_reports_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="no such file"):
        load(tmp_path / "nope.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(ScenarioError, match="not JSON"):
        load(broken)


def test_a_parcel_is_found_under_each_sources_own_number() -> None:
    scenario = from_dict(scenario_dict())
    assert scenario.find("usps", USPS_NUMBER) is scenario.find("cainiao", NUMBER)
    assert scenario.find("usps", NUMBER) is None  # USPS knows it only by its own number
    assert scenario.find("dhl", NUMBER) is None  # not a source of this parcel


def test_the_demo_is_valid_and_matches_its_builder() -> None:
    demo = load(None)
    assert demo.name == "demo"
    assert len(demo.parcels) >= 30
    assert json.loads(DEMO_PATH.read_text()) == json.loads(json.dumps(build()))
    ops = {op.op for p in demo.iter_parcels() for ops in p.overrides.values() for op in ops}
    assert ops >= {"relocate", "retime", "add", "drop", "relabel", "answer_as"}
    kinds = {s.kind for p in demo.iter_parcels() for s in p.journey}
    assert {"station_signed", "held_customs", "returned", "lost"} <= kinds


def test_demo_orders_resolve_to_absolute_times() -> None:
    demo = load(None)
    start = datetime(2026, 9, 1, tzinfo=UTC)
    orders = resolve_orders(demo, start)
    assert len(orders) == len(demo.orders)
    numbers = {n for o in orders for n in o["tracking_numbers"]}
    assert numbers <= set(demo.parcels)
    first = orders[0]
    assert first["shipped_at"].endswith("Z")
    assert datetime.fromisoformat(first["shipped_at"]) >= start
    assert len(first["promised_by"]) == 10  # a date
    assert set(first["destination"]) == {"country", "postal_code", "city"}


def test_generate_is_deterministic_and_lazy() -> None:
    big = generate(100_000, seed=7)
    again = generate(100_000, seed=7)
    assert len(big.parcels) == 100_000
    every = list(big.parcels)
    numbers = [*every[:3], every[-1]]
    for number in numbers:
        assert big.find("17track", number) == again.find("17track", number)
    assert big.find("17track", "LP07999999999999CN") is None  # beyond n
    assert generate(10, seed=8).find("17track", numbers[0]) is None  # another seed
    assert len(big.orders) == 100_000
    assert big.orders[99_999].tracking_numbers == (numbers[-1],)


def test_generated_last_mile_numbers_reach_their_parcel() -> None:
    scenario = generate(200, seed=3)
    with_usps = [p for p in scenario.iter_parcels() if "usps" in p.sources]
    assert with_usps
    parcel = with_usps[0]
    assert scenario.find("usps", parcel.numbers["usps"]) == parcel
    assert scenario.find("usps", parcel.number) is None
