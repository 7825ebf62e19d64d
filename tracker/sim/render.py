"""Pure renderers: a `SourceView` (or a batch of them) in, the source's real response body out.

Each renderer returns `(http_status, body)` where body is a JSON value. The shapes follow the
samples in `shared/samples/` field for field; the time fields carry each source's own trap
(17TRACK `time_iso`+`time_utc`+`time_raw`; Cainiao epoch `time` with a Beijing `timeStr`;
USPS local `eventTimestamp` + `GMTTimestamp` + `GMTOffset`; AfterShip `checkpoint_time` with
offset; DHL timestamps with offset), so adapters are exercised on the real difficulty.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

from tracker.sim.codes import CARRIERS, COUNTRIES
from tracker.sim.scenario import Place
from tracker.sim.view import SimEvent, SourceView

Rendered = tuple[int, Any]
Batch = Sequence[tuple[str, SourceView | None]]  # (requested number, its view or None)

BEIJING = timezone(timedelta(hours=8))
NOT_REGISTERED = -18019902
ALREADY_REGISTERED = -18019901
AFTERSHIP_EXISTS = {"meta": {"code": 4003, "message": "Tracking already exists.",
                             "type": "BadRequest"}, "data": {}}  # fmt: skip


def utc_z(moment: datetime) -> str:
    return moment.replace(tzinfo=None).isoformat() + "Z"  # whole seconds (view.py)


def offset_text(event: SimEvent) -> str:
    return event.offset


def iso_local(event: SimEvent) -> str:
    return event.local_iso + event.offset


@lru_cache(maxsize=1024)  # a handful of places recur in every answer
def place_text(place: Place) -> str:
    return ", ".join(x for x in (place.city and place.city.upper(), place.country) if x)


def _carrier(name: str | None) -> tuple[int, str, str]:
    return CARRIERS.get(name or "cainiao", CARRIERS["cainiao"])


def _hash(*parts: object) -> int:
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


# ----------------------------------------------------------------------------- 17TRACK v2.4


def seventeentrack(batch: Batch) -> Rendered:
    """`POST gettrackinfo`: known numbers in `accepted`, the others in `rejected`."""
    accepted, rejected = [], []
    for requested, sview in batch:
        if sview is None:
            rejected.append(
                {
                    "number": requested,
                    "error": {
                        "code": NOT_REGISTERED,
                        "message": f"The tracking number '{requested}' does not register, "
                        "please register first.",
                    },
                }
            )
        else:
            accepted.append(_t17_item(sview))
    return 200, {"code": 0, "data": {"accepted": accepted, "rejected": rejected}}


def seventeentrack_register(batch: Batch) -> Rendered:
    """`POST register`: every number is accepted (17TRACK registers numbers it cannot detect
    a carrier for yet too); the server answers numbers registered before itself."""
    key, _, _ = _carrier("cainiao")
    accepted = [{"origin": 1, "number": n, "carrier": key} for n, _ in batch]
    return 200, {"code": 0, "data": {"accepted": accepted, "rejected": []}}


def _t17_item(sview: SourceView) -> dict[str, Any]:
    parcel = sview.parcel
    key, _, _ = _carrier("cainiao")
    return {
        "number": sview.answered,
        "carrier": key,
        "param": None,
        "tag": None,
        "track_info": {
            "shipping_info": {
                "shipper_address": _t17_address(parcel.origin),
                "recipient_address": _t17_address(parcel.destination),
            },
            "latest_status": _t17_latest(sview),
            "latest_event": _t17_event(sview.latest) if sview.latest else None,
            "time_metrics": _t17_metrics(sview),
            "milestone": _t17_milestones(sview),
            "misc_info": {
                "risk_factor": 0,
                "local_number": parcel.numbers.get("usps", parcel.numbers.get("dhl")),
                "local_provider": parcel.carrier,
            },
            "tracking": {
                "providers_hash": _hash(sview.answered, len(sview.events)),
                "providers": _t17_providers(sview),
            },
        },
    }


def _t17_latest(sview: SourceView) -> dict[str, Any]:
    if sview.latest is None:
        return {"status": "NotFound", "sub_status": "NotFound_Other", "sub_status_descr": None}
    status, sub, _ = sview.latest.kind.t17
    return {"status": status, "sub_status": sub, "sub_status_descr": None}


@lru_cache(maxsize=1024)  # shared, never mutated: only serialised
def _t17_address(place: Place) -> dict[str, Any]:
    return {
        "country": place.country,
        "state": place.state,
        "city": place.city,
        "street": None,
        "postal_code": place.postal_code,
        "coordinates": {"longitude": None, "latitude": None},
    }


def _t17_time(event: SimEvent) -> dict[str, Any]:
    return {
        "time_iso": iso_local(event),
        "time_utc": event.utc_iso,
        "time_raw": {
            "date": event.local_iso[:10],
            "time": event.local_iso[11:],
            "timezone": offset_text(event),
        },
    }


def _t17_event(event: SimEvent) -> dict[str, Any]:
    _, sub, stage = event.kind.t17
    return {
        **_t17_time(event),
        "description": event.text,
        "description_translation": None,
        "location": place_text(event.location),
        "stage": stage,
        "sub_status": sub,
        "address": _t17_address(event.location),
    }


def _t17_metrics(sview: SourceView) -> dict[str, Any]:
    if not sview.events:
        return {
            "days_after_order": 0,
            "days_of_transit": 0,
            "days_of_transit_done": 0,
            "days_after_last_update": 0,
            "estimated_delivery_date": None,
        }
    span = (sview.events[-1].instant - sview.events[0].instant).days
    done = sview.events[-1].kind.status.terminal
    return {
        "days_after_order": span,
        "days_of_transit": span,
        "days_of_transit_done": span if done else 0,
        "days_after_last_update": 0,
        "estimated_delivery_date": None,
    }


def _t17_milestones(sview: SourceView) -> list[dict[str, Any]]:
    seen: dict[str, SimEvent] = {}
    for event in sview.events:
        stage = event.kind.t17[2]
        if stage and stage not in seen:
            seen[stage] = event
    return [{"key_stage": stage, **_t17_time(event)} for stage, event in seen.items()]


def _t17_providers(sview: SourceView) -> list[dict[str, Any]]:
    """Origin leg under Cainiao, the destination leg under the last-mile carrier (newest
    provider first, events newest first), as 17TRACK lists a hand-over."""
    parcel = sview.parcel
    legs: dict[str, list[SimEvent]] = {}
    for event in sview.events:
        local = event.location.country == parcel.destination.country
        name = parcel.carrier if parcel.carrier and local else "cainiao"
        legs.setdefault(name, []).append(event)
    providers = []
    for name, events in reversed(legs.items()):
        key, _, display = _carrier(name)
        providers.append(
            {
                "provider": {
                    "key": key,
                    "name": display,
                    "alias": display.upper(),
                    "tel": None,
                    "homepage": None,
                    "country": parcel.origin.country
                    if name == "cainiao"
                    else parcel.destination.country,
                },
                "service_type": None,
                "latest_sync_status": "Success",
                "latest_sync_time": utc_z(events[-1].instant),
                "events_hash": _hash(name, len(events)),
                "events": [_t17_event(e) for e in reversed(events)],
            }
        )
    return providers


# ----------------------------------------------------------------------------- Cainiao


def cainiao(batch: Batch) -> Rendered:
    """`GET global/detail.json?mailNos=`: one module entry per number; an unknown number is a
    success with an empty `detailList` and `mailNoSource: EXTERNAL`."""
    modules = [
        _cn_module(sview)
        if sview is not None
        else {"mailNo": requested, "mailNoSource": "EXTERNAL", "detailList": []}
        for requested, sview in batch
    ]
    return 200, {"module": modules, "success": True}


def _cn_module(sview: SourceView) -> dict[str, Any]:
    parcel = sview.parcel
    details = [_cn_event(e) for e in reversed(sview.events)]
    latest = sview.latest
    last_mile = parcel.numbers.get("usps") or parcel.numbers.get("dhl")
    module: dict[str, Any] = {
        "mailNo": sview.answered,
        "mailNoSource": "CAINIAO",
        "originCountry": parcel.origin.country,
        "destCountry": parcel.destination.country,
        "status": latest.kind.cainiao_status if latest else "WAIT_ACCEPT",
        "statusDesc": (latest.text + " ") if latest else "",  # trailing space, as in the wild
        "daysNumber": f"{(latest.instant - sview.events[0].instant).days}day" if latest else "",
        "latestTrace": details[0] if details else None,
        "detailList": details,
    }
    if parcel.carrier:
        _, _, display = _carrier(parcel.carrier)
        module["destCpInfo"] = {"cpName": display, "cpCode": parcel.carrier.upper()}
    if last_mile:
        module["realMailNo"] = last_mile
        module["copyRealMailNo"] = f"{_carrier(parcel.carrier)[2]} {last_mile}"
    return module


def _cn_event(event: SimEvent) -> dict[str, Any]:
    return {
        "actionCode": event.kind.cainiao,
        "time": int(event.instant.timestamp() * 1000),
        # timeStr is always Beijing wall clock, whatever timeZone says (samples-notes.md)
        "timeStr": event.instant.astimezone(BEIJING).replace(tzinfo=None).isoformat(" "),
        "timeZone": f"GMT{offset_text(event)}",
        "desc": f"[{event.location.city or event.location.country}] {event.text}",
        "standerdDesc": event.text,
        "descTitle": event.kind.aftership[2],
    }


# ----------------------------------------------------------------------------- AfterShip


def aftership_tracking(sview: SourceView, versioned: bool) -> dict[str, Any]:
    """One tracking object; `versioned` (the `/tracking/<YYYY-MM>/` API) names the checkpoint
    country `country_region`, the legacy v4 API `country_iso3`."""
    parcel = sview.parcel
    _, slug, _ = _carrier(parcel.carrier)
    latest = sview.latest
    tag, subtag, message = (
        latest.kind.aftership if latest else ("Pending", "Pending_001", "Pending")
    )
    delivered = next(
        (
            e
            for e in reversed(sview.events)
            if e.kind.name in ("delivered", "picked_up_by_recipient")
        ),
        None,
    )
    created = sview.events[0].instant if sview.events else None
    return {
        "id": "sim" + sview.answered.encode().hex(),
        "tracking_number": sview.answered,
        "slug": slug,
        "active": not (latest and latest.kind.status.terminal),
        "created_at": utc_z(created) if created else None,
        "updated_at": utc_z(latest.instant) if latest else None,
        "last_updated_at": utc_z(latest.instant) if latest else None,
        "tag": tag,
        "subtag": subtag,
        "subtag_message": message,
        "title": sview.answered,
        "origin_country_iso3": COUNTRIES[parcel.origin.country][0],
        "destination_country_iso3": COUNTRIES[parcel.destination.country][0],
        "shipment_delivery_date": delivered.local.isoformat() if delivered else None,
        "signed_by": None,
        "return_to_sender": bool(
            latest and tag == "Exception" and subtag in ("Exception_010", "Exception_011")
        ),
        "checkpoints": [_as_checkpoint(e, slug, versioned) for e in sview.events],
    }


def _as_checkpoint(event: SimEvent, slug: str, versioned: bool) -> dict[str, Any]:
    tag, subtag, message = event.kind.aftership
    iso3, name, _ = COUNTRIES[event.location.country]
    return {
        "slug": slug,
        "created_at": event.utc_iso,
        "checkpoint_time": iso_local(event),
        "city": event.location.city,
        "state": event.location.state,
        "zip": event.location.postal_code,
        "location": place_text(event.location),
        ("country_region" if versioned else "country_iso3"): iso3,
        "country_name": name,
        "message": event.text,
        "tag": tag,
        "subtag": subtag,
        "subtag_message": message,
        "coordinates": [],
        "raw_tag": event.kind.cainiao,
    }


def aftership_one(sview: SourceView | None, requested: str, versioned: bool) -> Rendered:
    """`GET .../trackings/{slug}/{number}` (v4) or `.../trackings/{id}` (versioned)."""
    if sview is None:
        return 404, {
            "meta": {"code": 4004, "message": "Tracking does not exist.", "type": "NotFound"},
            "data": {},
        }
    tracking = aftership_tracking(sview, versioned)
    return 200, {"meta": {"code": 200}, "data": tracking if versioned else {"tracking": tracking}}


def aftership_list(batch: Batch, versioned: bool) -> Rendered:
    """`GET .../trackings?tracking_numbers=A,B`: the numbers AfterShip tracks; others absent."""
    trackings = [aftership_tracking(v, versioned) for _, v in batch if v is not None]
    data: dict[str, Any] = {"trackings": trackings}
    if versioned:
        data["pagination"] = {"total": len(trackings), "next_cursor": None, "has_next_page": False}
    else:
        data.update({"page": 1, "limit": 100, "count": len(trackings)})
    return 200, {"meta": {"code": 200}, "data": data}
