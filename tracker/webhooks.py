"""Outbound webhooks: Standard Webhooks signing, the retry policy, and SSRF-safe sending.

Signing follows Standard Webhooks 1.0: headers `webhook-id` (stable across retries, derived
from the alert and the endpoint), `webhook-timestamp` (this attempt, Unix seconds) and
`webhook-signature: v1,<base64 HMAC-SHA256(key, "id.timestamp.body")>`, with the key taken from a
`whsec_<base64>` secret. The body is serialised once, stored, and the stored bytes are what is
signed and sent on every attempt.

The retry policy is one pure function, `next_step`, over an attempt's outcome: 2xx succeeds;
410 disables the endpoint; 429/502/503/504 slow down (the later of the schedule and
Retry-After); anything else (3xx included: redirects are never followed) is retried on the
schedule until it runs out, ~3 days after the first attempt. Endpoints failing for 5 days are
disabled.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import os
import random
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

import orjson

from tracker.errors import ValidationError
from tracker.model import Alert

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
SECRET_BYTES = 32
TOLERANCE = timedelta(minutes=5)

# Standard Webhooks' example schedule: delay before each attempt after the first.
RETRY_SCHEDULE: tuple[timedelta, ...] = (
    timedelta(0),
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=14),
    timedelta(hours=20),
    timedelta(hours=24),
)
MAX_ATTEMPTS = len(RETRY_SCHEDULE)
JITTER = 0.15  # +-15 % so that endpoints that failed together don't retry together
MAX_RETRY_AFTER = timedelta(hours=24)
DISABLE_AFTER = timedelta(days=5)
SLOW_DOWN = frozenset({429, 502, 503, 504})

CONNECT_TIMEOUT, READ_TIMEOUT = 3.0, 15.0
MAX_RESPONSE_READ = 64 * 1024
MAX_RESPONSE_STORED = 1024
MAX_PAYLOAD_BYTES = 20 * 1024


# ----------------------------------------------------------------------------- secrets, ids


def generate_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str, field: str = "secret") -> bytes:
    """The HMAC key of a `whsec_` secret; ValidationError naming `field` if malformed."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValidationError(field, f"must start with {SECRET_PREFIX}")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValidationError(field, "is not valid base64 after whsec_") from exc
    if not 24 <= len(key) <= 64:
        raise ValidationError(field, f"key must be 24 to 64 bytes, got {len(key)}")
    return key


def webhook_id(alert_key: str, endpoint_id: str) -> str:
    """Stable per alert and endpoint: a re-sent alert keeps its id (the consumer's dedupe key)."""
    digest = hashlib.sha256(f"{alert_key}\x00{endpoint_id}".encode()).digest()
    return "msg_" + base64.b32encode(digest).decode().rstrip("=").lower()[:26]


# ----------------------------------------------------------------------------- signing


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = secret_key(secret)
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secret: str, msg_id: str, timestamp: int, body: bytes, *also: str) -> dict[str, str]:
    """The signed headers; `also` are further secrets to sign with (the previous secret while
    a rotation's overlap lasts): the signatures are space-separated, and a receiver holding
    any one of the secrets verifies (Standard Webhooks)."""
    signatures = [sign(key, msg_id, timestamp, body) for key in (secret, *also)]
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signatures),
    }


def verify(secret: str, received: Mapping[str, str], body: bytes, now: float) -> bool:
    """Check a received webhook as a consumer would (constant time, 5-minute tolerance)."""
    lowered = {k.lower(): v for k, v in received.items()}
    msg_id = lowered.get("webhook-id", "")
    stamp = lowered.get("webhook-timestamp", "")
    if not msg_id or not stamp.isdigit():
        return False
    if abs(now - int(stamp)) > TOLERANCE.total_seconds():
        return False
    expected = sign(secret, msg_id, int(stamp), body).encode()
    return any(
        hmac.compare_digest(expected, candidate.encode())
        for candidate in lowered.get("webhook-signature", "").split()
    )


def payload(alert: Alert, created_at: datetime) -> bytes:
    """The body of an alert's webhook, serialised once: `{"type", "timestamp", "data"}`."""
    return body(alert.type.value, alert.order_id, alert.key, alert.data, created_at)


def body(
    alert_type: str, order_id: str, key: str, data: Mapping[str, Any], created_at: datetime
) -> bytes:
    """Serialise a webhook body. Above 20 KiB (Standard Webhooks' advice) only the scalar
    fields are kept and `truncated` says so: the full evidence stays readable in the API."""
    full: dict[str, Any] = {"order_id": order_id, "alert_key": key, **data}
    encoded = _dump({"type": alert_type, "timestamp": _iso(created_at), "data": full})
    if len(encoded) <= MAX_PAYLOAD_BYTES:
        return encoded
    scalars = {k: v for k, v in full.items() if isinstance(v, str | int | float | bool | None)}
    trimmed = {
        **{k: v[:200] if isinstance(v, str) else v for k, v in scalars.items()},
        "truncated": True,
    }
    return _dump({"type": alert_type, "timestamp": _iso(created_at), "data": trimmed})


