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
A behaviour (see `behaviour.py`) makes a source slow, rate-limited, failing, hanging or garbled.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from tracker.sim._fields import ScenarioError as ScenarioError  # re-exported
from tracker.sim._fields import (
    _check_zone,
    _choice,
    _instant,
    _list,
    _need_str,
    _num,
    _obj,
    _str,
    _str_list,
)
from tracker.sim.codes import COUNTRIES, KINDS, SIM_SOURCES

OPS = ("drop", "add", "relocate", "retext", "retime", "relabel", "answer_as")
BEHAVIOURS = ("delay", "rate_limit", "error", "hang", "malformed")
MALFORMED_BODIES = ("html", "truncated", "empty")
DEMO_PATH = Path(__file__).parent / "scenarios" / "demo.json"


@dataclass(frozen=True, slots=True)
class Place:
    country: str
    city: str | None = None
    postal_code: str | None = None
    state: str | None = None
    tz: str | None = None  # IANA zone; defaults to the country's representative zone

    @property
    def zone(self) -> str:
        return self.tz or COUNTRIES[self.country][2]


@dataclass(frozen=True, slots=True)
class Step:
    """One event of a journey: a canonical kind, hours after the start, where, what it says."""

    kind: str
    at: float
    location: Place | None = None
    text: str | None = None


@dataclass(frozen=True, slots=True)
class Op:
    op: str
    kinds: tuple[str, ...] = ()
    event: Step | None = None
    location: Place | None = None
    text: str | None = None
    at: float | None = None
    number: str | None = None
    to: str | None = None


@dataclass(frozen=True, slots=True)
class Behaviour:
    kind: str
    source: str | None = None
    number: str | None = None
    every: int | None = None  # every Nth matching request
    after: int = 0  # skip the first `after` matching requests...
    count: int | None = None  # ...then apply to `count` of them (None: all)
    during: tuple[float, float] | None = None  # seconds since server start or reset
    ms: int = 0  # delay
    retry_after: int = 1  # rate_limit
    status: int = 503  # error
    seconds: float = 30.0  # hang
    body: str = "html"  # malformed


@dataclass(frozen=True, slots=True)
class SimParcel:
    number: str
    sources: tuple[str, ...]
    origin: Place
    destination: Place
    journey: tuple[Step, ...]
    numbers: Mapping[str, str] = field(default_factory=dict)  # source -> its own number
    carrier: str | None = None  # the last-mile carrier's name (codes.CARRIERS)
    overrides: Mapping[str, tuple[Op, ...]] = field(default_factory=dict)
    behaviours: tuple[Behaviour, ...] = ()
    note: str | None = None  # what the parcel shows (e.g. which fake), for people and tests

    def number_at(self, source: str) -> str:
        return self.numbers.get(source, self.number)


@dataclass(frozen=True, slots=True)
class SimOrder:
    id: str
    tracking_numbers: tuple[str, ...]
    destination: Place
    shipped_at: float | datetime  # hours after start, or an instant
    promised_by: float | str  # days after shipping, or an ISO date / datetime
    timezone: str = "UTC"
    marketplace: str = "aliexpress"


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


