"""Read the UTC offsets aggregators print beside a time: `+08:00`, `GMT+2`, `GMT+0800`,
`UTC-3`, `GMT+0`. Anything else (blank, a zone name, junk) is None: an offset we cannot read is
unknown, never guessed."""

from __future__ import annotations

import re
from functools import lru_cache

_OFFSET = re.compile(r"^(?:GMT|UTC)?\s*([+-])\s*(\d{1,2})(?::?(\d{2}))?$", re.IGNORECASE)
_ZERO = frozenset({"GMT", "UTC", "Z"})
MAX_OFFSET_MINUTES = 14 * 60


def parse_offset(value: object) -> int | None:
    """Minutes east of UTC, or None when `value` is not a readable offset."""
    if not isinstance(value, str):
        return None
    return _parse(value)


@lru_cache(maxsize=1024)  # a handful of distinct offsets, read for every event
def _parse(value: str) -> int | None:
    value = value.strip()
    if value.upper() in _ZERO:
        return 0
    match = _OFFSET.match(value)
    if not match:
        return None
    sign, hours, minutes = match.groups()
    total = int(hours) * 60 + int(minutes or 0)
    if total > MAX_OFFSET_MINUTES or int(minutes or 0) >= 60:
        return None
    return -total if sign == "-" else total
