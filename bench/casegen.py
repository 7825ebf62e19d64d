"""Realistic `tracker analyze` cases: AliExpress parcels CN -> Europe seen by Cainiao, 17TRACK and
AfterShip, each payload in its source's real response format (carriers.md §1.3, §2.2, §3.1).

One physical route is drawn per parcel; each source then reports it its own way: Cainiao with
epoch milliseconds and action codes (newest first), 17TRACK with `time_iso`/`time_utc`/`time_raw`
and `sub_status` (newest first; now and then a scan re-stamped with the origin's offset),
AfterShip with naive `checkpoint_time` wall clocks and tags (oldest first).

    python bench/casegen.py N > cases.jsonl     N cases as JSON Lines
"""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson


@dataclass(frozen=True)
class Scan:
    """One physical scan: what each source calls it, where and when it happened."""

    cainiao: str
    seventeen: str
    aftership: str
    text: str
    city: str
    country: str
    at: datetime


ZONES = {"CN": ZoneInfo("Asia/Shanghai"), "DE": ZoneInfo("Europe/Berlin"),
         "BE": ZoneInfo("Europe/Brussels"), "HU": ZoneInfo("Europe/Budapest"),
         "FR": ZoneInfo("Europe/Paris"), "NL": ZoneInfo("Europe/Amsterdam"),
         "ES": ZoneInfo("Europe/Madrid")}  # fmt: skip
ISO3 = {"CN": "CHN", "DE": "DEU", "FR": "FRA", "NL": "NLD", "ES": "ESP", "BE": "BEL", "HU": "HUN"}
CITIES = {"DE": ("Berlin", "10115"), "FR": ("Paris", "75001"), "NL": ("Amsterdam", "1011"),
          "ES": ("Madrid", "28001")}  # fmt: skip
ORIGIN_LEG = [
    ("PU_PICKUP_SUCCESS", "InTransit_PickedUp", "InTransit_002", "Parcel picked up by carrier"),
    ("SC_INBOUND_SUCCESS", "InTransit_Other", "InTransit_003", "Arrived at sorting center"),
    ("SC_OUTBOUND_SUCCESS", "InTransit_Other", "InTransit_007", "Departed from sorting center"),
    ("CC_EX_SUCCESS", "InTransit_CustomsReleased", "InTransit_001", "Export customs cleared"),
    ("LH_HO_IN_SUCCESS", "InTransit_Other", "InTransit_001", "Received by line-haul"),
    ("LH_DEPART", "InTransit_Departure", "InTransit_001", "Departed from departure country"),
]  # fmt: skip
HUB = ("COMMON_INTRANSIT", "InTransit_Other", "InTransit_001", "In transit to next facility")
DEST_LEG = [
    ("LH_ARRIVE", "InTransit_Arrival", "InTransit_004", "Arrived at destination country"),
    ("CC_IM_START", "InTransit_CustomsProcessing", "InTransit_006", "Import customs started"),
    ("CC_IM_SUCCESS", "InTransit_CustomsReleased", "InTransit_005", "Import customs cleared"),
    ("GTMS_ACCEPT", "InTransit_Other", "InTransit_001", "Received by local delivery company"),
    ("GTMS_SC_ARRIVE", "InTransit_Other", "InTransit_003", "Arrived at delivery facility"),
    ("GTMS_DO_DEPART", "OutForDelivery_Other", "OutForDelivery_001", "Out for delivery"),
    ("GTMS_SIGNED", "Delivered_Other", "Delivered_001", "Delivered, signed by recipient"),
]  # fmt: skip
TRANSIT_CITIES = ["Guangzhou", "Dongguan", "Hong Kong", "Liege", "Leipzig", "Budapest"]