# The keys each object may have: anything else is a typo worth naming ("jorney").
_SCENARIO_KEYS = frozenset(
    {"name", "start", "start_offset_hours", "speed", "behaviours", "parcels", "orders", "note"}
)
_PARCEL_KEYS = frozenset(
    {
        "number",
        "sources",
        "numbers",
        "carrier",
        "origin",
        "destination",
        "journey",
        "overrides",
        "behaviours",
        "note",
    }
)
_PLACE_KEYS = frozenset({"country", "city", "postal_code", "state", "tz"})
_STEP_KEYS = frozenset({"kind", "at", "location", "text"})
_OP_KEYS = frozenset({"op", "kind", "kinds", "event", "location", "text", "at", "number", "to"})
_BEHAVIOUR_KEYS = frozenset(
    {
        "kind",
        "source",
        "number",
        "every",
        "after",
        "count",
        "during",
        "ms",
        "retry_after",
        "status",
        "seconds",
        "body",
    }
)
_ORDER_KEYS = frozenset(
    {
        "id",
        "tracking_numbers",
        "destination",
        "shipped_at",
        "promised_by",
        "timezone",
        "marketplace",
    }
)


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
    doc = _obj(raw, "$", _SCENARIO_KEYS)
    parcels: dict[str, SimParcel] = {}
    for i, item in enumerate(_list(doc, "parcels", "$")):
        parcel = _parcel(item, f"parcels[{i}]")
        if parcel.number in parcels:
            raise ScenarioError(f"parcels[{i}].number", f"duplicate number {parcel.number!r}")
        parcels[parcel.number] = parcel
    orders = [_order(o, f"orders[{i}]") for i, o in enumerate(_list(doc, "orders", "$"))]
    speed = _num(doc, "speed", "$", default=1.0)
    if speed <= 0:
        raise ScenarioError("speed", "must be positive")
    return Scenario(
        name=_str(doc, "name", "$", default=name) or name,
        parcels=parcels,
        orders=tuple(orders),
        behaviours=tuple(
            _behaviour(b, f"behaviours[{i}]") for i, b in enumerate(_list(doc, "behaviours", "$"))
        ),
        start=_instant(doc.get("start"), "start") if doc.get("start") is not None else None,
        start_offset_hours=_num(doc, "start_offset_hours", "$", default=0.0),
        speed=speed,
    )


def _parcel(raw: Any, path: str) -> SimParcel:
    doc = _obj(raw, path, _PARCEL_KEYS)
    sources = tuple(_str_list(doc, "sources", path) or ["17track", "cainiao"])
    for j, source in enumerate(sources):
        _choice(source, SIM_SOURCES, f"{path}.sources[{j}]")
    numbers = _obj(doc.get("numbers", {}), f"{path}.numbers")
    for source, num in numbers.items():
        _choice(source, SIM_SOURCES, f"{path}.numbers.{source}")
        _need_str(num, f"{path}.numbers.{source}")
    overrides = _obj(doc.get("overrides", {}), f"{path}.overrides")
    return SimParcel(
        number=_str(doc, "number", path, required=True) or "",
        sources=sources,
        origin=_place(doc.get("origin", {"country": "CN"}), f"{path}.origin"),
        destination=_place(doc.get("destination"), f"{path}.destination"),
        journey=tuple(
            _step(s, f"{path}.journey[{j}]") for j, s in enumerate(_list(doc, "journey", path))
        ),
        numbers=dict(numbers),
        carrier=_str(doc, "carrier", path),
        overrides={
            source: tuple(
                _op(o, f"{path}.overrides.{source}[{k}]")
                for k, o in enumerate(_list(overrides, source, f"{path}.overrides"))
            )
            for source in overrides
            if source == "*" or _choice(source, SIM_SOURCES, f"{path}.overrides.{source}")
        },
        behaviours=tuple(
            _behaviour(b, f"{path}.behaviours[{k}]")
            for k, b in enumerate(_list(doc, "behaviours", path))
        ),
        note=_str(doc, "note", path),
    )


def _place(raw: Any, path: str) -> Place:
    doc = _obj(raw, path, _PLACE_KEYS)
    country = _str(doc, "country", path, required=True) or ""
    _choice(country, COUNTRIES, f"{path}.country")
    tz = _str(doc, "tz", path)
    if tz is not None:
        _check_zone(tz, f"{path}.tz")
    return Place(
        country=country,
        city=_str(doc, "city", path),
        postal_code=_str(doc, "postal_code", path),
        state=_str(doc, "state", path),
        tz=tz,
    )


def _step(raw: Any, path: str) -> Step:
    doc = _obj(raw, path, _STEP_KEYS)
    kind = _str(doc, "kind", path, required=True) or ""
    _choice(kind, KINDS, f"{path}.kind")
    location = doc.get("location")
    return Step(
        kind=kind,
        at=_num(doc, "at", path, required=True),
        location=_place(location, f"{path}.location") if location is not None else None,
        text=_str(doc, "text", path),
    )


