"""Request counters, so a test can count the calls that reached a source (thread-safe)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from typing import Any


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._total = 0
            self._sources: Counter[str] = Counter()
            self._numbers: Counter[tuple[str, str]] = Counter()
            self._statuses: Counter[str] = Counter()
            self._failures: Counter[str] = Counter()

    def count(
        self, source: str, numbers: Sequence[str], status: int, failure: str | None = None
    ) -> None:
        """One request to `source` asking for `numbers`; status 0 means no answer was sent."""
        with self._lock:
            self._total += 1
            self._sources[source] += 1
            for number in dict.fromkeys(numbers):  # a number twice in one batch is one ask
                self._numbers[(source, number)] += 1
            self._statuses[str(status)] += 1
            if failure:
                self._failures[f"{source}:{failure}"] += 1

    def requests(self, source: str | None = None, number: str | None = None) -> int:
        with self._lock:
            if number is None:
                return self._total if source is None else self._sources[source]
            return sum(
                n for (s, num), n in self._numbers.items() if num == number and source in (None, s)
            )

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            by_number: dict[str, int] = Counter()
            by_source_number: dict[str, dict[str, int]] = {}
            for (source, number), n in self._numbers.items():
                by_number[number] += n
                by_source_number.setdefault(source, {})[number] = n
            return {
                "requests": self._total,
                "by_source": dict(self._sources),
                "by_number": dict(by_number),
                "by_source_number": by_source_number,
                "by_status": dict(self._statuses),
                "failures": dict(self._failures),
            }
