"""Misbehaviour on demand: which answer a request gets (slow, 429, 5xx, hang, garbled).

A behaviour matches requests by source and/or number, then a selector picks which of the
matching requests it hits: `every` Nth, or `count` of them after the first `after`, or those
arriving `during` a span of seconds since the server started (or was reset); with no selector
it hits all of them. Each behaviour counts its own matching requests, under a lock, so the
answers are deterministic however many threads the server runs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from tracker.sim.scenario import Behaviour, Scenario, SimParcel

# A request gets at most one failure; when several behaviours hit, the first of these wins.
_PRECEDENCE = ("hang", "rate_limit", "error", "malformed")


@dataclass
class Action:
    """What to do with one request: wait `delay_ms`, then fail (or not) as `failure` says."""

    delay_ms: int = 0
    failure: Behaviour | None = None
    hits: list[str] = field(default_factory=list)


class Behaviours:
    def __init__(self, scenario: Scenario, clock: Callable[[], float] = time.monotonic) -> None:
        self._global = scenario.behaviours
        self._clock = clock
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, int], int] = {}
        self._started = clock()

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
            self._started = self._clock()

    def decide(self, source: str, numbers: Sequence[str], parcels: Iterable[SimParcel]) -> Action:
        candidates = [(("*", i), b) for i, b in enumerate(self._global)]
        for parcel in parcels:
            candidates += [((parcel.number, i), b) for i, b in enumerate(parcel.behaviours)]
        action = Action()
        failures: list[Behaviour] = []
        with self._lock:
            elapsed = self._clock() - self._started
            for key, behaviour in candidates:
                if _matches(behaviour, source, numbers) and self._selected(key, behaviour, elapsed):
                    action.hits.append(behaviour.kind)
                    if behaviour.kind == "delay":
                        action.delay_ms += behaviour.ms
                    else:
                        failures.append(behaviour)
        failures.sort(key=lambda b: _PRECEDENCE.index(b.kind))
        action.failure = failures[0] if failures else None
        return action

    def _selected(self, key: tuple[str, int], behaviour: Behaviour, elapsed: float) -> bool:
        seen = self._counts.get(key, 0) + 1
        self._counts[key] = seen
        if behaviour.during is not None:
            begin, end = behaviour.during
            return begin <= elapsed < end
        if behaviour.every is not None:
            return seen % behaviour.every == 0
        if seen <= behaviour.after:
            return False
        return behaviour.count is None or seen <= behaviour.after + behaviour.count


def _matches(behaviour: Behaviour, source: str, numbers: Sequence[str]) -> bool:
    if behaviour.source is not None and behaviour.source != source:
        return False
    return behaviour.number is None or behaviour.number in numbers
