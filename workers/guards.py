"""What keeps every worker, together, inside each source's quota (reliability.md RL-1/2, CB-1).

- a moving-window rate limit per source, in Redis (`limits`), shared by all worker processes:
  one window per window of the source's quota (DHL: a second and a day), each must grant;
- a cooldown key per source set from a 429's Retry-After, checked by every worker;
- a circuit breaker per source with its state in Redis (`pybreaker`), so an outage opens the
  circuit for all workers instead of each burning quota on its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import pybreaker
import redis
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter

from tracker.errors import CircuitOpen, RateLimited, TrackerError
from tracker.sources.base import RateLimit

T = TypeVar("T")

BREAKER_FAIL_MAX = 5
BREAKER_RESET_SECONDS = 60


def _item(limit: RateLimit) -> RateLimitItem:
    # `limits` counts whole seconds; a "3 per 1 s" quota is RateLimitItemPerSecond(3, 1).
    return RateLimitItemPerSecond(limit.calls, max(1, round(limit.period)))


def _is_business_error(exc: BaseException) -> bool:
    """Only transient source failures count against the breaker (not 4xx, not parse errors)."""
    return not (isinstance(exc, TrackerError) and exc.retryable)


Quota = RateLimit | Sequence[RateLimit]  # one window, or several that must all grant


def _windows(quota: Quota) -> tuple[RateLimit, ...]:
    """The quota's windows, shortest first (the one most often refusing is asked first).
    Windows are counted in whole seconds (`_item`): two that round to the same length would
    share one Redis key, so only the tighter of them is kept."""
    windows = (quota,) if isinstance(quota, RateLimit) else tuple(quota)
    if not windows:
        raise ValueError("a quota needs at least one window")
    tightest: dict[int, RateLimit] = {}
    for window in windows:
        seconds = _item(window).multiples
        if seconds not in tightest or window.calls < tightest[seconds].calls:
            tightest[seconds] = window
    return tuple(tightest[s] for s in sorted(tightest))


@dataclass
class SourceGuard:
    source: str
    limits: tuple[RateLimit, ...]  # every window of the quota (`_windows`)
    limiter: MovingWindowRateLimiter
    client: redis.Redis
    breaker: pybreaker.CircuitBreaker

    @property
    def cooldown_key(self) -> str:
        return f"tracker:cooldown:{self.source}"

    def wait_time(self, calls: int = 1) -> float:
        """0 if `calls` calls may go now (and takes their slots in every window), else
        seconds until the window that refused may grant them. More calls than a window holds
        (a task planned under a larger quota) take that whole window rather than waiting for
        ever. Windows are asked in turn, shortest first: slots taken in the shorter windows
        before a longer one refuses are not given back (a lost slot of a second, never a call
        beyond any window)."""
        cooldown = self.client.pttl(self.cooldown_key)
        if isinstance(cooldown, int) and cooldown > 0:
            return cooldown / 1000
        for limit in self.limits:
            item = _item(limit)
            if not self.limiter.hit(item, "source", self.source, cost=min(calls, item.amount)):
                stats = self.limiter.get_window_stats(item, "source", self.source)
                return max(0.01, stats.reset_time - time.time())
        return 0.0

    def cool_down(self, seconds: float) -> None:
        if seconds > 0:
            self.client.set(self.cooldown_key, "1", px=int(seconds * 1000))

    def call(self, func: Callable[[], T]) -> T:
        """Run a source call through the breaker; a 429 sets the shared cooldown."""
        try:
            return self.breaker.call(func)
        except pybreaker.CircuitBreakerError as exc:
            raise CircuitOpen(self.source, retry_after=BREAKER_RESET_SECONDS) from exc
        except RateLimited as exc:
            self.cool_down(exc.retry_after or 1.0)
            raise


class Guards:
    """One SourceGuard per source, sharing one Redis connection pool."""

    def __init__(
        self,
        redis_url: str,
        limits: Mapping[str, Quota],
        fail_max: int = BREAKER_FAIL_MAX,
        reset_timeout: float = BREAKER_RESET_SECONDS,
    ) -> None:
        self.client = redis.Redis.from_url(redis_url)  # bytes: pybreaker needs no decoding
        self.limiter = MovingWindowRateLimiter(RedisStorage(redis_url))
        self.limits = {source: _windows(quota) for source, quota in limits.items()}
        self.fail_max = fail_max
        self.reset_timeout = reset_timeout
        self._guards: dict[str, SourceGuard] = {}

    def __getitem__(self, source: str) -> SourceGuard:
        if source not in self._guards:
            storage = pybreaker.CircuitRedisStorage(
                pybreaker.STATE_CLOSED, self.client, namespace=f"tracker:breaker:{source}"
            )
            breaker = pybreaker.CircuitBreaker(
                fail_max=self.fail_max,
                reset_timeout=self.reset_timeout,
                state_storage=storage,
                exclude=[_is_business_error],
                name=source,
            )
            self._guards[source] = SourceGuard(
                source, self.limits[source], self.limiter, self.client, breaker
            )
        return self._guards[source]

    def reset(self, source: str) -> None:
        """Forget a source's cooldown, window and breaker (tests, operator action)."""
        guard = self[source]
        self.client.delete(guard.cooldown_key)
        for limit in guard.limits:
            self.limiter.clear(_item(limit), "source", source)
        guard.breaker.close()

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Guards:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
