from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracker import cadence
from tracker.cadence import PollState, interval, next_poll
from tracker.model import Status, Verdict, WindowState

NOW = datetime(2026, 11, 12, 12, tzinfo=UTC)
FAR = NOW + timedelta(days=20)


def state(**changes: object) -> PollState:
    values: dict[str, object] = {
        "status": Status.IN_TRANSIT, "verdict": Verdict.NONE, "window": WindowState.NOT_OPEN,
        "promised_end": FAR, "last_event_at": NOW - timedelta(hours=5),
    }
    values.update(changes)
    return PollState(**values)  # type: ignore[arg-type]


def test_moving_parcel_is_polled_at_the_base_pace() -> None:
    assert interval(state(), NOW) == cadence.BASE


def test_a_parcel_that_sits_still_is_polled_less() -> None:
    assert interval(state(last_event_at=NOW - timedelta(days=4)), NOW) == cadence.QUIET


def test_faster_near_the_promised_date_even_when_quiet() -> None:
    near = state(promised_end=NOW + timedelta(days=1), last_event_at=NOW - timedelta(days=9))
    assert interval(near, NOW) == cadence.NEAR_PROMISE
    assert interval(state(promised_end=NOW - timedelta(days=1)), NOW) == cadence.NEAR_PROMISE


@pytest.mark.parametrize("status", sorted(cadence.LAST_MILE_STATUSES))
def test_fastest_on_the_last_mile(status: Status) -> None:
    assert interval(state(status=status), NOW) == cadence.LAST_MILE


def test_one_confirmation_poll_after_a_clean_delivery_then_stop() -> None:
    delivered = state(status=Status.DELIVERED, verdict=Verdict.DELIVERED, window=WindowState.OPEN)
    assert interval(delivered, NOW) == cadence.CONFIRMATION
    confirmed = state(status=Status.DELIVERED, verdict=Verdict.DELIVERED,
                      window=WindowState.OPEN, confirmed=True)
    assert interval(confirmed, NOW) is None


def test_suspect_deliveries_stay_under_watch() -> None:
    suspect = state(status=Status.DELIVERED, verdict=Verdict.SUSPECT, window=WindowState.OPEN,
                    confirmed=True)
    assert interval(suspect, NOW) == cadence.SUSPECT_WATCH
    closed = state(status=Status.DELIVERED, verdict=Verdict.SUSPECT, window=WindowState.CLOSED)
    assert interval(closed, NOW) == cadence.AFTER_CLOSE


@pytest.mark.parametrize("status", [Status.RETURNED, Status.FAILED, Status.CANCELLED,
                                    Status.DELIVERED])
def test_polling_stops_when_terminal_and_window_closed(status: Status) -> None:
    verdict = Verdict.DELIVERED if status is Status.DELIVERED else Verdict.NONE
    assert interval(state(status=status, verdict=verdict, window=WindowState.CLOSED), NOW) is None


def test_unknown_numbers_are_retried_soon() -> None:
    fresh = state(status=Status.NOT_FOUND, last_event_at=None)
    assert interval(fresh, NOW) == cadence.NOT_FOUND_RETRY


def test_jitter_spreads_polls_within_ten_percent() -> None:
    rng = random.Random(3)
    times = {next_poll(state(), NOW, rng) for _ in range(50)}
    assert len(times) > 40
    for when in times:
        assert when is not None
        assert cadence.BASE * 0.9 <= when - NOW <= cadence.BASE * 1.1


@given(st.sampled_from(list(Status)), st.sampled_from(list(Verdict)),
       st.sampled_from(list(WindowState)), st.booleans(),
       st.integers(min_value=-40, max_value=40), st.integers(min_value=0, max_value=60))
def test_next_poll_is_always_in_the_future_or_none(status: Status, verdict: Verdict,
                                                   window: WindowState, confirmed: bool,
                                                   promise_days: int, quiet_days: int) -> None:
    polled = state(status=status, verdict=verdict, window=window, confirmed=confirmed,
                   promised_end=NOW + timedelta(days=promise_days),
                   last_event_at=NOW - timedelta(days=quiet_days))
    when = next_poll(polled, NOW, random.Random(0))
    if when is not None:
        assert timedelta(minutes=50) <= when - NOW <= timedelta(hours=27)
    else:
        assert status.terminal and verdict is not Verdict.SUSPECT