def route(
    rng: random.Random, shipped: datetime, dest: str, hubs: int, delivered: bool
) -> list[Scan]:
    """The physical scans of one parcel, oldest first."""
    legs = [*ORIGIN_LEG, *[HUB] * hubs, *DEST_LEG]
    if not delivered:
        legs = legs[: len(legs) - rng.randint(1, 4)]
    scans, at = [], shipped + timedelta(hours=rng.randint(2, 30))
    origin_steps = len(ORIGIN_LEG) + hubs // 2
    for i, (cainiao, seventeen, aftership, text) in enumerate(legs):
        at += timedelta(minutes=rng.randint(40, 60 * 30), seconds=rng.randint(0, 59))
        home = i < origin_steps
        country = "CN" if home else dest
        city = (
            ("Shenzhen" if i < 4 else rng.choice(TRANSIT_CITIES[:3]))
            if home
            else (CITIES[dest][0] if cainiao.startswith("GTMS") else rng.choice(TRANSIT_CITIES[3:]))
        )
        if not home and city in ("Liege", "Budapest"):
            country = {"Liege": "BE", "Budapest": "HU"}[city]
        scans.append(
            Scan(cainiao, seventeen, aftership, text, city, country, at.replace(microsecond=0))
        )
    return scans


def _zone(country: str) -> ZoneInfo:
    return ZONES.get(country, ZONES["DE"])


