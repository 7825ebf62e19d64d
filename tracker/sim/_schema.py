"""Readers for each object of a scenario file; every error names its JSON path."""

from __future__ import annotations

from typing import Any

from tracker.sim._fields import (
    ScenarioError,
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
from tracker.sim.types import (
    BEHAVIOURS,
    MALFORMED_BODIES,
    OPS,
    Behaviour,
    Op,
    Place,
    SimOrder,
    SimParcel,
    Step,
)

# The keys each object may have: anything else is a typo worth naming ("jorney").
SCENARIO_KEYS = frozenset(
    {"name", "start", "start_offset_hours", "speed", "behaviours", "parcels", "orders", "note",
     "registration"}
)  # fmt: skip
REGISTERING_SOURCES = ("17track", "aftership")
"""Sources whose API tracks a number only once it is registered (`registration`)."""
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


def parcel(raw: Any, path: str) -> SimParcel:
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
            behaviour(b, f"{path}.behaviours[{k}]")
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


def behaviour(raw: Any, path: str) -> Behaviour:
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


def order(raw: Any, path: str) -> SimOrder:
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
