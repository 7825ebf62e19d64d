"""Scenario cases in the sources' real formats (Cainiao detail.json, USPS v3 JSON), built
from short event lists so each test reads as the story it tells."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

NUMBER = "LP00512345678901"
USPS_NUMBER = "9400111899223456789012"
SHIPPED = datetime(2026, 10, 1, 1, 0, tzinfo=UTC)


def at(days: float, hours: float = 0) -> datetime:
    return SHIPPED + timedelta(days=days, hours=hours)


def z(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def cainiao(events: list[tuple[str, datetime, str]], mail_no: str = NUMBER) -> dict[str, Any]:
    """A detail.json body: events are (actionCode, instant, desc), listed oldest first."""
    cst = timedelta(hours=8)
    details = [
        {
            "actionCode": code,
            "time": int(when.timestamp() * 1000),
            "timeStr": (when + cst).strftime("%Y-%m-%d %H:%M:%S"),
            "timeZone": "GMT+08:00",
            "desc": desc,
            "standerdDesc": desc,
            "descTitle": desc,
        }
        for code, when, desc in reversed(events)
    ]
    return {
        "success": True,
        "module": [
            {
                "mailNo": mail_no,
                "mailNoSource": "AE",
                "originCountry": "CN",
                "destCountry": "US",
                "status": "transport",
                "statusDesc": details[0]["desc"] if details else "",
                "destCpInfo": {"cpName": "USPS", "cpCode": "USPS"},
                "realMailNo": USPS_NUMBER,
                "latestTrace": details[0] if details else {},
                "detailList": details,
            }
        ],
    }


def usps(events: list[tuple[str, str, datetime, str]], zip_code: str = "34442") -> dict[str, Any]:
    """A v3 tracking body: events are (eventCode, eventType, instant, eventZIP), oldest first."""
    est = timedelta(hours=-5)
    rows = [
        {
            "eventType": kind,
            "eventTimestamp": (when + est).strftime("%Y-%m-%dT%H:%M:%S"),
            "GMTTimestamp": z(when),
            "GMTOffset": "-05:00",
            "eventCountry": None,
            "eventCity": "HERNANDO",
            "eventState": "FL",
            "eventZIP": zip_code,
            "firm": None,
            "name": None,
            "authorizedAgent": "false",
            "eventCode": code,
        }
        for code, kind, when, zip_code in reversed(events)
    ]
    return {
        "trackingNumber": USPS_NUMBER,
        "destinationCity": "HERNANDO",
        "destinationState": "FL",
        "destinationZIP": "34442",
        "status": rows[0]["eventType"] if rows else "",
        "trackingEvents": rows,
    }


ORIGIN = [
    ("PU_PICKUP_SUCCESS", at(0, 4), "Picked up by carrier"),
    ("SC_INBOUND_SUCCESS", at(0, 10), "Arrived at sorting center"),
    ("CC_EX_SUCCESS", at(1), "Export customs clearance complete"),
    ("LH_DEPART", at(2), "Departed from departure country/region"),
]
ARRIVAL = [
    ("LH_ARRIVE", at(6), "Arrived at destination country/region"),
    ("CC_IM_SUCCESS", at(7), "Import customs clearance complete"),
    ("GTMS_ACCEPT", at(8), "Received by local delivery company"),
]
LAST_MILE = [
    ("10", "Arrived at USPS Regional Facility", at(8, 6), "34442"),
    ("OF", "Out for Delivery", at(11, 14), "34442"),
]


def case(observations: list[dict[str, Any]], now: datetime, **order: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "id": "A-2001",
        "marketplace": "aliexpress",
        "destination": {"country": "US", "postal_code": "34442", "city": "Hernando"},
        "timezone": "America/New_York",
        "shipped_at": z(SHIPPED),
        "promised_by": "2026-11-10",
        "confirmed_at": None,
    }
    fields.update(order)
    return {
        "order": fields,
        "parcels": [{"tracking_number": NUMBER, "other_numbers": [USPS_NUMBER]}],
        "observations": observations,
        "now": z(now),
    }


def obs(source: str, payload: Any, number: str, fetched: datetime) -> dict[str, Any]:
    return {
        "source": source,
        "tracking_number": number,
        "fetched_at": z(fetched),
        "payload": payload,
    }


def seventeentrack(
    events: list[tuple[str, datetime, str, str | None, str | None]], number: str = NUMBER
) -> dict[str, Any]:
    """A v2.4 `gettrackinfo` body: events are (sub_status, instant, description, city,
    country), oldest first, stamped in China time as 17TRACK relays Chinese carriers."""
    cst = timedelta(hours=8)
    rows = [
        {
            "time_iso": (when + cst).strftime("%Y-%m-%dT%H:%M:%S+08:00"),
            "time_utc": z(when),
            "time_raw": {"date": (when + cst).strftime("%Y-%m-%d"),
                         "time": (when + cst).strftime("%H:%M:%S"), "timezone": "+08:00"},
            "description": desc,
            "description_translation": {"lang": "en", "description": desc},
            "location": ", ".join(p for p in (city, country) if p) or None,
            "stage": sub.split("_")[0],
            "sub_status": sub,
            "address": {"country": country, "state": None, "city": city, "street": None,
                        "postal_code": None,
                        "coordinates": {"longitude": None, "latitude": None}},
        }
        for sub, when, desc, city, country in reversed(events)
    ]  # fmt: skip
    latest = rows[0]["sub_status"] if rows else "NotFound_Other"
    return {
        "code": 0,
        "data": {
            "accepted": [
                {
                    "number": number,
                    "carrier": 190271,
                    "track_info": {
                        "shipping_info": {
                            "shipper_address": {"country": "CN"},
                            "recipient_address": {"country": "US"},
                        },
                        "latest_status": {"status": latest.split("_")[0], "sub_status": latest},
                        "latest_event": rows[0] if rows else None,
                        "tracking": {
                            "providers": [
                                {"provider": {"key": 190271, "name": "Cainiao"}, "events": rows}
                            ]
                        },
                    },
                }
            ],
            "rejected": [],
        },
    }
