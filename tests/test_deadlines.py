"""Protection windows: the aliexpress policy, time zones, receipt confirmation, boundaries."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.factories import SHIPPED, order
from tracker.deadlines import POLICIES, load_policies, promised_end, window
from tracker.errors import ValidationError
from tracker.model import WindowState

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.mark.parametrize(
    ("promised_by", "tz", "end"),
    [
        (date(2026, 11, 10), "UTC", "2026-11-11T00:00:00+00:00"),
        (date(2026, 11, 10), "Europe/Berlin", "2026-11-10T23:00:00+00:00"),
        (date(2026, 7, 10), "Europe/Berlin", "2026-07-10T22:00:00+00:00"),
        # the night DST ends (25 Oct 2026 in the EU) and the night it starts (29 Mar 2026)
        (date(2026, 10, 24), "Europe/Berlin", "2026-10-24T22:00:00+00:00"),
        (date(2026, 10, 25), "Europe/Berlin", "2026-10-25T23:00:00+00:00"),
        (date(2026, 3, 28), "Europe/Berlin", "2026-03-28T23:00:00+00:00"),
        (date(2026, 3, 29), "Europe/Berlin", "2026-03-29T22:00:00+00:00"),
        (date(2026, 11, 10), "America/Los_Angeles", "2026-11-11T08:00:00+00:00"),
        (datetime(2026, 11, 10, 15, 30, tzinfo=UTC), "Europe/Berlin", "2026-11-10T15:30:00+00:00"),
        (datetime(2026, 11, 10, 15, 30), "Europe/Berlin", "2026-11-10T14:30:00+00:00"),
    ],
)
def test_promised_end(promised_by: date, tz: str, end: str) -> None:
    assert promised_end(order(promised_by=promised_by, timezone=tz)) == utc(end)


def test_promised_end_is_the_first_instant_of_the_next_local_day() -> None:
    for day in range(1, 366):
        promised = date(2026, 1, 1) + timedelta(days=day)
        end = promised_end(order(promised_by=promised, timezone="America/Sao_Paulo"))
        local = end.astimezone(ZoneInfo("America/Sao_Paulo"))
        assert local.date() == promised + timedelta(days=1)
        assert (end - timedelta(seconds=1)).astimezone(local.tzinfo).date() == promised


def test_aliexpress_window() -> None:
    w = window(order(), NOW)
    assert (w.policy, w.policy_version) == ("aliexpress", 1)
    assert w.dispute_opens_at == SHIPPED + timedelta(days=11)
    assert w.promised_end == utc("2026-11-10T23:00:00+00:00")
    assert w.dispute_closes_at == utc("2026-11-25T23:00:00+00:00")
    assert w.state is WindowState.OPEN


def test_receipt_confirmation_shortens_the_window() -> None:
    confirmed = utc("2026-10-20T10:00:00+00:00")
    w = window(order(confirmed_at=confirmed), NOW)
    assert w.dispute_closes_at == confirmed + timedelta(days=15)
    assert w.promised_end == utc("2026-11-10T23:00:00+00:00")


def test_late_confirmation_does_not_extend_the_window() -> None:
    w = window(order(confirmed_at=utc("2026-11-20T10:00:00+00:00")), NOW)
    assert w.dispute_closes_at == utc("2026-11-25T23:00:00+00:00")


@pytest.mark.parametrize(
    ("offset", "state"),
    [
        (timedelta(microseconds=-1), WindowState.NOT_OPEN),
        (timedelta(0), WindowState.OPEN),
    ],
)
def test_boundary_at_opening(offset: timedelta, state: WindowState) -> None:
    opens = SHIPPED + timedelta(days=11)
    assert window(order(), opens + offset).state is state


@pytest.mark.parametrize(
    ("offset", "state"),
    [
        (timedelta(microseconds=-1), WindowState.OPEN),
        (timedelta(0), WindowState.CLOSED),
        (timedelta(days=400), WindowState.CLOSED),
    ],
)
def test_boundary_at_closing(offset: timedelta, state: WindowState) -> None:
    closes = utc("2026-11-25T23:00:00+00:00")
    assert window(order(), closes + offset).state is state


def test_a_window_that_can_never_open_is_closed_once_past_its_end() -> None:
    slow = load_policies(
        {
            "slow": {
                "version": 1,
                "marketplace": "x",
                "opens_after_days": 20,
                "closes_after_promised_days": 5,
            }
        }
    )
    early = order(confirmed_at=SHIPPED + timedelta(days=3))
    w = window(early, SHIPPED + timedelta(days=7), "slow", policies=slow)
    assert w.dispute_closes_at < w.dispute_opens_at
    assert w.state is WindowState.NOT_OPEN
    later = window(early, SHIPPED + timedelta(days=8), "slow", policies=slow)
    assert later.state is WindowState.CLOSED


def test_now_in_another_zone_is_compared_as_an_instant() -> None:
    closes = utc("2026-11-25T23:00:00+00:00")
    berlin_now = closes.astimezone(ZoneInfo("Europe/Berlin"))
    assert window(order(), berlin_now).state is WindowState.CLOSED


def test_unknown_policy_names_it() -> None:
    with pytest.raises(ValidationError, match="'ebay-2030'"):
        window(order(), NOW, "ebay-2030")


def test_a_marketplace_no_policy_covers_is_refused_not_judged_by_another_rule() -> None:
    with pytest.raises(ValidationError, match=r"order.marketplace.*'temu'.*known: aliexpress"):
        window(order(marketplace="temu"), NOW)
    temu = load_policies({"temu-v1": {"version": 1, "marketplace": "temu", "opens_after_days": 0,
                                      "closes_after_promised_days": 90}})  # fmt: skip
    assert window(order(marketplace="temu"), NOW, policies=temu).policy == "temu-v1"


def test_unknown_time_zone_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="Mars/Olympus"):
        window(order(timezone="Mars/Olympus"), NOW)


def test_loaded_policy_changes_the_rule_without_code() -> None:
    policies = load_policies(
        {
            "aliexpress-2027": {
                "version": 2,
                "marketplace": "aliexpress",
                "opens_after_days": 7,
                "closes_after_promised_days": 30,
            },
            "temu": {
                "version": 1,
                "marketplace": "temu",
                "opens_after_days": 0,
                "closes_after_promised_days": 90,
                "confirmation_closes": False,
            },
        }
    )
    assert "aliexpress" in policies and "aliexpress" in POLICIES
    newest = window(order(), NOW, policies=policies)
    assert (newest.policy, newest.policy_version) == ("aliexpress-2027", 2)
    assert newest.dispute_opens_at == SHIPPED + timedelta(days=7)
    assert window(order(), NOW, "aliexpress", policies=policies).policy_version == 1
    temu = window(order(marketplace="temu", confirmed_at=SHIPPED), NOW, policies=policies)
    assert temu.dispute_closes_at == utc("2026-11-10T23:00:00+00:00") + timedelta(days=90)


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"marketplace": "x", "opens_after_days": 1, "closes_after_promised_days": 1}, "version"),
        ({"version": 1, "opens_after_days": 1, "closes_after_promised_days": 1}, "marketplace"),
        (
            {
                "version": 1,
                "marketplace": "x",
                "opens_after_days": -1,
                "closes_after_promised_days": 1,
            },
            "opens_after_days",
        ),
        (
            {
                "version": 1.5,
                "marketplace": "x",
                "opens_after_days": 1,
                "closes_after_promised_days": 1,
            },
            "version",
        ),
        ("not an object", "policies.bad"),
    ],
)
def test_malformed_policy_names_the_field(entry: object, field: str) -> None:
    with pytest.raises(ValidationError, match=f"policies.bad.*{field}|{field}"):
        load_policies({"bad": entry})
