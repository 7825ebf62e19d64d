"""Inbound pushes from 17TRACK and AfterShip: verify the signature on the raw bytes (before any
JSON parsing), then turn the body into the same raw Observation a poll would give, so a push
goes through the same `parse` and pipeline as a poll.

Signatures (carriers.md §1.5, §2.4):
- 17TRACK: header `sign` = lowercase hex SHA-256 of `raw_body + b"/" + api_key` (plain SHA-256
  of the concatenation, not an HMAC).
- AfterShip: header `aftership-hmac-sha256` = base64 HMAC-SHA256 of the raw body, keyed with the
  webhook secret.
Both compare in constant time; an empty header or key never verifies.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson

from tracker.model import Observation
from tracker.sources import aftership, seventeentrack

SIGNATURE_HEADERS: dict[str, str] = {
    "17track": "sign",
    "aftership": "aftership-hmac-sha256",
}

_NUMBERS: dict[str, Callable[[Any], tuple[str, ...]]] = {
    "17track": seventeentrack.push_numbers,
    "aftership": aftership.push_numbers,
}


def verify_17track(raw: bytes, sign_header: str, api_key: str) -> bool:
    if not sign_header or not api_key:
        return False
    expected = hashlib.sha256(raw + b"/" + api_key.encode("utf-8")).hexdigest()
    return hmac.compare_digest(
        expected.encode("ascii"), sign_header.strip().lower().encode("utf-8", "replace")
    )


def verify_aftership(raw: bytes, header_b64: str, secret: str) -> bool:
    if not header_b64 or not secret:
        return False
    digest = hmac.new(secret.encode("utf-8"), raw, hashlib.sha256).digest()
    expected = base64.b64encode(digest)
    return hmac.compare_digest(expected, header_b64.strip().encode("utf-8", "replace"))


def verify(source: str, raw: bytes, header: str, key: str) -> bool:
    """Verify a push from `source` (ValueError for a source that does not push)."""
    if source == "17track":
        return verify_17track(raw, header, key)
    if source == "aftership":
        return verify_aftership(raw, header, key)
    raise ValueError(f"source {source!r} does not push (known: {', '.join(SIGNATURE_HEADERS)})")


def push_observation(source: str, raw_body: bytes, received_at: datetime) -> Observation:
    """The raw observation for a verified push: the body as text, the numbers it names.

    A body that is not JSON still becomes an observation (it is evidence); `parse` will then
    report it as unparseable, as it would for a poll.
    """
    if source not in _NUMBERS:
        raise ValueError(f"source {source!r} does not push (known: {', '.join(_NUMBERS)})")
    text = raw_body.decode("utf-8", errors="replace")
    try:
        body = orjson.loads(raw_body)
    except orjson.JSONDecodeError:
        body = None
    return Observation(
        source=source,
        payload=text,
        fetched_at=received_at,
        numbers=_NUMBERS[source](body),
        content_type="application/json",
    )
