"""The one way tracking sources are called over HTTP.

One session factory (default timeouts, user agent, connection pooling) and one retry policy:
short, jittered, transient errors only (timeouts, connection errors, 5xx, and a 429 whose
Retry-After is short), never a 4xx other than 429. Worst case per call with the defaults:
3 attempts, each at most `timeout` (3 s connect + 15 s read), and at most `max_wait` seconds of
sleeping between them, all capped by `deadline` (30 s) -- well under a poll task's soft limit.
A longer Retry-After is not slept on: `RateLimited` is raised at once for the caller to reschedule.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from tracker import __version__
from tracker.errors import (
    RateLimited,
    SourceAuthError,
    SourceRequestRejected,
    SourceUnavailable,
    UnparseableResponse,
)
from tracker.model import Observation
from tracker.sources.base import SourceSpec

DEFAULT_TIMEOUT: tuple[float, float] = (3.05, 15.0)
MAX_BODY_BYTES = 4 * 1024 * 1024
USER_AGENT = f"tracker/{__version__} (+self-hosted parcel tracking)"


def make_session(user_agent: str = USER_AGENT, pool_size: int = 16) -> requests.Session:
    """A pooled session with our user agent. Timeouts are applied per request by SourceClient."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = user_agent
    return session


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP-date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 3
    max_wait: float = 4.0  # cap of one jittered backoff sleep, and of a Retry-After we sleep on
    deadline: float = 30.0
    multiplier: float = 0.5


NO_RETRY = RetryPolicy(attempts=1)


def _transient(policy: RetryPolicy) -> Callable[[BaseException], bool]:
    def check(exc: BaseException) -> bool:
        if isinstance(exc, RateLimited):
            return exc.retry_after is None or exc.retry_after <= policy.max_wait
        return isinstance(exc, SourceUnavailable)

    return check


class SourceClient:
    """Calls one source: base URL and key from settings, typed errors, the retry policy."""

    def __init__(
        self,
        spec: SourceSpec,
        *,
        base_url: str | None = None,
        key: str | None = None,
        session: requests.Session | None = None,
        policy: RetryPolicy = RetryPolicy(),
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.spec = spec
        self.base_url = (base_url or spec.base_url).rstrip("/")
        self.key = key
        self.session = session or make_session()
        self.policy = policy
        self.timeout = timeout
        self.clock = clock
        self.sleep = sleep

    @property
    def source(self) -> str:
        return self.spec.name

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}" if path else self.base_url

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        ok_statuses: Collection[int] = (),
    ) -> requests.Response:
        """One logical call, retried by the policy. `ok_statuses` are non-2xx answers that
        carry per-number results (e.g. a 404 that means "unknown number")."""
        retrying = Retrying(
            retry=retry_if_exception(_transient(self.policy)),
            stop=stop_after_attempt(self.policy.attempts) | stop_after_delay(self.policy.deadline),
            wait=self._wait,
            sleep=self.sleep,
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                return self._once(method, path, params, json, data, headers, ok_statuses)
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            return min(exc.retry_after, self.policy.max_wait)
        jitter = wait_random_exponential(
            multiplier=self.policy.multiplier, max=self.policy.max_wait
        )
        return float(jitter(state))

    def _once(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        json: Any,
        data: Any,
        headers: Mapping[str, str] | None,
        ok_statuses: Collection[int],
    ) -> requests.Response:
        try:
            response = self.session.request(
                method,
                self.url(path),
                params=params,
                json=json,
                data=data,
                headers=dict(headers or {}),
                timeout=self.timeout,
                stream=True,
                allow_redirects=False,
            )
            self._read_capped(response)
        except requests.Timeout as exc:
            raise SourceUnavailable(self.source, f"timed out: {exc.__class__.__name__}") from exc
        except requests.ConnectionError as exc:
            raise SourceUnavailable(self.source, f"connection failed: {exc}") from exc
        except requests.RequestException as exc:
            raise SourceUnavailable(self.source, f"request failed: {exc}") from exc
        self._check(response, ok_statuses)
        return response

    def _read_capped(self, response: requests.Response) -> None:
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_content(64 * 1024):
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                response.close()
                raise UnparseableResponse(
                    self.source, f"body larger than {MAX_BODY_BYTES} bytes", b"".join(chunks)
                )
            chunks.append(chunk)
        response._content = b"".join(chunks)

    def _check(self, response: requests.Response, ok_statuses: Collection[int]) -> None:
        code = response.status_code
        if 200 <= code < 300 or code in ok_statuses:
            return
        snippet = response.text[:200].strip()
        if code == 429:
            raise RateLimited(
                self.source, "HTTP 429", parse_retry_after(response.headers.get("Retry-After"))
            )
        if code in (401, 403):
            raise SourceAuthError(self.source, f"HTTP {code}: credentials refused: {snippet}")
        if code == 503 and response.headers.get("Retry-After"):
            raise RateLimited(
                self.source, "HTTP 503", parse_retry_after(response.headers.get("Retry-After"))
            )
        if code >= 500:
            raise SourceUnavailable(self.source, f"HTTP {code}: {snippet}")
        raise SourceRequestRejected(self.source, f"HTTP {code}: {snippet}", status_code=code)

    def observe(self, response: requests.Response, numbers: Collection[str]) -> Observation:
        """The raw observation for a response: the body exactly as received, as text."""
        return Observation(
            source=self.source,
            payload=response.content.decode(response.encoding or "utf-8", errors="replace"),
            fetched_at=self.clock(),
            numbers=tuple(numbers),
            http_status=response.status_code,
            content_type=response.headers.get("Content-Type"),
        )
