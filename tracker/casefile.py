"""A `tracker analyze` case read from its JSON form, each problem a `ValidationError` naming the
field (`order.destination.country`, `observations[3].source`, ...). The shape is DESIGN.md's
"Case (input)". Pure: values in, values out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tracker import countries
from tracker.deadlines import DEFAULT_POLICY
from tracker.errors import ValidationError
from tracker.model import SOURCE_NAMES, Destination, Observation, Order, Parcel

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SOURCES = frozenset(SOURCE_NAMES)


@dataclass(frozen=True, slots=True)
class Case:
    """An order, its parcels, the raw observations about them, and the `now` it came with."""

    order: Order
    observations: tuple[Observation, ...]
    now: datetime | None = None

    @property
    def parcels(self) -> tuple[Parcel, ...]:
        return self.order.parcels

    @classmethod
    def from_json(cls, data: Any) -> Case:
        """The case in `data` (a decoded JSON value), or ValidationError naming the field."""
        root = _mapping(data, "case")
        order_data = _mapping(root.get("order"), "order")
        zone = _timezone(order_data.get("timezone"))
        order = Order(
            id=_text(order_data.get("id"), "order.id"),
            destination=_destination(order_data.get("destination")),
            shipped_at=_instant(order_data.get("shipped_at"), "order.shipped_at", zone),
            promised_by=_promised(order_data.get("promised_by"), zone),
            marketplace=_text(order_data.get("marketplace", DEFAULT_POLICY), "order.marketplace"),
            timezone=zone.key,
            confirmed_at=_optional_instant(
                order_data.get("confirmed_at"), "order.confirmed_at", zone
            ),
            parcels=_parcels(root.get("parcels")),
        )
        observations = _observations(root.get("observations", []))
        now = _optional_instant(root.get("now"), "now", ZoneInfo("UTC"))
        return cls(order=order, observations=observations, now=now)


def parse_instant(value: Any, field: str) -> datetime:
    """An ISO-8601 instant (naive means UTC); ValidationError naming `field` otherwise."""
    return _instant(value, field, ZoneInfo("UTC"))


# ----------------------------------------------------------------------------- fields


def _mapping(value: Any, field: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        problem = "is missing" if value is None else f"must be an object, not {_kind(value)}"
        raise ValidationError(field, problem)
    return value


def _text(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        problem = "is missing" if value is None else "must be a non-empty string"
        raise ValidationError(field, problem)
    return value.strip()


def _kind(value: Any) -> str:
    names: dict[type, str] = {dict: "an object", list: "a list", str: "a string"}
    return names.get(type(value), type(value).__name__)


def _timezone(value: Any) -> ZoneInfo:
    if value is None:
        return ZoneInfo("UTC")
    name = _text(value, "order.timezone")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError("order.timezone", f"unknown time zone {name!r}") from exc


def _destination(value: Any) -> Destination:
    data = _mapping(value, "order.destination")
    raw = _text(data.get("country"), "order.destination.country")
    country = countries.iso2(raw)
    if country is None:
        raise ValidationError("order.destination.country", f"unknown country {raw!r}")
    postal = data.get("postal_code")
    city = data.get("city")
    return Destination(
        country=country,
        postal_code=_text(postal, "order.destination.postal_code") if postal else None,
        city=_text(city, "order.destination.city") if city else None,
    )


def _instant(value: Any, field: str, zone: ZoneInfo) -> datetime:
    """An aware instant; a naive one is read in `zone` (the order's time zone)."""
    text = _text(value, field)
    try:
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1] in "Zz" else text)
    except ValueError as exc:
        raise ValidationError(field, f"not an ISO-8601 date-time: {text!r}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


def _optional_instant(value: Any, field: str, zone: ZoneInfo) -> datetime | None:
    return None if value is None else _instant(value, field, zone)


def _promised(value: Any, zone: ZoneInfo) -> date | datetime:
    text = _text(value, "order.promised_by")
    if _DATE.match(text):
        try:
            return date.fromisoformat(text)
        except ValueError as exc:
            raise ValidationError("order.promised_by", f"not a date: {text!r}") from exc
    return _instant(text, "order.promised_by", zone)


def _list(value: Any, field: str) -> list[Any]:
    if not isinstance(value, list):
        problem = "is missing" if value is None else f"must be a list, not {_kind(value)}"
        raise ValidationError(field, problem)
    return value


def _parcels(value: Any) -> tuple[Parcel, ...]:
    items = _list(value, "parcels")
    if not items:
        raise ValidationError("parcels", "must name at least one parcel")
    parcels = []
    for i, item in enumerate(items):
        data = _mapping(item, f"parcels[{i}]")
        others = _list(data.get("other_numbers", []), f"parcels[{i}].other_numbers")
        parcels.append(
            Parcel(
                tracking_number=_text(data.get("tracking_number"), f"parcels[{i}].tracking_number"),
                other_numbers=tuple(
                    _text(n, f"parcels[{i}].other_numbers[{j}]") for j, n in enumerate(others)
                ),
                source_hint=data.get("source") if data.get("source") in _SOURCES else None,
            )
        )
    return tuple(parcels)


def _observations(value: Any) -> tuple[Observation, ...]:
    return tuple(_observation(item, i) for i, item in enumerate(_list(value, "observations")))


def _observation(item: Any, i: int) -> Observation:
    field = f"observations[{i}]"
    data = _mapping(item, field)
    source = _text(data.get("source"), f"{field}.source")
    if source not in _SOURCES:
        raise ValidationError(
            f"{field}.source", f"unknown source {source!r} (known: {', '.join(SOURCE_NAMES)})"
        )
    if "payload" not in data:
        raise ValidationError(f"{field}.payload", "is missing")
    number = data.get("tracking_number")
    return Observation(
        source=source,
        payload=data["payload"],
        fetched_at=_instant(data.get("fetched_at"), f"{field}.fetched_at", ZoneInfo("UTC")),
        numbers=(_text(number, f"{field}.tracking_number"),) if number is not None else (),
    )