def _dump(value: Any) -> bytes:
    return orjson.dumps(
        value,
        option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z,
        default=_json_default,
    )


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, tuple | frozenset | set):
        return list(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


# ----------------------------------------------------------------------------- retry policy


class Step(StrEnum):
    SUCCEEDED = "succeeded"
    RETRY = "retry"
    FAILED = "failed"  # schedule exhausted
    DISABLE_ENDPOINT = "disable_endpoint"  # 410 Gone


@dataclass(frozen=True, slots=True)
class Next:
    step: Step
    at: datetime | None = None


def next_step(
    status_code: int | None,
    attempts_made: int,
    now: datetime,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> Next:
    """What to do after attempt number `attempts_made` (1-based) ended with `status_code`
    (None: timeout or connection error)."""
    if status_code is not None and 200 <= status_code < 300:
        return Next(Step.SUCCEEDED)
    if status_code == 410:
        return Next(Step.DISABLE_ENDPOINT)
    if attempts_made >= MAX_ATTEMPTS:
        return Next(Step.FAILED)
    delay = _jittered(RETRY_SCHEDULE[attempts_made], rng or random.Random())
    if status_code in SLOW_DOWN and retry_after is not None:
        delay = max(delay, min(timedelta(seconds=retry_after), MAX_RETRY_AFTER))
    return Next(Step.RETRY, now + delay)


def _jittered(delay: timedelta, rng: random.Random) -> timedelta:
    return delay * (1 + rng.uniform(-JITTER, JITTER))


def should_disable(failing_since: datetime | None, now: datetime) -> bool:
    """An endpoint whose every attempt failed for DISABLE_AFTER is disabled."""
    return failing_since is not None and now - failing_since >= DISABLE_AFTER


# ----------------------------------------------------------------------------- target checks


def check_url(url: str, allow_private: bool) -> str:
    """Validate a webhook URL at registration (it is checked again at connect time)."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValidationError("url", f"must be an http(s) URL, got {url!r}")
    if parts.username or parts.password:
        raise ValidationError("url", "must not carry credentials")
    if not allow_private:
        if parts.scheme != "https":
            raise ValidationError(
                "url", "must use https (set TRACKER_WEBHOOK_ALLOW_PRIVATE for local http targets)"
            )
        if parts.port not in (None, 443):
            raise ValidationError("url", "must use port 443")
        if _private_literal(parts.hostname) or parts.hostname in ("localhost",):
            raise ValidationError("url", "private, loopback and link-local targets are refused")
    return url


def _private_literal(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return not address.is_global


# ----------------------------------------------------------------------------- sending


@dataclass(frozen=True, slots=True)
class AttemptResult:
    status_code: int | None
    duration_ms: int
    error: str | None = None
    response_excerpt: str = ""
    retry_after: float | None = None


_sessions: dict[tuple[int, bool], Any] = {}


def _session(allow_private: bool) -> Any:
    """One hardened session per process and policy, reused so that keep-alive connections
    and the adapter are not rebuilt for every delivery. The IP filter still runs on every
    request: requests-hardened resolves and checks the host each time it picks a pool, and
    pools are keyed by the checked address. Keyed by pid too: a forked worker child builds
    its own (sockets are never shared across processes)."""
    key = (os.getpid(), allow_private)
    session = _sessions.get(key)
    if session is None:
        from requests_hardened import Config, Manager

        manager = Manager(
            Config(
                ip_filter_enable=not allow_private,
                ip_filter_allow_loopback_ips=allow_private,
                never_redirect=True,
                default_timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
                user_agent_override="tracker-webhooks/1",
            )
        )
        session = _sessions[key] = manager.get_session()
    return session


def send(
    url: str, request_headers: Mapping[str, str], body: bytes, allow_private: bool
) -> AttemptResult:
    """POST once. Private and metadata addresses are refused at connect time (DNS pinned)
    unless `allow_private`; redirects are never followed; at most 64 KiB of the answer is read."""
    import requests

    from tracker.sources.http import parse_retry_after

    started = time.monotonic()
    try:
        response = _session(allow_private).post(
            url, data=body, headers=dict(request_headers), stream=True
        )
        excerpt = _read_excerpt(response)
    except Exception as exc:  # requests errors and requests-hardened's InvalidIPAddress
        if not isinstance(exc, requests.RequestException | OSError | ValueError) and (
            type(exc).__name__ != "InvalidIPAddress"
        ):
            raise
        return AttemptResult(None, _ms(started), error=f"{type(exc).__name__}: {exc}"[:500])
    return AttemptResult(
        response.status_code,
        _ms(started),
        response_excerpt=excerpt,
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
    )


def _read_excerpt(response: Any) -> str:
    # An answer read to its end leaves its connection in the pool (close() only releases
    # it); one cut short at the cap is closed instead.
    read = b""
    for chunk in response.iter_content(8192):
        read += chunk
        if len(read) >= MAX_RESPONSE_READ:
            break
    response.close()
    return read[:MAX_RESPONSE_STORED].decode("utf-8", errors="replace")


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
