"""The scenario's orders with absolute times, for the demo to import."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tracker.sim.scenario import Scenario, SimOrder


def resolve_orders(scenario: Scenario, start: datetime) -> list[dict[str, Any]]:
    """The scenario's orders with absolute times, in the shape `tracker orders import` reads
    (one JSON object per order)."""
    return [resolve_order(order, start) for order in scenario.orders]


def resolve_order(order: SimOrder, start: datetime) -> dict[str, Any]:
    shipped = (
        order.shipped_at
        if isinstance(order.shipped_at, datetime)
        else (start + timedelta(hours=order.shipped_at)).replace(microsecond=0)
    )
    promised = order.promised_by
    if not isinstance(promised, str):
        local_day = shipped.astimezone(ZoneInfo(order.timezone)).date()
        promised = (local_day + timedelta(days=int(promised))).isoformat()
    dest = order.destination
    return {
        "id": order.id,
        "marketplace": order.marketplace,
        "tracking_numbers": list(order.tracking_numbers),
        "destination": {
            "country": dest.country,
            "postal_code": dest.postal_code,
            "city": dest.city,
        },
        "timezone": order.timezone,
        "shipped_at": shipped.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "promised_by": promised,
        "confirmed_at": None,
    }
