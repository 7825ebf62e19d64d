"""What the service needs of a source's shared quota and breaker (workers.guards.SourceGuard
is the real one, on Redis)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

T = TypeVar("T")


class Guard(Protocol):
    """The shared quota and breaker of one source."""

    def wait_time(self, calls: int = 1) -> float: ...

    def call(self, func: Callable[[], T]) -> T: ...
