"""Whole cases, in the sources' real formats, through `tracker.pipeline.run_case`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from tests.scenarios.build import (
    ARRIVAL,
    LAST_MILE,
    NUMBER,
    ORIGIN,
    USPS_NUMBER,
    at,
    cainiao,
    case,
    obs,
    seventeentrack,
    usps,
    z,
)
from tracker.pipeline import Case, run_case

OUT = ("GTMS_DO_DEPART", at(11, 14), "Out for delivery")
SIGNED = ("GTMS_SIGNED", at(11, 19), "Delivered")
USPS_DELIVERED = ("01", "Delivered, In/At Mailbox", at(11, 19), "34442")


def run(observations: list[dict[str, Any]], now: datetime, **order: Any) -> dict[str, Any]:
    return run_case(Case.from_json(case(observations, now, **order)), now)


def clean(now: datetime = at(13), **order: Any) -> dict[str, Any]:
    return run(
        [
            obs("cainiao", cainiao([*ORIGIN, *ARRIVAL, OUT, SIGNED]), NUMBER, now),
            obs("usps", usps([*LAST_MILE, USPS_DELIVERED]), USPS_NUMBER, now),
        ],
        now,
        **order,
    )


def rules(report: dict[str, Any]) -> set[str]:
    return {r["rule"] for r in report["delivery"]["reasons"]}


def alert_types(report: dict[str, Any]) -> set[str]:
    return {a["type"] for a in report["alerts"]}


CLEAN_FIXTURES = {
    "two-sources": lambda: clean(),
    "cainiao-only": lambda: run(
        [obs("cainiao", cainiao([*ORIGIN, *ARRIVAL, OUT, SIGNED]), NUMBER, at(13))], at(13)
    ),
    "usps-confirmation-later": lambda: run(
        [
            obs("cainiao", cainiao([*ORIGIN, *ARRIVAL, OUT, SIGNED]), NUMBER, at(13)),
            obs(
                "usps",
                usps(
                    [
                        *LAST_MILE,
                        USPS_DELIVERED,
                        ("01", "Delivered, In/At Mailbox", at(11, 20), "34442"),
                    ]
                ),
                USPS_NUMBER,
                at(14),
            ),
        ],
        at(14),
    ),
}


@pytest.mark.parametrize("name", sorted(CLEAN_FIXTURES))
def test_clean_delivery_is_delivered_with_no_reasons(name: str) -> None:
    report = CLEAN_FIXTURES[name]()
    assert report["delivery"]["verdict"] == "delivered", report["delivery"]["reasons"]
    assert report["delivery"]["reasons"] == []
    assert report["delivery"]["delivered_at"] == z(at(11, 19))
    assert "delivery.confirmed" in alert_types(report)


def test_false_positives_across_clean_fixtures_are_zero() -> None:
    flagged = [
        n for n, build in CLEAN_FIXTURES.items() if build()["delivery"]["verdict"] != "delivered"
    ]
    assert flagged == []


def test_pickup_station_signing_is_not_delivered() -> None:
    station = ("GTMS_STA_SIGNED", at(11, 19), "Signed by pickup station")
    report = run([obs("cainiao", cainiao([*ORIGIN, *ARRIVAL, station]), NUMBER, at(13))], at(13))
    assert report["delivery"]["verdict"] == "none"
    assert report["substatus"] == "available_for_pickup.station_received"
    assert "delivery.confirmed" not in alert_types(report)


def test_delivered_with_no_arrival_is_an_impossible_sequence() -> None:
    report = run([obs("cainiao", cainiao([*ORIGIN, SIGNED]), NUMBER, at(13))], at(13))
    assert report["delivery"]["verdict"] == "suspect"
    assert rules(report) == {"sequence_impossible"}
    assert "delivery.suspect" in alert_types(report)


def test_movement_after_delivery() -> None:
    report = run(
        [
            obs("cainiao", cainiao([*ORIGIN, *ARRIVAL, OUT, SIGNED]), NUMBER, at(16)),
            obs(
                "usps",
                usps([*LAST_MILE, ("10", "Arrived at USPS Regional Facility", at(14), "34442")]),
                USPS_NUMBER,
                at(16),
            ),
        ],
        at(16),
    )
    assert report["delivery"]["verdict"] == "suspect"
    assert {"post_delivery_activity", "source_disagreement"} <= rules(report)


def test_last_mile_carrier_never_saw_the_parcel() -> None:
    awaiting = [("MA", "Pre-Shipment Info Sent to USPS, USPS Awaiting Item", at(13), "34442")]
    report = run(
        [
            obs("cainiao", cainiao([*ORIGIN, *ARRIVAL, SIGNED]), NUMBER, at(13, 2)),
            obs("usps", usps(awaiting), USPS_NUMBER, at(13, 2)),
        ],
        at(13, 2),
    )
    assert report["delivery"]["verdict"] == "suspect"
    reasons = [r for r in report["delivery"]["reasons"] if r["rule"] == "source_disagreement"]
    assert reasons and reasons[0]["sources"] == ["usps"]


def test_delivered_text_that_says_otherwise() -> None:
    fake = ("GTMS_SIGNED", at(8, 2), "Delivered to local carrier")
    report = run([obs("cainiao", cainiao([*ORIGIN, *ARRIVAL, fake]), NUMBER, at(9))], at(9))
    assert "text_contradiction" in rules(report)


def test_answer_for_another_number() -> None:
    other = cainiao([*ORIGIN, *ARRIVAL, OUT, SIGNED], mail_no="LP00599999999999")
    report = run([obs("cainiao", other, NUMBER, at(13))], at(13))
    assert report["delivery"]["verdict"] == "suspect"
    assert "identity_mismatch" in rules(report)


# ----------------------------------------------------------------------------- deadlines


def in_transit(now: datetime, **order: Any) -> dict[str, Any]:
    return run([obs("cainiao", cainiao([*ORIGIN, *ARRIVAL]), NUMBER, now)], now, **order)


PROMISED_END = "2026-11-11T05:00:00Z"  # 2026-11-10 ends at midnight in New York (EST)


def test_overdue_after_the_promised_date() -> None:
    now = datetime.fromisoformat(PROMISED_END)
    report = in_transit(now)
    assert report["protection"]["promised_end"] == PROMISED_END
    assert "order.overdue" in alert_types(report)
    assert "order.overdue" not in alert_types(in_transit(at(40)))


def test_deadline_near() -> None:
    report = in_transit(datetime.fromisoformat("2026-11-24T05:00:00Z"))
    assert report["protection"]["dispute_closes_at"] == "2026-11-26T05:00:00Z"
    assert {"dispute.deadline_near", "order.overdue"} <= alert_types(report)


def test_window_closed() -> None:
    report = in_transit(datetime.fromisoformat("2026-11-26T05:00:00Z"))
    assert report["protection"]["state"] == "closed"
    assert alert_types(report).isdisjoint({"dispute.deadline_near", "order.overdue"})


def test_delivered_late() -> None:
    report = clean(at(13), promised_by="2026-10-05")
    assert {"order.delivered_late", "delivery.confirmed"} <= alert_types(report)
    assert "order.overdue" not in alert_types(report)


def test_receipt_confirmation_shortens_the_window() -> None:
    report = in_transit(at(20), confirmed_at=z(at(15)))
    assert report["protection"]["dispute_closes_at"] == z(at(30))


# ----------------------------------------------------------------------------- more sources

# 17TRACK relaying Cainiao's scans, with the places Cainiao leaves out
RELAYED_ORIGIN = [
    ("InTransit_PickedUp", at(0, 4), "Picked up by carrier", "SHENZHEN", "CN"),
    ("InTransit_Other", at(0, 10), "Arrived at sorting center", "SHENZHEN", "CN"),
    ("InTransit_Other", at(1), "Export customs clearance complete", "SHENZHEN", "CN"),
    ("InTransit_Departure", at(2), "Departed from departure country/region", "SHENZHEN", "CN"),
]


def test_delivered_in_the_origin_country() -> None:
    # 17TRACK claims a delivery in Shenzhen three days after the parcel left China
    fake = ("Delivered_Other", at(5), "Delivered", "SHENZHEN", "CN")
    report = run(
        [
            obs("cainiao", cainiao(ORIGIN), NUMBER, at(6)),
            obs("17track", seventeentrack([*RELAYED_ORIGIN, fake]), NUMBER, at(6)),
        ],
        at(6),
    )
    assert report["delivery"]["verdict"] == "suspect"
    assert "location_mismatch" in rules(report)
    mismatch = next(r for r in report["delivery"]["reasons"] if r["rule"] == "location_mismatch")
    assert mismatch["sources"] == ["17track"] and "CN" in mismatch["detail"]
    assert "delivery.suspect" in alert_types(report)


def test_a_failed_delivery_attempt_is_a_tracking_exception() -> None:
    attempt = ("DeliveryFailure_NoBody", at(11, 14), "Delivery attempted, nobody home",
               "HERNANDO", "US")  # fmt: skip
    report = run(
        [
            obs("cainiao", cainiao([*ORIGIN, *ARRIVAL]), NUMBER, at(11, 16)),
            obs("17track", seventeentrack([*RELAYED_ORIGIN, attempt]), NUMBER, at(11, 16)),
        ],
        at(11, 16),
    )
    assert report["status"] == "delivery_attempted"
    (alert,) = [a for a in report["alerts"] if a["type"] == "tracking.exception"]
    assert alert["data"]["event"]["sources"] == ["17track"]
    assert alert["data"]["event"]["substatus"] == "delivery_attempted.recipient_unavailable"


def test_a_parcel_quiet_for_ten_days_has_stalled() -> None:
    quiet = run([obs("cainiao", cainiao(ORIGIN), NUMBER, at(12, 1))], at(12, 1))
    (alert,) = [a for a in quiet["alerts"] if a["type"] == "tracking.stalled"]
    assert alert["data"]["quiet_since"] == z(at(2))
    assert alert["data"]["last_event"]["description"] == "Departed from departure country/region"
    not_yet = run([obs("cainiao", cainiao(ORIGIN), NUMBER, at(11, 23))], at(11, 23))
    assert "tracking.stalled" not in alert_types(not_yet)


def test_a_second_source_adding_detail_raises_no_second_alert() -> None:
    """Alert keys are what the outbox deduplicates on: when 17TRACK later relays the same
    scans with their places (changing the merged events' ids), no key is new."""
    signed_here = ("Delivered_Other", at(11, 19), "Delivered", "HERNANDO", "US")
    cainiao_only = [obs("cainiao", cainiao([*ORIGIN, *ARRIVAL, OUT, SIGNED]), NUMBER, at(13))]
    both = [*cainiao_only, obs("17track", seventeentrack([*RELAYED_ORIGIN, signed_here]),
                               NUMBER, at(13))]  # fmt: skip
    first, second = run(cainiao_only, at(13)), run(both, at(13))
    assert first["timeline"][-1]["id"] != second["timeline"][-1]["id"]  # the id did change
    assert second["timeline"][-1]["sources"] == ["17track", "cainiao"]
    assert {a["key"] for a in second["alerts"]} == {a["key"] for a in first["alerts"]}
    assert "delivery.confirmed" in alert_types(second)

    stalled_first = run([obs("cainiao", cainiao(ORIGIN), NUMBER, at(13))], at(13))
    stalled_both = run(
        [
            obs("cainiao", cainiao(ORIGIN), NUMBER, at(13)),
            obs("17track", seventeentrack(RELAYED_ORIGIN), NUMBER, at(13)),
        ],
        at(13),
    )
    keys = [{a["key"] for a in r["alerts"] if a["type"] == "tracking.stalled"}
            for r in (stalled_first, stalled_both)]  # fmt: skip
    assert keys[0] and keys[0] == keys[1]
