"""Hypothesis strategies for the aggregator parsers (17TRACK, AfterShip, Cainiao): random JSON,
real samples with fields deleted or retyped, and truncated text; and the one check they share."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from tracker.errors import UnparseableResponse
from tracker.model import Observation, ParseResult, is_substatus

FETCHED_AT = datetime(2026, 11, 12, 10, 0, tzinfo=UTC)

scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30))


def json_values(keys: list[str]) -> st.SearchStrategy[Any]:
    """Random JSON, with object keys drawn mostly from the source's own vocabulary so the
    parser's deeper branches are reached."""
    key = st.sampled_from(keys) | st.text(max_size=8) if keys else st.text(max_size=8)
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(key, inner, max_size=6),
        max_leaves=30,
    )


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            found.extend(_paths(v, (*prefix, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found.extend(_paths(v, (*prefix, i)))
    return found


def keys_of(value: Any) -> list[str]:
    return sorted({p[-1] for p in _paths(value) if p and isinstance(p[-1], str)})


@st.composite
def mutated(draw: st.DrawFn, document: Any) -> Any:
    """`document` with a few nodes deleted or replaced by random JSON of another type."""
    doc = copy.deepcopy(document)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            return draw(json_values([]))
        path = draw(st.sampled_from(paths))
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        if draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(json_values(keys_of(document)))
    return doc


@st.composite
def truncated(draw: st.DrawFn, text: str) -> str:
    return text[: draw(st.integers(min_value=0, max_value=max(len(text) - 1, 0)))]


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def check_parse(parse: Callable[[Observation], ParseResult], source: str, payload: Any,
                numbers: tuple[str, ...] = ()) -> None:
    """Parse must either succeed with a well-formed result or raise UnparseableResponse
    (naming the source, keeping the raw body)."""
    observation = Observation(source=source, payload=payload, fetched_at=FETCHED_AT,
                              numbers=numbers)
    error: UnparseableResponse | None = None
    try:
        result = parse(observation)
    except UnparseableResponse as exc:
        error = exc
    if error is not None:
        assert error.source == source
        assert error.raw is not None, "the raw body must be kept"
        return
    for event in result.events:
        assert event.source == source
        assert is_substatus(event.substatus)
        assert event.occurred_at is None or event.occurred_at.utcoffset() is not None
    for number in numbers:
        assert any(r.requested == number for r in result.results)