def _op(raw: Any, path: str) -> Op:
    doc = _obj(raw, path, _OP_KEYS)
    op = _str(doc, "op", path, required=True) or ""
    _choice(op, OPS, f"{path}.op")
    kinds = _str_list(doc, "kinds", path)
    kind = _str(doc, "kind", path)
    if kind is not None:
        kinds.append(kind)
    for k, name in enumerate(kinds):
        _choice(name, KINDS, f"{path}.kinds[{k}]")
    needs = {
        "drop": "kinds",
        "add": "event",
        "relocate": "location",
        "retext": "text",
        "retime": "at",
        "relabel": "to",
        "answer_as": "number",
    }[op]
    if (needs == "kinds" and not kinds) or (needs != "kinds" and doc.get(needs) is None):
        raise ScenarioError(f"{path}.{needs}", f"required by op {op!r}")
    if op in ("relocate", "retext", "retime", "relabel") and not kinds:
        raise ScenarioError(f"{path}.kind", f"required by op {op!r}")
    to = _str(doc, "to", path)
    if to is not None:
        _choice(to, KINDS, f"{path}.to")
    event, location = doc.get("event"), doc.get("location")
    return Op(
        op=op,
        kinds=tuple(kinds),
        event=_step(event, f"{path}.event") if event is not None else None,
        location=_place(location, f"{path}.location") if location is not None else None,
        text=_str(doc, "text", path),
        at=_num(doc, "at", path, default=None),
        number=_str(doc, "number", path),
        to=to,
    )


def _behaviour(raw: Any, path: str) -> Behaviour:
    doc = _obj(raw, path, _BEHAVIOUR_KEYS)
    kind = _str(doc, "kind", path, required=True) or ""
    _choice(kind, BEHAVIOURS, f"{path}.kind")
    source = _str(doc, "source", path)
    if source is not None:
        _choice(source, SIM_SOURCES, f"{path}.source")
    during = doc.get("during")
    if during is not None and not (
        isinstance(during, list)
        and len(during) == 2
        and all(isinstance(x, int | float) and not isinstance(x, bool) for x in during)
    ):
        raise ScenarioError(f"{path}.during", "expected [from_seconds, until_seconds]")
    body = _str(doc, "body", path, default="html") or "html"
    _choice(body, MALFORMED_BODIES, f"{path}.body")
    status = int(_num(doc, "status", path, default=503))
    if not 500 <= status <= 599:
        raise ScenarioError(f"{path}.status", f"expected a 5xx status, got {status}")
    every = doc.get("every")
    if every is not None and (not isinstance(every, int) or every < 1):
        raise ScenarioError(f"{path}.every", "expected a positive integer")
    count = doc.get("count")
    if count is not None and (not isinstance(count, int) or count < 0):
        raise ScenarioError(f"{path}.count", "expected a non-negative integer")
    return Behaviour(
        kind=kind,
        source=source,
        number=_str(doc, "number", path),
        every=every,
        after=int(_num(doc, "after", path, default=0)),
        count=count,
        during=(float(during[0]), float(during[1])) if during is not None else None,
        ms=int(_num(doc, "ms", path, default=0)),
        retry_after=int(_num(doc, "retry_after", path, default=1)),
        status=status,
        seconds=_num(doc, "seconds", path, default=30.0),
        body=body,
    )


def _order(raw: Any, path: str) -> SimOrder:
    doc = _obj(raw, path, _ORDER_KEYS)
    shipped = doc.get("shipped_at", 0)
    promised = doc.get("promised_by")
    if not isinstance(promised, int | float | str) or isinstance(promised, bool):
        raise ScenarioError(f"{path}.promised_by", "expected days after shipping or an ISO date")
    tz = _str(doc, "timezone", path, default="UTC") or "UTC"
    _check_zone(tz, f"{path}.timezone")
    return SimOrder(
        id=_str(doc, "id", path, required=True) or "",
        tracking_numbers=tuple(_str_list(doc, "tracking_numbers", path)),
        destination=_place(doc.get("destination"), f"{path}.destination"),
        shipped_at=(
            _instant(shipped, f"{path}.shipped_at")
            if isinstance(shipped, str)
            else _num(doc, "shipped_at", path)
        ),
        promised_by=promised,
        timezone=tz,
        marketplace=_str(doc, "marketplace", path, default="aliexpress") or "aliexpress",
    )
