"""Renderers: each body has the source's real shape, and our own adapter reads back the
intended canonical statuses and instants (the round trip)."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from tracker import sources
from tracker.model import Observation, Outcome, ParseResult, Status
from tracker.sim import from_dict, render, render_carriers
from tracker.sim.codes import KINDS
from tracker.sim.scenario import Scenario
from tracker.sim.view import SourceView, view

from .conftest import DHL_NUMBER, NOW, NUMBER, START, USPS_NUMBER, clean_parcel, scenario_dict

# Where a source's own vocabulary is coarser than the journey, the adapter rightly reads less.
COARSER: dict[str, dict[str, Status]] = {
    "cainiao": {"lost": Status.EXCEPTION},
    "dhl": {
        "out_for_delivery": Status.IN_TRANSIT,
        "station_signed": Status.IN_TRANSIT,
        "delivery_attempted": Status.EXCEPTION,
        "lost": Status.EXCEPTION,
    },
}


def _every_kind(country: str, carrier: str) -> Scenario:
    place = {
        "US": {"country": "US", "city": "Hernando", "state": "FL", "postal_code": "34442"},
        "DE": {"country": "DE", "city": "Berlin", "postal_code": "10115"},
    }[country]
    parcel = clean_parcel(
        sources=["17track", "cainiao", "aftership", carrier],
        numbers={carrier: USPS_NUMBER if carrier == "usps" else DHL_NUMBER},
        carrier=carrier,
        destination=place,
        journey=[{"kind": k, "at": 5.0 * i} for i, k in enumerate(KINDS)],
    )
    return from_dict(scenario_dict(parcel))


def _sview(scenario: Scenario, source: str, number: str = NUMBER) -> SourceView:
    parcel = scenario.find(source, number)
    assert parcel is not None
    return view(parcel, source, number, START, NOW)


def _body(source: str, sview: SourceView | None, number: str) -> tuple[int, object]:
    batch = [(number, sview)]
    if source == "17track":
        return render.seventeentrack(batch)
    if source == "cainiao":
        return render.cainiao(batch)
    if source == "aftership":
        return render.aftership_list(batch, versioned=True)
    if source == "usps":
        return render_carriers.usps(sview, number)
    return render_carriers.dhl(sview, number)


def _parse(source: str, status: int, body: object, number: str) -> ParseResult:
    observation = Observation(source, orjson.dumps(body).decode(), NOW, (number,), status)
    return sources.parse(observation)


CASES = [
    ("17track", "US"),
    ("cainiao", "US"),
    ("aftership", "US"),
    ("usps", "US"),
    ("dhl", "DE"),
    ("17track", "DE"),
]


@pytest.mark.parametrize(("source", "country"), CASES)
def test_round_trip_gives_the_intended_statuses_and_instants(source: str, country: str) -> None:
    carrier = "usps" if country == "US" else "dhl"
    scenario = _every_kind(country, carrier)
    number = {"usps": USPS_NUMBER, "dhl": DHL_NUMBER}.get(source, NUMBER)
    sview = _sview(scenario, source, number)
    result = _parse(source, *_body(source, sview, number), number)
    assert result.warnings == ()
    assert [r.outcome for r in result.results] == [Outcome.FOUND]
    got = sorted(result.events, key=lambda e: e.occurred_at or NOW)
    assert len(got) == len(sview.events) > 0
    expected = COARSER.get(source, {})
    for event, sim in zip(got, sview.events, strict=True):
        assert event.occurred_at == sim.instant, sim.kind.name
        assert event.status is expected.get(sim.kind.name, sim.kind.status), sim.kind.name


def test_carriers_see_only_the_destination_leg() -> None:
    sview = _sview(_every_kind("US", "usps"), "usps", USPS_NUMBER)
    assert {e.location.country for e in sview.events} == {"US"}
    body = render_carriers.usps(sview, USPS_NUMBER)[1]
    assert isinstance(body, dict)
    codes = [e["eventCode"] for e in body["trackingEvents"]]
    assert codes[0] == "09"  # newest first: the return is the last US event USPS reports
    assert "01" in codes


def test_seventeentrack_shape_and_time_fields() -> None:
    scenario = from_dict(scenario_dict())
    status, body = render.seventeentrack([(NUMBER, _sview(scenario, "17track")), ("NOPE1", None)])
    assert status == 200
    assert isinstance(body, dict) and body["code"] == 0
    item = body["data"]["accepted"][0]
    info = item["track_info"]
    assert info["latest_status"] == {
        "status": "Delivered",
        "sub_status": "Delivered_Other",
        "sub_status_descr": None,
    }
    providers = info["tracking"]["providers"]
    assert [p["provider"]["name"] for p in providers] == ["USPS", "Cainiao"]
    event = providers[0]["events"][0]
    assert event["time_iso"].endswith("-04:00") or event["time_iso"].endswith("-05:00")
    assert event["time_utc"].endswith("Z")
    assert event["time_raw"]["timezone"] == event["time_iso"][-6:]
    assert [m["key_stage"] for m in info["milestone"]][-1] == "Delivered"
    rejected = body["data"]["rejected"][0]
    assert rejected["number"] == "NOPE1" and rejected["error"]["code"] == -18019902


def test_cainiao_times_are_epoch_with_a_beijing_timestr() -> None:
    scenario = from_dict(scenario_dict())
    _, body = render.cainiao([(NUMBER, _sview(scenario, "cainiao")), ("NOPE1", None)])
    assert isinstance(body, dict) and body["success"] is True
    known, unknown = body["module"]
    latest = known["detailList"][0]
    assert known["latestTrace"] == latest
    assert latest["actionCode"] == "GTMS_SIGNED"
    instant = datetime.fromtimestamp(latest["time"] / 1000, UTC)
    assert (
        latest["timeStr"] == f"{instant.replace(tzinfo=None) + (START - START):%Y-%m-%d}"
        f" {(instant.hour + 8) % 24:02d}:{instant:%M:%S}"
    )
    assert latest["timeZone"] in ("GMT-04:00", "GMT-05:00")
    assert known["realMailNo"] == USPS_NUMBER
    assert unknown == {"mailNo": "NOPE1", "mailNoSource": "EXTERNAL", "detailList": []}


def test_aftership_versions_name_the_country_field_differently() -> None:
    sview = _sview(from_dict(scenario_dict()), "aftership")
    dated = render.aftership_tracking(sview, versioned=True)["checkpoints"][0]
    legacy = render.aftership_tracking(sview, versioned=False)["checkpoints"][0]
    assert dated["country_region"] == legacy["country_iso3"] == "CHN"
    assert dated["checkpoint_time"] == "2026-10-01T14:00:00+08:00"
    status, missing = render.aftership_one(None, "NOPE1", versioned=False)
    assert status == 404 and isinstance(missing, dict) and missing["meta"]["code"] == 4004


def test_unknown_numbers_are_answers_not_errors() -> None:
    for source in ("17track", "cainiao", "aftership", "usps", "dhl"):
        result = _parse(source, *_body(source, None, "NOPE1"), "NOPE1")
        assert [r.outcome for r in result.results] in ([Outcome.NOT_FOUND], []), source
        assert result.events == ()


# ----------------------------------------------------------------------------- the fakes


def _fake(**extra: object) -> Scenario:
    return from_dict(scenario_dict(clean_parcel(**extra)))


def test_answer_as_another_number() -> None:
    scenario = _fake(overrides={"cainiao": [{"op": "answer_as", "number": "LP00999999999999"}]})
    result = _parse("cainiao", *_body("cainiao", _sview(scenario, "cainiao"), NUMBER), NUMBER)
    assert result.results[0].outcome is Outcome.OTHER_NUMBER
    assert result.results[0].answered == "LP00999999999999"


def test_relocate_retime_retext_and_relabel() -> None:
    scenario = _fake(
        overrides={
            "17track": [
                {
                    "op": "relocate",
                    "kind": "delivered",
                    "location": {"country": "FR", "city": "Paris"},
                },
                {"op": "retime", "kind": "delivered", "at": 7},
                {"op": "retext", "kind": "delivered", "text": "Not delivered"},
            ],
            "aftership": [{"op": "relabel", "kind": "out_for_delivery", "to": "station_signed"}],
        }
    )
    delivered = [e for e in _sview(scenario, "17track").events if e.kind.name == "delivered"]
    assert len(delivered) == 1
    event = delivered[0]
    assert (event.location.country, event.text) == ("FR", "Not delivered")
    assert event.instant == datetime(2026, 10, 1, 7, tzinfo=UTC)
    kinds = [e.kind.name for e in _sview(scenario, "aftership").events]
    assert "station_signed" in kinds and "out_for_delivery" not in kinds
    assert "delivered" in [e.kind.name for e in _sview(scenario, "cainiao").events]  # untouched


def test_drop_and_add_make_the_last_mile_disagree() -> None:
    scenario = _fake(
        overrides={
            "usps": [
                {"op": "drop", "kinds": ["out_for_delivery", "delivered"]},
                {"op": "add", "event": {"kind": "facility_arrival", "at": 300}},
            ]
        }
    )
    kinds = [e.kind.name for e in _sview(scenario, "usps", USPS_NUMBER).events]
    assert "delivered" not in kinds and kinds[-1] == "facility_arrival"


def test_future_events_are_not_shown_yet() -> None:
    parcel = from_dict(scenario_dict()).find("17track", NUMBER)
    assert parcel is not None
    halfway = view(parcel, "17track", NUMBER, START, datetime(2026, 10, 5, tzinfo=UTC))
    assert 0 < len(halfway.events) < len(parcel.journey)
    assert all(e.instant <= datetime(2026, 10, 5, tzinfo=UTC) for e in halfway.events)
