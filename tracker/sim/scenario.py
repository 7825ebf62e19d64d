"""Scenario files: which parcels the simulator knows, how they travel, how each source lies.

A scenario is JSON (`scenarios/demo.json` is a worked example):

    {"name": "...", "start": "2026-10-01T00:00:00Z" | null, "start_offset_hours": -480,
     "speed": 1.0,
     "behaviours": [<behaviour>...],
     "parcels": [{"number": "LP00...", "sources": ["cainiao", "17track", "usps"],
                  "numbers": {"usps": "9400..."}, "carrier": "usps",
                  "origin": <place>, "destination": <place>,
                  "journey": [{"kind": "accepted", "at": 2.5, "location": <place>?,
                               "text": "..."?}],
                  "overrides": {"17track": [<op>...], "*": [<op>...]},
                  "behaviours": [<behaviour>...]}],
     "orders": [{"id": "A-1", "tracking_numbers": ["LP00..."], "destination": <place>,
                 "shipped_at": 0 | "<ISO>", "promised_by": 30 | "<ISO date or datetime>",
                 "timezone": "Europe/Berlin"}]}

Times are hours after the scenario's start instant: `start` if given, else the server's start
plus `start_offset_hours`. `speed` is simulated hours per real hour (3600 = an hour a second),
so a demo can watch parcels move. Events later than the simulated now are not shown yet.

An `op` rewrites one source's copy of the journey (the fakes): `drop` {kinds}, `add` {event},
`relocate` {kind, location}, `retext` {kind, text}, `retime` {kind, at}, `relabel` {kind, to}
(another kind: a station signing that an aggregator calls delivered), `answer_as` {number}.
A behaviour (see `behaviour.py`) makes a source slow, rate-limited, failing, hanging or garbled:
`{"kind": "delay" | "rate_limit" | "error" | "hang" | "malformed", "source"?, "number"?,
"every"? | "after"? + "count"? | "during"? [s0, s1], "ms", "retry_after", "status" (5xx),
"seconds", "body": "html" | "truncated" | "empty"}`. Journey kinds are `codes.KINDS`; a parcel
may carry a free-text `note` (what it shows). Unknown keys are errors, named by JSON path.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from tracker.sim import _schema
from tracker.sim._fields import (
    ScenarioError,
    _choice,
    _instant,
    _list,
    _num,
    _obj,
    _str,
    _str_list,
)
from tracker.sim.types import Behaviour, Op, Place, SimOrder, SimParcel, Step

__all__ = [
    "DEMO_PATH",
    "Behaviour",
    "Finder",
    "Op",
    "Place",
    "Scenario",
    "ScenarioError",
    "SimOrder",
    "SimParcel",
    "Step",
    "from_dict",
    "load",
]

DEMO_PATH = Path(__file__).parent / "scenarios" / "demo.json"


Finder = Callable[[str, str], SimParcel | None]


@dataclass(frozen=True)
class Scenario:
    """A loaded scenario. `find(source, number)` is how the server looks parcels up; for a
    synthetic scenario it builds the parcel from the number on demand."""

    name: str
    parcels: Mapping[str, SimParcel]
    orders: Sequence[SimOrder] = ()
    behaviours: tuple[Behaviour, ...] = ()
    start: datetime | None = None
    start_offset_hours: float = 0.0
    speed: float = 1.0
    finder: Finder | None = None
    registration: frozenset[str] = frozenset()  # sources that track a number once registered
    _index: dict[tuple[str, str], SimParcel] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # (source, the number that source knows) -> parcel; a synthetic scenario has a finder
        index = (
            {}
            if self.finder is not None
            else {
                (source, parcel.number_at(source)): parcel
                for parcel in self.parcels.values()
                for source in parcel.sources
            }
        )
        object.__setattr__(self, "_index", index)

    def find(self, source: str, number: str) -> SimParcel | None:
        if self.finder is not None:
            return self.finder(source, number)
        return self._index.get((source, number))

    def iter_parcels(self) -> Iterator[SimParcel]:
        return iter(self.parcels.values())


# ----------------------------------------------------------------------------- loading


def load(path: str | Path | None) -> Scenario:
    """Read and validate a scenario file (None: the built-in demo)."""
    path = Path(path) if path is not None else DEMO_PATH
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ScenarioError(str(path), "no such file") from exc
    except json.JSONDecodeError as exc:
        raise ScenarioError(str(path), f"not JSON: {exc}") from exc
    return from_dict(raw, name=path.stem)


def from_dict(raw: Any, name: str = "scenario") -> Scenario:
    """Validate a decoded scenario; errors name the JSON path (`parcels[2].journey[0].kind`)."""
    doc = _obj(raw, "$", _schema.SCENARIO_KEYS)
    parcels: dict[str, SimParcel] = {}
    for i, item in enumerate(_list(doc, "parcels", "$")):
        parcel = _schema.parcel(item, f"parcels[{i}]")
        if parcel.number in parcels:
            raise ScenarioError(f"parcels[{i}].number", f"duplicate number {parcel.number!r}")
        parcels[parcel.number] = parcel
    orders = [_schema.order(o, f"orders[{i}]") for i, o in enumerate(_list(doc, "orders", "$"))]
    speed = _num(doc, "speed", "$", default=1.0)
    if speed <= 0:
        raise ScenarioError("speed", "must be positive")
    return Scenario(
        name=_str(doc, "name", "$", default=name) or name,
        parcels=parcels,
        orders=tuple(orders),
        behaviours=tuple(
            _schema.behaviour(b, f"behaviours[{i}]")
            for i, b in enumerate(_list(doc, "behaviours", "$"))
        ),
        start=_instant(doc.get("start"), "start") if doc.get("start") is not None else None,
        start_offset_hours=_num(doc, "start_offset_hours", "$", default=0.0),
        speed=speed,
        registration=frozenset(
            source
            for i, source in enumerate(_str_list(doc, "registration", "$"))
            if _choice(source, _schema.REGISTERING_SOURCES, f"registration[{i}]")
        ),
    )
