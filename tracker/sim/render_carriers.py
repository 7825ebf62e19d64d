"""Renderers for the carriers' own APIs (USPS v3, DHL Unified): they see only their country's
leg, under their own number, one number per call."""

from __future__ import annotations

from typing import Any

from tracker.sim.codes import COUNTRIES
from tracker.sim.render import Rendered, iso_local, offset_text, place_text
from tracker.sim.scenario import Place
from tracker.sim.view import SimEvent, SourceView

# ----------------------------------------------------------------------------- USPS v3


def usps(sview: SourceView | None, requested: str) -> Rendered:
    """`GET tracking/v3/tracking/{number}?expand=DETAIL` (one number per call)."""
    if sview is None:
        return 404, {
            "apiVersion": "v3",
            "error": {
                "code": "404",
                "message": "Tracking number not found",
                "errors": [
                    {
                        "status": "404",
                        "code": "404",
                        "title": "Not Found",
                        "detail": f"The tracking number {requested} could not be found.",
                    }
                ],
            },
        }
    dest = sview.parcel.destination
    events = sview.events
    latest = events[-1] if events else None
    category = (
        _USPS_CATEGORY.get(latest.kind.status.value, "In Transit") if latest else "Pre-Shipment"
    )
    return 200, {
        "trackingNumber": sview.answered,
        "destinationCity": (dest.city or "").upper() or None,
        "destinationState": dest.state,
        "destinationZIP": dest.postal_code,
        "mailClass": "First-Class Package International Service<SUP>&reg;</SUP>",
        "mailType": "IM",
        "status": latest.kind.usps[1]
        if latest and latest.kind.usps
        else "Label Created, not yet in system",
        "statusCategory": category,
        "statusSummary": f"{latest.text} in {place_text(latest.location)}." if latest else "",
        "emailEnabled": "true",
        "proofOfDeliveryEnabled": "false",
        "trackingEvents": [_usps_event(e) for e in reversed(events)],
    }


_USPS_CATEGORY = {
    "delivered": "Delivered",
    "out_for_delivery": "Out for Delivery",
    "available_for_pickup": "Available for Pickup",
    "delivery_attempted": "Alert",
    "exception": "Alert",
    "returning": "Alert",
    "failed": "Alert",
}


def _usps_event(event: SimEvent) -> dict[str, Any]:
    code, text = event.kind.usps or ("", "")
    domestic = event.location.country == "US"
    return {
        "eventType": event.text if event.text != event.kind.text else text,
        "eventTimestamp": event.local_iso[:16] + ":00",  # minutes, no offset
        "GMTTimestamp": event.utc_iso,
        "GMTOffset": offset_text(event),
        "eventCountry": None if domestic else COUNTRIES[event.location.country][1].upper(),
        "eventCity": (event.location.city or "").upper() or None,
        "eventState": event.location.state,
        "eventZIP": event.location.postal_code,
        "firm": None,
        "name": None,
        "authorizedAgent": "false",
        "eventCode": code,
        "additionalProp": None,
    }


# ----------------------------------------------------------------------------- DHL Unified


def dhl(sview: SourceView | None, requested: str) -> Rendered:
    """`GET track/shipments?trackingNumber=`; unknown numbers are a 404 problem document."""
    if sview is None:
        return 404, {
            "title": "No result found",
            "status": 404,
            "detail": f"No shipment with given tracking number {requested} found.",
        }
    parcel = sview.parcel
    events = [_dhl_event(e) for e in reversed(sview.events)]
    shipment: dict[str, Any] = {
        "id": sview.answered,
        "service": "parcel-de" if parcel.destination.country == "DE" else "ecommerce",
        "origin": {"address": _dhl_address(parcel.origin)},
        "destination": {"address": _dhl_address(parcel.destination)},
        "status": events[0] if events else {"statusCode": "unknown", "status": "UNKNOWN"},
        "details": {"product": {"productName": "DHL Packet International"}},
        "events": events,
    }
    return 200, {"shipments": [shipment]}


def _dhl_address(place: Place) -> dict[str, Any]:
    locality = " ".join(x for x in (place.postal_code, place.city) if x) or place.country
    return {
        "countryCode": place.country,
        "postalCode": place.postal_code,
        "addressLocality": locality,
    }


def _dhl_event(event: SimEvent) -> dict[str, Any]:
    code = event.kind.dhl or "unknown"
    return {
        "timestamp": iso_local(event),
        "location": {"address": _dhl_address(event.location)},
        "statusCode": code,
        "status": _DHL_STATUS.get(code, "UNKNOWN"),
        "description": event.text,
    }


# `status` is DHL's short label; the event's own words go in `description`
_DHL_STATUS = {
    "pre-transit": "PRE-TRANSIT",
    "transit": "IN TRANSIT",
    "delivered": "DELIVERED",
    "failure": "FAILURE",
}