def _offset(moment: datetime) -> str:
    total = int(moment.utcoffset().total_seconds() // 60)  # type: ignore[union-attr]
    sign = "-" if total < 0 else "+"
    return f"{sign}{abs(total) // 60:02d}:{abs(total) % 60:02d}"


def cainiao_payload(number: str, dest: str, scans: list[Scan]) -> dict[str, Any]:
    beijing = ZONES["CN"]
    details = []
    for s in reversed(scans):
        local = s.at.astimezone(_zone(s.country))
        details.append({
            "actionCode": s.cainiao, "time": int(s.at.timestamp() * 1000),
            "timeStr": s.at.astimezone(beijing).strftime("%Y-%m-%d %H:%M:%S"),
            "timeZone": "GMT" + _offset(local), "desc": f"[{s.city}] {s.text}",
            "standerdDesc": s.text, "descTitle": s.text.split(",")[0], "group": None,
        })  # fmt: skip
    return {"success": True, "module": [{
        "mailNo": number, "mailNoSource": "AE", "status": "DELIVERED" if scans[-1].cainiao ==
        "GTMS_SIGNED" else "transport", "statusDesc": scans[-1].text, "originCountry": "CN",
        "destCountry": dest, "daysNumber": str((scans[-1].at - scans[0].at).days),
        "destCpInfo": {"cpName": "DHL Paket", "cpCode": "DHL_DE"}, "realMailNo": None,
        "latestTrace": details[0], "globalEtaInfo": None, "detailList": details}]}  # fmt: skip


def seventeen_event(s: Scan, rng: random.Random) -> dict[str, Any]:
    local = s.at.astimezone(_zone(s.country))
    if s.country != "CN" and rng.random() < 0.05:  # re-stamped with the origin's offset
        local = local.replace(tzinfo=ZONES["CN"])
    return {
        "time_iso": local.isoformat(), "time_utc": local.astimezone(UTC).isoformat().replace(
            "+00:00", "Z"),
        "time_raw": {"date": local.strftime("%Y-%m-%d"), "time": local.strftime("%H:%M:%S"),
                     "timezone": _offset(local)},
        "description": s.text, "description_translation": None,
        "location": f"{s.city.upper()}, {s.country}", "stage": None, "sub_status": s.seventeen,
        "address": {"country": s.country, "state": None, "city": s.city, "street": None,
                    "postal_code": None, "coordinates": {"longitude": None, "latitude": None}},
    }  # fmt: skip


def seventeen_payload(number: str, dest: str, scans: list[Scan], rng: random.Random) -> Any:
    events = [seventeen_event(s, rng) for s in reversed(scans)]
    latest = scans[-1].seventeen
    return {"code": 0, "data": {"accepted": [{
        "number": number, "carrier": 190271, "param": None, "tag": None,
        "track_info": {
            "shipping_info": {"shipper_address": {"country": "CN"},
                              "recipient_address": {"country": dest}},
            "latest_status": {"status": latest.split("_")[0], "sub_status": latest,
                              "sub_status_descr": None},
            "latest_event": events[0], "time_metrics": {"days_after_order": 12},
            "milestone": [], "misc_info": {"risk_factor": 0, "local_provider": "Cainiao"},
            "tracking": {"providers_hash": 1, "providers": [{
                "provider": {"key": 190271, "name": "Cainiao", "alias": "Cainiao",
                             "tel": None, "homepage": "https://global.cainiao.com",
                             "country": "CN"},
                "service_type": None, "latest_sync_status": "Success",
                "latest_sync_time": events[0]["time_utc"], "events_hash": 2, "events": events}]},
        }}], "rejected": []}}  # fmt: skip


def aftership_payload(number: str, scans: list[Scan]) -> dict[str, Any]:
    checkpoints = []
    for s in scans:
        local = s.at.astimezone(_zone(s.country)).replace(tzinfo=None)
        tag = s.aftership.split("_")[0]
        checkpoints.append({
            "slug": "cainiao", "city": s.city, "created_at": s.at.isoformat(), "location": None,
            "country_name": None, "message": s.text, "country_iso3": ISO3.get(s.country),
            "tag": tag, "subtag": s.aftership, "subtag_message": tag,
            "checkpoint_time": local.isoformat(), "coordinates": [], "state": None, "zip": None,
            "raw_tag": s.cainiao,
        })  # fmt: skip
    last = scans[-1].aftership
    return {"meta": {"code": 200}, "data": {"tracking": {
        "id": f"as{number.lower()}", "tracking_number": number, "slug": "cainiao", "active": True,
        "tag": last.split("_")[0], "subtag": last, "subtag_message": last,
        "signed_by": None, "checkpoints": checkpoints}}}  # fmt: skip


def make_case(
    i: int,
    rng: random.Random,
    hubs: int = 8,
    sources: list[str] | None = None,
    delivered: bool | None = None,
) -> dict[str, Any]:
    """Case `i`: one order, one parcel, two or three sources (random unless given)."""
    dest = rng.choice(sorted(CITIES))
    shipped = datetime(2026, 9, 20, 1, 0, tzinfo=UTC) + timedelta(hours=rng.randint(0, 24 * 40))
    number = f"LP{10_000_000_000_000 + i:014d}"
    scans = route(
        rng, shipped, dest, hubs, delivered=rng.random() < 0.6 if delivered is None else delivered
    )
    fetched = (scans[-1].at + timedelta(hours=6)).isoformat().replace("+00:00", "Z")
    payloads = {"cainiao": cainiao_payload(number, dest, scans),
                "17track": seventeen_payload(number, dest, scans, rng),
                "aftership": aftership_payload(number, scans)}  # fmt: skip
    chosen = sources or (
        ["cainiao", "17track", "aftership"]
        if rng.random() < 0.5
        else rng.sample(["cainiao", "17track", "aftership"], 2)
    )
    city, postal = CITIES[dest]
    return {
        "order": {"id": f"A-{i:06d}", "marketplace": "aliexpress",
                  "destination": {"country": dest, "postal_code": postal, "city": city},
                  "timezone": str(_zone(dest)), "shipped_at": shipped.isoformat(),
                  "promised_by": (shipped + timedelta(days=30)).date().isoformat(),
                  "confirmed_at": None},
        "parcels": [{"tracking_number": number, "other_numbers": []}],
        "observations": [{"source": s, "tracking_number": number, "fetched_at": fetched,
                          "payload": payloads[s]} for s in chosen],
        "now": fetched,
    }  # fmt: skip


def main(argv: list[str]) -> None:
    count = int(argv[0]) if argv else 10
    rng = random.Random(7)
    out = sys.stdout.buffer
    for i in range(count):
        out.write(orjson.dumps(make_case(i, rng), option=orjson.OPT_APPEND_NEWLINE))


if __name__ == "__main__":
    main(sys.argv[1:])
