"""Inbound push verification and the push -> observation path."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tracker import sources
from tracker.model import Outcome, TrackingState
from tracker.sources.push import (
    push_observation,
    verify,
    verify_17track,
    verify_aftership,
)

FIXTURES = Path(__file__).parent.parent / "fixtures"
BODY = (FIXTURES / "17track" / "api-v2.4-webhook-tracking-stopped.json").read_bytes()
KEY = "17-secret-key"
SECRET = "aftership-webhook-secret"
NOW = datetime(2026, 11, 12, 10, 0, tzinfo=UTC)


def sign_17track(raw: bytes, key: str) -> str:
    return hashlib.sha256(raw + b"/" + key.encode()).hexdigest()


def sign_aftership(raw: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), raw, hashlib.sha256).digest()).decode()


def tamper(raw: bytes, index: int) -> bytes:
    return raw[:index] + bytes([raw[index] ^ 0x01]) + raw[index + 1:]


def test_17track_signature_is_sha256_of_body_slash_key() -> None:
    # Independent of our helper: the documented construction, spelled out.
    expected = hashlib.sha256(BODY + b"/17-secret-key").hexdigest()
    assert verify_17track(BODY, expected, KEY)
    assert verify_17track(BODY, expected.upper(), KEY)  # hex case is not significant


def test_17track_signature_is_not_an_hmac() -> None:
    as_hmac = hmac.new(KEY.encode(), BODY, hashlib.sha256).hexdigest()
    assert not verify_17track(BODY, as_hmac, KEY)


@pytest.mark.parametrize("index", [0, 10, len(BODY) // 2, len(BODY) - 1])
def test_17track_rejects_a_body_tampered_by_one_byte(index: int) -> None:
    assert not verify_17track(tamper(BODY, index), sign_17track(BODY, KEY), KEY)


def test_17track_rejects_wrong_key_and_empty_values() -> None:
    good = sign_17track(BODY, KEY)
    assert not verify_17track(BODY, good, "other-key")
    assert not verify_17track(BODY, "", KEY)
    assert not verify_17track(BODY, good, "")
    assert not verify_17track(BODY, "not hex at all ✓", KEY)


def test_aftership_signature_is_base64_hmac_sha256() -> None:
    assert verify_aftership(BODY, sign_aftership(BODY, SECRET), SECRET)
    assert verify_aftership(BODY, " " + sign_aftership(BODY, SECRET) + "\n", SECRET)


@pytest.mark.parametrize("index", [0, 7, len(BODY) - 1])
def test_aftership_rejects_a_body_tampered_by_one_byte(index: int) -> None:
    assert not verify_aftership(tamper(BODY, index), sign_aftership(BODY, SECRET), SECRET)


def test_aftership_rejects_wrong_secret_hex_and_empty_values() -> None:
    good = sign_aftership(BODY, SECRET)
    assert not verify_aftership(BODY, good, "another-secret")
    assert not verify_aftership(BODY, hmac.new(SECRET.encode(), BODY, "sha256").hexdigest(),
                                SECRET)
    assert not verify_aftership(BODY, "", SECRET)
    assert not verify_aftership(BODY, good, "")
    assert not verify_aftership(BODY, "é", SECRET)


def test_verify_dispatches_by_source_and_refuses_others() -> None:
    assert verify("17track", BODY, sign_17track(BODY, KEY), KEY)
    assert verify("aftership", BODY, sign_aftership(BODY, SECRET), SECRET)
    with pytest.raises(ValueError, match="cainiao"):
        verify("cainiao", BODY, "x", "y")


def test_17track_push_becomes_the_observation_a_poll_would_give() -> None:
    observation = push_observation("17track", BODY, NOW)
    assert observation.payload == BODY.decode()
    assert observation.numbers == ("AA123456789BR",)
    assert observation.fetched_at == NOW
    result = sources.parse(observation)
    [answer] = result.results
    assert answer.requested == "AA123456789BR"
    assert answer.tracking_state is TrackingState.STOPPED
    assert result.events == ()


def test_aftership_push_numbers_come_from_msg() -> None:
    raw = (b'{"event":"tracking_update","event_id":"5c7f","is_tracking_first_tag":false,'
           b'"msg":{"tracking_number":"3SKAAG5995399","slug":"postnl-3s","tag":"InTransit",'
           b'"subtag":"InTransit_004","checkpoints":[{"slug":"postnl-3s","tag":"InTransit",'
           b'"subtag":"InTransit_004","message":"Arrived","country_iso3":"ESP",'
           b'"checkpoint_time":"2021-03-25T10:59:00"}]},"ts":1616720268}')
    observation = push_observation("aftership", raw, NOW)
    assert observation.numbers == ("3SKAAG5995399",)
    result = sources.parse(observation)
    assert [r.outcome for r in result.results] == [Outcome.FOUND]
    [event] = result.events
    assert event.location.country == "ES"
    assert event.occurred_local == datetime(2021, 3, 25, 10, 59)
    assert event.occurred_at is None  # a naive checkpoint_time is not read as UTC


def test_a_push_that_is_not_json_is_still_kept_as_evidence() -> None:
    observation = push_observation("17track", b"\xff<html>oops", NOW)
    assert observation.numbers == ()
    assert "<html>oops" in observation.payload
    with pytest.raises(ValueError, match="does not push"):
        push_observation("usps", b"{}", NOW)
