"""What every source module declares, and what it hands back.

A source module has the same shape as every other (see STYLE.md):

    SPEC: SourceSpec                                  name, batch size, rate limit, auth, base URL
    CODES: Mapping[str, str]                          its code table (raw code -> sub-status), data
    def fetch(client: SourceClient, numbers) -> list[Observation]     HTTP, one call per batch
    def parse(observation: Observation) -> ParseResult                pure

`parse` never raises anything but `UnparseableResponse`; a number the source does not know is
a `NumberResult` with outcome `not_found`; a code missing from the table becomes
`unknown.other` plus a warning.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from tracker.model import Observation, ParseResult

if TYPE_CHECKING:
    from tracker.sources.http import SourceClient


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A published quota: `calls` per `period` seconds."""

    calls: int
    period: float

    @property
    def per_second(self) -> float:
        return self.calls / self.period


@dataclass(frozen=True, slots=True)
class SourceSpec:
    name: str
    base_url: str
    batch_size: int
    rate_limit: RateLimit
    auth: str  # how credentials travel, in words ("header 17token", "none", ...)
    key_required: bool
    formats: tuple[str, ...] = ("json",)
    # further windows the source enforces beside `rate_limit` (DHL: 1 call a second as well as
    # 250 a day); every window must grant a call
    more_limits: tuple[RateLimit, ...] = ()

    @property
    def quota(self) -> tuple[RateLimit, ...]:
        """Every window of the source's published quota."""
        return (self.rate_limit, *self.more_limits)


class SourceModule(Protocol):
    SPEC: SourceSpec

    def fetch(self, client: SourceClient, numbers: Sequence[str]) -> list[Observation]: ...

    def parse(self, observation: Observation) -> ParseResult: ...


Parser = Callable[[Observation], ParseResult]
