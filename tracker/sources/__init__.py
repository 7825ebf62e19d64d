"""The tracking sources, one module each, looked up by name.

`module(name)` imports a source lazily, so `tracker analyze` on a cainiao-only file never
imports the XML or HTTP machinery of the others.
"""

from __future__ import annotations

import importlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol, cast

from tracker.errors import UnparseableResponse
from tracker.model import SOURCE_NAMES, Observation, ParseResult, SourceEvent, format_offset
from tracker.sources._parse import load_json
from tracker.sources._sections import digests
from tracker.sources.base import SourceModule, SourceSpec

_MODULE_NAMES: dict[str, str] = {
    "17track": "seventeentrack",
    "aftership": "aftership",
    "cainiao": "cainiao",
    "usps": "usps",
    "ups": "ups",
    "fedex": "fedex",
    "dhl": "dhl",
    "ship24": "ship24",
    "postnl": "postnl",
    "royalmail": "royalmail",
    "canadapost": "canadapost",
    "australiapost": "australiapost",
}
assert tuple(_MODULE_NAMES) == SOURCE_NAMES

_loaded: dict[str, SourceModule] = {}


def module(name: str) -> SourceModule:
    """The module of source `name` (ValueError naming the source if there is none)."""
    try:
        return _loaded[name]
    except KeyError:
        pass
    if name not in _MODULE_NAMES:
        raise ValueError(f"unknown source {name!r} (known: {', '.join(SOURCE_NAMES)})")
    mod = cast(SourceModule, importlib.import_module(f"tracker.sources.{_MODULE_NAMES[name]}"))
    _loaded[name] = mod
    return mod


def spec(name: str) -> SourceSpec:
    return module(name).SPEC


def parse(observation: Observation) -> ParseResult:
    """Parse one observation with its source's parser."""
    return module(observation.source).parse(observation)


# ----------------------------------------------------------------------------- sections


@dataclass(frozen=True, slots=True)
class Sections:
    """A batch answer cut by number (`sections`): each number's digest, and the answer
    narrowed to some numbers for parsing."""

    observation: Observation
    body: Any
    digests: Mapping[str, str]  # number -> sha256 of its part

    def narrowed(self, numbers: Collection[str]) -> Observation:
        """The observation as if only `numbers` had been asked for (its decoded body cut to
        their parts): what parsing it gives them is what parsing the whole answer gives."""
        kept = tuple(n for n in self.observation.numbers if n in numbers)
        if len(kept) == len(self.observation.numbers):  # all of it, decoded once already
            return replace(self.observation, payload=self.body)
        narrow = cast(_Splitter, module(self.observation.source)).narrow
        return replace(self.observation, payload=narrow(self.body, kept), numbers=kept)


class _Splitter(Protocol):
    def split(self, body: Any, requested: Sequence[str]) -> Mapping[str, Any] | None: ...

    def narrow(self, body: Any, numbers: Collection[str]) -> Any: ...


def sections(observation: Observation) -> Sections | None:
    """The answer cut by number, when its source can cut it (`_sections`: Cainiao, 17TRACK)
    and it has the shape that allows it; else None (the answer is one indivisible body)."""
    mod = module(observation.source)
    if not observation.numbers or not hasattr(mod, "split"):
        return None
    try:
        body = load_json(observation)
    except UnparseableResponse:
        return None
    parts = cast(_Splitter, mod).split(body, observation.numbers)
    if parts is None:
        return None
    return Sections(observation, body, digests(observation.source, parts))


# ----------------------------------------------------------------------------- serialisation


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        return value.isoformat()
    return value.isoformat().replace("+00:00", "Z")


def event_to_dict(event: SourceEvent) -> dict[str, Any]:
    """A stable, JSON-safe view of a source event (used by fixtures and stored events)."""
    return {
        "source": event.source,
        "source_number": event.source_number,
        "shipment_ref": event.shipment_ref,
        "status": event.status.value,
        "substatus": event.substatus,
        "raw_status": event.raw_status,
        "raw_substatus": event.raw_substatus,
        "raw_code": event.raw_code,
        "raw_description": event.raw_description,
        "reporting_carrier": event.reporting_carrier,
        "location": event.location.to_dict(),
        "occurred_local": _iso(event.occurred_local),
        "utc_offset": format_offset(event.utc_offset_minutes),
        "occurred_at": _iso(event.occurred_at),
        "tz_provenance": event.tz_provenance.value,
        "raw_time": event.raw_time,
        "signed_by": event.signed_by,
    }


def result_to_dict(result: ParseResult) -> dict[str, Any]:
    return {
        "results": [
            {
                "requested": r.requested,
                "outcome": r.outcome.value,
                "answered": r.answered,
                "tracking_state": r.tracking_state.value,
                "shipments": r.shipments,
                "status": r.status.value if r.status else None,
                "message": r.message,
            }
            for r in result.results
        ],
        "events": [event_to_dict(e) for e in result.events],
        "warnings": [w.to_dict() for w in result.warnings],
    }
