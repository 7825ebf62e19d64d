"""The built-in demo scenario: a few dozen AliExpress orders, clean and fake.

`scenarios/demo.json` is this module's output (`python -m tracker.sim.demo > ...`); a test keeps
the two equal. Journeys start 45 days before the server starts, so at start-up some parcels are
delivered, some are on their way (and move on while the demo runs), some are overdue or
stalled, and several carry a fake delivery of each kind the judge knows.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from tracker.sim import synthetic as syn
from tracker.sim.scenario import Behaviour, Op, Place, SimParcel, Step

DAY = 24.0
AGG = ("17track", "cainiao", "aftership")

PLACES = {
    "hernando": Place("US", "Hernando", "34442", "FL", "America/New_York"),
    "brooklyn": Place("US", "Brooklyn", "11201", "NY", "America/New_York"),
    "berlin": Place("DE", "Berlin", "10115"),
    "munich": Place("DE", "Munich", "80331"),
    "lyon": Place("FR", "Lyon", "69001"),
    "madrid": Place("ES", "Madrid", "28001"),
    "leeds": Place("GB", "Leeds", "LS1 1UR"),
    "utrecht": Place("NL", "Utrecht", "3511"),
    "warsaw": Place("PL", "Warsaw", "00-001"),
    "saopaulo": Place("BR", "Sao Paulo", "01000-000"),
    "milan": Place("IT", "Milan", "20121"),
    "sydney": Place("AU", "Sydney", "2000"),
}
SHENZHEN = Place("CN", "Shenzhen", "518000")
ZONES = {
    "US": "America/New_York",
    "DE": "Europe/Berlin",
    "FR": "Europe/Paris",
    "ES": "Europe/Madrid",
    "GB": "Europe/London",
    "NL": "Europe/Amsterdam",
    "PL": "Europe/Warsaw",
    "BR": "America/Sao_Paulo",
    "IT": "Europe/Rome",
    "AU": "Australia/Sydney",
}


def _parcel(
    i: int,
    place: str,
    steps: tuple[Step, ...],
    overrides: Mapping[str, tuple[Op, ...]] | None = None,
    behaviours: tuple[Behaviour, ...] = (),
) -> SimParcel:
    dest = PLACES[place]
    sources: tuple[str, ...] = AGG
    numbers: dict[str, str] = {}
    carrier = None
    if dest.country == "US":
        sources, carrier = (*AGG, "usps"), "usps"
        numbers["usps"] = f"92612903{i:014d}"
    elif dest.country == "DE":
        sources, carrier = (*AGG, "dhl"), "dhl"
        numbers["dhl"] = f"003404341{i:011d}"
    return SimParcel(
        f"LP00{4815162342 + i * 7919:012d}",
        sources,
        SHENZHEN,
        dest,
        steps,
        numbers,
        carrier,
        overrides or {},
        behaviours,
    )


def _j(
    begin_days: float, total_days: float, upto: str | None = None, end: str = "delivered"
) -> tuple[Step, ...]:
    return syn.journey(total_days * DAY, begin_days * DAY, upto=upto, end=end)


def _delivery_hour(steps: tuple[Step, ...]) -> float:
    return steps[-1].at


def parcels() -> list[tuple[SimParcel, int]]:
    """(parcel, promised days after shipping) for every demo order."""
    out: list[tuple[SimParcel, int]] = []
    clean = [
        ("hernando", 2, 14),
        ("berlin", 3, 16),
        ("lyon", 5, 18),
        ("madrid", 6, 20),
        ("leeds", 4, 12),
        ("utrecht", 8, 15),
        ("warsaw", 10, 21),
        ("milan", 7, 19),
        ("brooklyn", 12, 17),
        ("munich", 15, 14),
        ("saopaulo", 1, 35),
        ("sydney", 9, 22),
    ]
    for place, begin, total in clean:
        out.append((_parcel(len(out), place, _j(begin, total)), 40))
    moving = [
        ("brooklyn", 30, 20),
        ("berlin", 33, 18),
        ("lyon", 36, 16),
        ("leeds", 40, 14),
        ("madrid", 25, 30),
    ]
    for place, begin, total in moving:
        out.append((_parcel(len(out), place, _j(begin, total)), 45))
    # overdue: promised long ago, still travelling
    out.append((_parcel(len(out), "milan", _j(5, 60)), 30))
    out.append((_parcel(len(out), "warsaw", _j(8, 30, upto="import_customs_released")), 25))
    held = (*_j(4, 40, upto="import_customs_processing"), Step("held_customs", 4 * DAY + 500))
    out.append((_parcel(len(out), "saopaulo", held), 30))
    # stalled: nothing new for weeks
    out.append((_parcel(len(out), "utrecht", _j(5, 40, upto="arrived_destination")), 50))
    out.append((_parcel(len(out), "hernando", _j(10, 30, upto="departed_origin")), 50))
    out.append((_parcel(len(out), "lyon", _j(6, 30, upto="handed_to_last_mile")), 50))
    # pickup points: left at a station (not delivered); collected (delivered)
    out.append((_parcel(len(out), "madrid", _j(10, 20, end="station_signed")), 40))
    collected = (*_j(8, 18, end="station_signed"), Step("picked_up_by_recipient", 8 * DAY + 500))
    out.append((_parcel(len(out), "lyon", collected), 40))
    out.extend(_fakes(len(out)))
    return [(replace(p, note=note), days) for (p, days), note in zip(out, NOTES, strict=True)]


# What each demo parcel shows, in order; tests read the "fake:" ones as must-be-suspect.
NOTES = (
    *["clean delivery"] * 12,
    *["in transit"] * 5,
    "overdue: still travelling",
    "overdue: stuck after import customs",
    "overdue: held by customs",
    "stalled after arrival",
    "stalled after departure",
    "stalled at the last-mile hand-over",
    "left at a pickup station (not delivered)",
    "collected at a pickup point",
    "fake: delivered in another country",
    "fake: delivered before it left the origin",
    "fake: movement after delivery",
    "fake: aggregators say delivered, the last mile does not",
    "fake: delivered code whose text says not delivered",
    "fake: answer for another number",
    "fake: pickup-station signing shown as delivered",
    "returned to sender",
    "lost",
    "clean delivery, slow USPS answers",
)


def _fakes(first: int) -> list[tuple[SimParcel, int]]:
    i = first
    steps = _j(6, 15)
    elsewhere = syn.fake_delivered_elsewhere(PLACES["warsaw"], ("17track", "cainiao"))
    out = [(_parcel(i, "berlin", steps, elsewhere), 40)]
    steps = _j(7, 16)
    early = syn.fake_delivered_before_departure(7 * DAY + 30, ("17track", "cainiao"))
    out.append((_parcel(i + 1, "leeds", steps, early), 40))
    steps = _j(4, 14)
    out.append(
        (
            _parcel(
                i + 2,
                "munich",
                steps,
                syn.fake_movement_after_delivery(_delivery_hour(steps), "cainiao"),
            ),
            40,
        )
    )
    steps = _j(5, 18, upto="facility_arrival")
    lm = syn.fake_last_mile_not_delivered(5 * DAY + 18 * DAY, ("17track", "cainiao"), "usps")
    out.append((_parcel(i + 3, "hernando", steps, lm), 40))
    steps = _j(9, 16, upto="out_for_delivery")
    text = {
        "17track": (
            Op(
                "add",
                event=Step(
                    "delivered",
                    9 * DAY + 16 * DAY,
                    text="Not delivered - delivered to local carrier",
                ),
            ),
        )
    }
    out.append((_parcel(i + 4, "lyon", steps, text), 40))
    steps = _j(6, 17)
    other = {
        **syn.fake_other_number("LP00999988887777", "cainiao"),
        "17track": (Op("drop", kinds=("out_for_delivery", "delivered")),),
        "aftership": (Op("drop", kinds=("out_for_delivery", "delivered")),),
    }
    out.append((_parcel(i + 5, "madrid", steps, other), 40))
    steps = _j(8, 15, end="station_signed")
    out.append(
        (
            _parcel(
                i + 6, "brooklyn", steps, syn.fake_station_as_delivered(("17track", "aftership"))
            ),
            40,
        )
    )
    returned = (
        *_j(3, 20, upto="out_for_delivery"),
        Step("delivery_attempted", 3 * DAY + 490),
        Step("returning", 3 * DAY + 600),
        Step("returned", 3 * DAY + 900),
    )
    out.append((_parcel(i + 7, "warsaw", returned), 40))
    lost = (*_j(4, 30, upto="departed_origin"), Step("lost", 4 * DAY + 400))
    out.append((_parcel(i + 8, "milan", lost), 40))
    slow = (Behaviour("delay", source="usps", ms=400),)
    out.append((_parcel(i + 9, "brooklyn", _j(11, 14), behaviours=slow), 40))
    return out


def build() -> dict[str, Any]:
    items = parcels()
    orders = []
    for k, (parcel, promised) in enumerate(items):
        dest = parcel.destination
        orders.append(
            {
                "id": f"81{(k + 1) * 104729 + 3000000000000:014d}",
                "tracking_numbers": [parcel.number],
                "destination": {
                    "country": dest.country,
                    "postal_code": dest.postal_code,
                    "city": dest.city,
                },
                "shipped_at": parcel.journey[0].at,
                "promised_by": promised,
                "timezone": ZONES[parcel.destination.country],
            }
        )
    return {
        "name": "demo",
        "start": None,
        "start_offset_hours": -45 * DAY,
        "speed": 1.0,
        # a real service is not perfectly polite: the odd 429 and a garbled page now and then
        "behaviours": [
            {"kind": "rate_limit", "source": "17track", "every": 25, "retry_after": 1},
            {"kind": "malformed", "source": "cainiao", "every": 40, "body": "html"},
        ],
        "parcels": [_clean(dataclasses.asdict(p)) for p, _ in items],
        "orders": orders,
    }


def _clean(value: Any) -> Any:
    """A dataclass dict as scenario JSON: no nulls, no empty collections."""
    if isinstance(value, dict):
        return {
            k: _clean(v)
            for k, v in value.items()
            if v not in (None, (), [], {}, 0.0, 0) or k in ("at", "after")
        }
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def main() -> None:
    json.dump(build(), sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
