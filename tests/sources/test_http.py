"""The one HTTP client every source uses: typed errors, the retry policy, Retry-After."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests
import responses

from tracker.errors import (
    RateLimited,
    SourceAuthError,
    SourceRequestRejected,
    SourceUnavailable,
    UnparseableResponse,
)
from tracker.sources import http
from tracker.sources.base import RateLimit, SourceSpec
from tracker.sources.http import RetryPolicy, SourceClient, parse_retry_after

SPEC = SourceSpec(name="cainiao", base_url="https://example.test/api", batch_size=10,
                  rate_limit=RateLimit(5, 1.0), auth="none", key_required=False)
URL = "https://example.test/api/track"


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client(sleeps: Sleeps, policy: RetryPolicy = RetryPolicy()) -> SourceClient:
    return SourceClient(SPEC, policy=policy, sleep=sleeps,
                        clock=lambda: datetime(2026, 11, 12, tzinfo=UTC))


@responses.activate
def test_success_returns_the_body_and_observation() -> None:
    responses.get(URL, body='{"ok": true}', content_type="application/json")
    sleeps = Sleeps()
    c = client(sleeps)
    response = c.request("GET", "track")
    observation = c.observe(response, ["LP1"])
    assert observation.payload == '{"ok": true}'
    assert observation.numbers == ("LP1",)
    assert observation.http_status == 200
    assert observation.fetched_at == datetime(2026, 11, 12, tzinfo=UTC)
    assert responses.calls[0].request.headers["User-Agent"].startswith("tracker/")
    assert sleeps == []


@responses.activate
def test_5xx_is_retried_with_jittered_short_sleeps_then_succeeds() -> None:
    responses.get(URL, status=502)
    responses.get(URL, status=503)
    responses.get(URL, body="{}")
    sleeps = Sleeps()
    assert client(sleeps).request("GET", "track").status_code == 200
    assert len(responses.calls) == 3
    assert len(sleeps) == 2
    assert all(0 <= s <= RetryPolicy().max_wait for s in sleeps)


@responses.activate
def test_always_failing_source_gives_up_after_the_attempt_budget() -> None:
    responses.get(URL, status=500, body="boom")
    with pytest.raises(SourceUnavailable, match="cainiao: HTTP 500"):
        client(Sleeps()).request("GET", "track")
    assert len(responses.calls) == RetryPolicy().attempts


@responses.activate
def test_timeouts_and_connection_errors_are_retried() -> None:
    responses.get(URL, body=requests.ReadTimeout("slow"))
    responses.get(URL, body=requests.ConnectionError("reset"))
    responses.get(URL, body="{}")
    assert client(Sleeps()).request("GET", "track").status_code == 200
    assert len(responses.calls) == 3


@responses.activate
def test_a_timeout_that_persists_is_a_typed_error() -> None:
    responses.get(URL, body=requests.ConnectTimeout("no route"))
    with pytest.raises(SourceUnavailable, match="timed out"):
        client(Sleeps()).request("GET", "track")


@pytest.mark.parametrize(("status", "error"), [
    (400, SourceRequestRejected), (401, SourceAuthError), (403, SourceAuthError),
    (404, SourceRequestRejected), (422, SourceRequestRejected),
])
@responses.activate
def test_4xx_other_than_429_is_never_retried(status: int, error: type[Exception]) -> None:
    responses.get(URL, status=status, body="nope")
    with pytest.raises(error):
        client(Sleeps()).request("GET", "track")
    assert len(responses.calls) == 1


@responses.activate
def test_404_can_be_an_answer_for_sources_that_use_it_for_unknown_numbers() -> None:
    responses.get(URL, status=404, json={"title": "No shipment"})
    assert client(Sleeps()).request("GET", "track", ok_statuses={404}).status_code == 404


@responses.activate
def test_short_retry_after_is_honoured_exactly() -> None:
    responses.get(URL, status=429, headers={"Retry-After": "2"})
    responses.get(URL, body="{}")
    sleeps = Sleeps()
    assert client(sleeps).request("GET", "track").status_code == 200
    assert sleeps == [2.0]


@responses.activate
def test_long_retry_after_is_handed_back_to_the_caller_not_slept_on() -> None:
    responses.get(URL, status=429, headers={"Retry-After": "120"})
    sleeps = Sleeps()
    with pytest.raises(RateLimited) as caught:
        client(sleeps).request("GET", "track")
    assert caught.value.retry_after == 120.0
    assert caught.value.retryable
    assert sleeps == []
    assert len(responses.calls) == 1


@responses.activate
def test_503_with_retry_after_is_a_rate_limit() -> None:
    responses.get(URL, status=503, headers={"Retry-After": "300"})
    with pytest.raises(RateLimited):
        client(Sleeps()).request("GET", "track")


@responses.activate
def test_oversized_body_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http, "MAX_BODY_BYTES", 1000)
    responses.get(URL, body="x" * 5000)
    with pytest.raises(UnparseableResponse, match="larger than 1000 bytes"):
        client(Sleeps()).request("GET", "track")


@responses.activate
def test_redirects_are_not_followed() -> None:
    responses.get(URL, status=302, headers={"Location": "http://169.254.169.254/"})
    with pytest.raises(SourceRequestRejected, match="302"):
        client(Sleeps()).request("GET", "track")
    assert len(responses.calls) == 1


def test_base_url_override_wins() -> None:
    c = SourceClient(SPEC, base_url="http://127.0.0.1:9000/cainiao/")
    assert c.url("global/detail.json") == "http://127.0.0.1:9000/cainiao/global/detail.json"


@pytest.mark.parametrize(("value", "expected"), [
    ("5", 5.0), (" 0 ", 0.0), (None, None), ("", None), ("soon", None),
    ("Wed, 21 Oct 2015 07:28:00 GMT", 60.0),
])
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    now = datetime(2015, 10, 21, 7, 27, tzinfo=UTC).timestamp()
    assert parse_retry_after(value, now=now) == expected
