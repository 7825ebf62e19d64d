"""Hypothesis strategies shared by the carrier adapter tests (usps, ups, fedex, dhl): random
JSON and XML, real samples with fields deleted or retyped, and truncated bodies. The property
they serve: a parser returns a ParseResult that obeys the contract, or raises
UnparseableResponse naming its source and keeping the raw body -- nothing else escapes."""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from tracker.errors import UnparseableResponse
from tracker.model import Observation, ParseResult, is_substatus

FIXTURES = Path(__file__).parent.parent / "fixtures"
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**40), max_value=2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=24)
    | st.sampled_from(["", "2024-11-22T18:58:40Z", "2024-02-30T25:61:00", "-05:00", "DL", "01"])
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=16,
)


def sample_text(source: str, name: str) -> str:
    return (FIXTURES / source / name).read_text(encoding="utf-8")


def observe(source: str, payload: Any, numbers: tuple[str, ...] = ()) -> Observation:
    return Observation(
        source=source,
        payload=payload,
        fetched_at=datetime(2026, 11, 12, 10, tzinfo=UTC),
        numbers=numbers,
    )


def check(parse: Callable[[Observation], ParseResult], observation: Observation) -> None:
    """Parse; only UnparseableResponse (naming the source, keeping the body) may escape."""
    try:
        result = parse(observation)
    except UnparseableResponse as exc:
        error: UnparseableResponse = exc
    else:
        _obeys_contract(observation, result)
        return
    assert error.source == observation.source
    assert error.raw is not None


def _obeys_contract(observation: Observation, result: ParseResult) -> None:
    for event in result.events:
        assert event.source == observation.source
        assert is_substatus(event.substatus)
        assert event.substatus.split(".")[0] == event.status.value
        if event.occurred_at is not None:
            assert event.occurred_at.utcoffset() == timedelta(0)
        if event.occurred_local is not None:
            assert event.occurred_local.tzinfo is None
        if None not in (event.occurred_at, event.occurred_local, event.utc_offset_minutes):
            assert event.occurred_local is not None and event.occurred_at is not None
            assert event.utc_offset_minutes is not None
            shifted = event.occurred_local - timedelta(minutes=event.utc_offset_minutes)
            assert shifted == event.occurred_at.replace(tzinfo=None)
    for r in result.results:
        assert r.source == observation.source


# ----------------------------------------------------------------------------- JSON


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            found += _paths(child, (*prefix, i))
    return found


@st.composite
def mutated_json(draw: st.DrawFn, sample: Any) -> Any:
    """The sample with 1-4 nodes deleted or replaced by random JSON values."""
    data = copy.deepcopy(sample)
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(data)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = data
        for step in path[:-1]:
            parent = parent[step]
        if draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(JSON_VALUES)
    return data


@st.composite
def truncated(draw: st.DrawFn, body: str) -> str:
    return body[: draw(st.integers(0, max(0, len(body) - 1)))]


def json_payloads(sample_texts: list[str]) -> st.SearchStrategy[Any]:
    """Random JSON text, decoded random values, mutated samples (as text or as a decoded
    value, the way `tracker analyze` hands them over) and truncated samples."""
    samples = [json.loads(t) for t in sample_texts]
    mutated = st.sampled_from(samples).flatmap(mutated_json)
    return st.one_of(
        st.text(max_size=60),
        JSON_VALUES,
        JSON_VALUES.map(json.dumps),
        mutated,
        mutated.map(json.dumps),
        st.sampled_from(sample_texts).flatmap(truncated),
    )


# ----------------------------------------------------------------------------- XML


@st.composite
def mutated_xml(draw: st.DrawFn, body: str) -> str:
    """The sample with elements removed, texts replaced and attributes deleted or rewritten."""
    root = ET.fromstring(body)
    for _ in range(draw(st.integers(1, 5))):
        parents = [(p, c) for p in root.iter() for c in p]
        if not parents:
            break
        parent, child = draw(st.sampled_from(parents))
        action = draw(st.sampled_from(["remove", "text", "attr", "drop_attr"]))
        if action == "remove":
            parent.remove(child)
        elif action == "text":
            child.text = draw(st.text(max_size=20))
        elif action == "attr" and child.attrib:
            child.set(draw(st.sampled_from(sorted(child.attrib))), draw(st.text(max_size=20)))
        elif child.attrib:
            del child.attrib[draw(st.sampled_from(sorted(child.attrib)))]
    return ET.tostring(root, encoding="unicode")


_NAMES = st.sampled_from(
    [
        "TrackResponse",
        "TrackInfo",
        "TrackDetail",
        "Error",
        "data",
        "AWBInfo",
        "ShipmentEvent",
        "TrackingResponse",
        "piece-shipment",
        "piece-event",
        "EventCode",
        "Date",
        "Time",
    ]
)


@st.composite
def random_xml(draw: st.DrawFn) -> str:
    def build(depth: int) -> ET.Element:
        element = ET.Element(draw(_NAMES))
        for key in draw(
            st.lists(
                st.sampled_from(
                    ["name", "ID", "code", "error-status", "delivery-event-flag", "event-timestamp"]
                ),
                max_size=3,
            )
        ):
            element.set(key, draw(st.text(max_size=12)))
        element.text = draw(st.text(max_size=12))
        if depth < 3:
            element.extend(build(depth + 1) for _ in range(draw(st.integers(0, 3))))
        return element

    return ET.tostring(build(0), encoding="unicode")


def xml_payloads(sample_texts: list[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(max_size=60).map(lambda t: "<" + t),
        random_xml(),
        st.sampled_from(sample_texts).flatmap(mutated_xml),
        st.sampled_from(sample_texts).flatmap(truncated),
    )
