"""The values a scenario is made of: places, journey steps, ops (the fakes), behaviours,
parcels and orders. `scenario.py` reads them from JSON; nothing here does I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from tracker.sim.codes import COUNTRIES

OPS = ("drop", "add", "relocate", "retext", "retime", "relabel", "answer_as")
BEHAVIOURS = ("delay", "rate_limit", "error", "hang", "malformed")
MALFORMED_BODIES = ("html", "truncated", "empty")


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
