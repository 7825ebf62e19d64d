"""Hypothesis strategies that damage real payloads: fields deleted or retyped, bodies
truncated, random text. Parsers must answer every one with a result or UnparseableResponse."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from hypothesis import strategies as st

from tracker.errors import UnparseableResponse
from tracker.model import Observation, ParseResult

FIXTURES = Path(__file__).parent.parent / "fixtures"
WHEN = datetime(2026, 11, 12, 10, 0, tzinfo=UTC)

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**31), max_value=2**31),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(
        [
            "null,",
            "false,",
            "0001-01-01T00:00:00+14:00",
            "9999-12-31T23:59:59-12:00",
            "31-12-9999 23:59:59",
            "99",
            "ESB-10001",
            "+25:00",
        ]
    ),
)
REPLACEMENTS = st.one_of(
    SCALARS,
    st.lists(SCALARS, max_size=2),
    st.dictionaries(st.text(max_size=4), SCALARS, max_size=2),
)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            yield from _paths(value, (*prefix, index))


def _at(doc: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        doc = doc[step]
    return doc


@st.composite
def mutated_json(draw: st.DrawFn, doc: Any) -> Any:
    """`doc` with one to four fields deleted or replaced by a value of another type."""
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(list(_paths(doc))))
        if not path:
            doc = draw(REPLACEMENTS) if draw(st.integers(0, 9)) == 0 else doc
            continue
        parent, key = _at(doc, path[:-1]), path[-1]
        if isinstance(parent, dict) and draw(st.booleans()):
            del parent[key]
        else:
            parent[key] = draw(REPLACEMENTS)
    return doc


XML_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=12)


@st.composite
def mutated_xml(draw: st.DrawFn, text: str) -> str:
    """`text` (an XML document) with elements removed or their text replaced."""
    root = ET.fromstring(text)
    for _ in range(draw(st.integers(1, 4))):
        parents = [el for el in root.iter() if len(el)]
        if not parents:
            break
        parent = draw(st.sampled_from(parents))
        child = draw(st.sampled_from(list(parent)))
        if draw(st.booleans()):
            parent.remove(child)
        else:
            child.text = draw(XML_TEXT)
    return ET.tostring(root, encoding="unicode")


def observation(source: str, payload: Any, numbers: tuple[str, ...] = ("X1",)) -> Observation:
    return Observation(source=source, payload=payload, fetched_at=WHEN, numbers=numbers)


def parse_or_unparseable(parse: Callable[[Observation], ParseResult], obs: Observation) -> None:
    """The only exception allowed out of a parser is UnparseableResponse, naming the source."""
    error: UnparseableResponse | None = None
    try:
        parse(obs)
    except UnparseableResponse as exc:
        error = exc
    if error is not None:
        assert error.source == obs.source
        assert error.raw is not None, "the raw body must travel with the error"


def sample_json(source: str, name: str) -> Any:
    return json.loads((FIXTURES / source / name).read_text(encoding="utf-8"))


def sample_text(source: str, name: str) -> str:
    return (FIXTURES / source / name).read_text(encoding="utf-8")
