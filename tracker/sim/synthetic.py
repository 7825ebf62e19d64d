"""Journeys from templates: `generate(n, seed)` for benchmarks (lazy: a parcel is built from its
number when asked for, so 100,000 parcels cost nothing up front) and the fakes that the demo
scenario and the tests compose.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, overload

from tracker.sim.scenario import Op, Place, Scenario, SimOrder, SimParcel, Step

# The standard AliExpress journey, each kind at a fraction of the total transit time.
STANDARD: tuple[tuple[str, float], ...] = (
    ("info_received", 0.0),
    ("accepted", 0.03),
    ("origin_facility", 0.06),
    ("export_customs_cleared", 0.12),
    ("departed_origin", 0.18),
    ("arrived_destination", 0.45),
    ("import_customs_processing", 0.5),
    ("import_customs_released", 0.6),
    ("handed_to_last_mile", 0.65),
    ("facility_arrival", 0.8),
    ("out_for_delivery", 0.97),
    ("delivered", 1.0),
)

ORIGINS = (
    Place("CN", "Shenzhen", "518000"),
    Place("CN", "Guangzhou", "510000"),
    Place("CN", "Yiwu", "322000"),
    Place("CN", "Shanghai", "200000"),
)
DESTINATIONS = (
    Place("US", "Hernando", "34442", "FL"),
    Place("US", "Brooklyn", "11201", "NY"),
    Place("DE", "Berlin", "10115"),
    Place("DE", "Munich", "80331"),
    Place("FR", "Lyon", "69001"),
    Place("ES", "Madrid", "28001"),
    Place("GB", "Leeds", "LS1 1UR"),
    Place("NL", "Utrecht", "3511"),
    Place("PL", "Warsaw", "00-001"),
    Place("BR", "Sao Paulo", "01000-000"),
    Place("IT", "Milan", "20121"),
)
LAST_MILE = {"US": ("usps", "usps"), "DE": ("dhl", "dhl")}  # country -> (source, carrier)


def journey(
    total_hours: float, begin: float = 0.0, upto: str | None = None, end: str = "delivered"
) -> tuple[Step, ...]:
    """The standard journey over `total_hours` from hour `begin`, cut after `upto`, ending
    with `end` (e.g. `station_signed` for a parcel left at a pickup station)."""
    steps = []
    for kind, fraction in STANDARD:
        name = end if kind == "delivered" else kind
        steps.append(Step(name, round(begin + fraction * total_hours, 2)))
        if upto == name:
            break
    return tuple(steps)


# ----------------------------------------------------------------------------- the fakes
# Each returns per-source overrides for a delivered journey; `at` is the delivery hour.


def fake_delivered_elsewhere(place: Place, sources: Sequence[str]) -> dict[str, tuple[Op, ...]]:
    return {s: (Op("relocate", kinds=("delivered",), location=place),) for s in sources}


def fake_delivered_before_departure(at: float, sources: Sequence[str]) -> dict[str, tuple[Op, ...]]:
    return {s: (Op("retime", kinds=("delivered",), at=at),) for s in sources}


def fake_movement_after_delivery(at: float, source: str) -> dict[str, tuple[Op, ...]]:
    return {
        source: (
            Op("add", event=Step("facility_departure", at + 30)),
            Op("add", event=Step("out_for_delivery", at + 52)),
        )
    }


def fake_last_mile_not_delivered(
    at: float, aggregators: Sequence[str], carrier: str
) -> dict[str, tuple[Op, ...]]:
    """For a journey that stops short of delivery: the aggregators claim a delivery at `at`,
    the last-mile carrier shows the parcel still moving a day later."""
    overrides: dict[str, tuple[Op, ...]] = {
        s: (Op("add", event=Step("delivered", at)),) for s in aggregators
    }
    overrides[carrier] = (Op("add", event=Step("facility_departure", at + 20)),)
    return overrides


def fake_station_as_delivered(sources: Sequence[str]) -> dict[str, tuple[Op, ...]]:
    """A pickup station signed (Cainiao GTMS_STA_SIGNED); these sources call it delivered."""
    return {s: (Op("relabel", kinds=("station_signed",), to="delivered"),) for s in sources}


def fake_text(text: str, sources: Sequence[str]) -> dict[str, tuple[Op, ...]]:
    return {s: (Op("retext", kinds=("delivered",), text=text),) for s in sources}


def fake_other_number(number: str, source: str) -> dict[str, tuple[Op, ...]]:
    return {source: (Op("answer_as", number=number),)}


# ----------------------------------------------------------------------------- generate

_AGGREGATORS = ("17track", "cainiao", "aftership")


def generate(n: int, seed: int = 0, *, speed: float = 1.0) -> Scenario:
    """A deterministic synthetic scenario of `n` parcels (numbers `LP<seed><index>`), built
    lazily: nothing is computed until a number is asked for."""
    if n < 1:
        raise ValueError("n must be at least 1")
    parcels = _LazyParcels(n, seed)
    return Scenario(
        name=f"synthetic-{n}-{seed}",
        parcels=parcels,
        orders=_LazyOrders(parcels),
        start_offset_hours=-24 * 60,
        speed=speed,
        finder=parcels.find,
    )


def number_of(index: int, seed: int) -> str:
    return f"LP{seed % 100:02d}{index:012d}CN"


def _last_mile_number(index: int, seed: int) -> str:
    return f"9400{seed % 100:02d}{index:016d}"


_NUMBER = re.compile(r"LP(\d{2})(\d{12})CN|9400(\d{2})(\d{16})")


class _LazyParcels(Mapping[str, SimParcel]):
    def __init__(self, n: int, seed: int) -> None:
        self.n, self.seed = n, seed

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[str]:
        return (number_of(i, self.seed) for i in range(self.n))

    def __getitem__(self, number: str) -> SimParcel:
        parcel = self.find("17track", number)
        if parcel is None:
            raise KeyError(number)
        return parcel

    def find(self, source: str, number: str) -> SimParcel | None:
        match = _NUMBER.fullmatch(number)
        if match is None:
            return None
        seed, index = (match.group(1), match.group(2)) if match.group(1) else match.group(3, 4)
        if int(seed) != self.seed % 100 or int(index) >= self.n:
            return None
        parcel = self.build(int(index))
        return parcel if parcel.number_at(source) == number and source in parcel.sources else None

    def build(self, index: int) -> SimParcel:
        rng = random.Random(self.seed * 1_000_003 + index)
        origin, dest = rng.choice(ORIGINS), rng.choice(DESTINATIONS)
        begin = round(rng.uniform(0, 24 * 50), 2)
        total = round(rng.uniform(24 * 8, 24 * 30), 2)
        number = number_of(index, self.seed)
        sources: tuple[str, ...] = _AGGREGATORS
        numbers: dict[str, str] = {}
        carrier = None
        if dest.country in LAST_MILE:
            source, carrier = LAST_MILE[dest.country]
            sources += (source,)
            numbers[source] = (
                _last_mile_number(index, self.seed)
                if source == "usps"
                else f"JJD{self.seed % 100:02d}{index:012d}"
            )
        roll = rng.random()
        steps = journey(total, begin, upto="facility_arrival" if roll < 0.1 else None)
        overrides = {}
        if roll > 0.95:
            overrides = fake_delivered_elsewhere(Place("FR", "Paris", "75001"), ("17track",))
        return SimParcel(number, sources, origin, dest, steps, numbers, carrier, overrides)


class _LazyOrders(Sequence[SimOrder]):
    def __init__(self, parcels: _LazyParcels) -> None:
        self.parcels = parcels

    def __len__(self) -> int:
        return self.parcels.n

    @overload
    def __getitem__(self, index: int) -> SimOrder: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[SimOrder]: ...

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        parcel = self.parcels.build(index % len(self))
        return SimOrder(
            id=f"S{self.parcels.seed}-{index % len(self):06d}",
            tracking_numbers=(parcel.number,),
            destination=parcel.destination,
            shipped_at=parcel.journey[0].at,
            promised_by=35,
        )
