"""Per-number sections of batch answers: which part of a body is about which number.

A batch answer (Cainiao detail.json covers 10 numbers, 17TRACK gettrackinfo 40) changes as a
whole whenever any one of its parcels moves, so a poll that compared whole bodies had to parse
every parcel of the batch for one that moved. A source that can cut its answer by number
declares, beside `parse`:

    def split(body, requested) -> dict[str, Any] | None   each number's part: all parse reads
                                                           about it (None: parse it whole)
    def narrow(body, numbers) -> Any                       the body with only those parts

`split` is strict: it answers only for the shape `parse` reads, when the body names exactly the
numbers asked for, each by its own number; an answer for another number, a missing number or
an error body is left to `parse` whole. Parsing `narrow(body, numbers)` gives, for those
numbers, what parsing the whole body gives (tests/sources/test_sections.py checks it on every
batch fixture).

Pure: JSON values in, JSON values and digests out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import orjson


def by_number(
    items: Sequence[Any], key: str, requested: Sequence[str]
) -> dict[str, list[Any]] | None:
    """The items of a batch list grouped by their `key` (a number), in body order; None unless
    every item is an object naming one of `requested` and every requested number is named."""
    parts: dict[str, list[Any]] = {number: [] for number in requested}
    for item in items:
        number = item.get(key) if isinstance(item, dict) else None
        group = parts.get(number) if isinstance(number, str) else None
        if group is None:
            return None
        group.append(item)
    return parts if all(parts.values()) else None


def keep(items: Sequence[Any], key: str, numbers: Collection[str]) -> list[Any]:
    """The items of a batch list (already `split`) whose `key` is one of `numbers`."""
    return [item for item in items if item[key] in numbers]


def digests(source: str, parts: Mapping[str, Any]) -> dict[str, str]:
    """One sha256 per number: of its part, keys sorted (so a source reordering the keys of an
    unchanged part does not make it new), with the source and the number."""
    return {
        number: hashlib.sha256(
            orjson.dumps([source, number, part], option=orjson.OPT_SORT_KEYS)
        ).hexdigest()
        for number, part in parts.items()
    }
