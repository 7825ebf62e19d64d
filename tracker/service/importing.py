"""Orders read from flat rows (a CSV line, a JSON object): `order_from_mapping(row) -> Order`.

Column names are matched after folding case and punctuation ("Ship To Country" and
`ship_to_country` are the same column). Our own names come first in each alias list; the
others are the names an AliExpress order export uses. The README ("Importing orders") shows
the same table: keep the two in step.

A JSON object may also use the nested shape of a `tracker analyze` case's `order`
(`destination: {country, ...}`, `parcels: [{tracking_number, other_numbers}]`).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

from tracker.errors import ValidationError
from tracker.model import Destination, Order, Parcel

COLUMNS: dict[str, tuple[str, ...]] = {
    "id": ("id", "order_id", "order_number", "order_no"),
    "tracking_number": ("tracking_number", "tracking_numbers", "tracking_no", "logistics_number"),
    "other_numbers": ("other_numbers",),
    "destination_country": (
        "destination_country",
        "country",
        "ship_to_country",
        "country_region",
    ),
    "destination_postal_code": ("destination_postal_code", "postal_code", "zip", "zip_code"),
    "destination_city": ("destination_city", "city", "ship_to_city"),
    "shipped_at": ("shipped_at", "shipping_time", "ship_time", "shipped_time"),
    "promised_by": (
        "promised_by",
        "promised_delivery",
        "delivery_deadline",
        "promised_delivery_date",
    ),
    "timezone": ("timezone", "time_zone"),
    "marketplace": ("marketplace",),
    "confirmed_at": ("confirmed_at", "receipt_confirmed", "confirmation_time"),
    "source": ("source", "carrier_source"),
}
"""Our field -> accepted column names (folded: lower case, runs of non-alphanumerics as `_`)."""

REQUIRED = ("id", "tracking_number", "destination_country", "shipped_at", "promised_by")

_ALIASES = {alias: name for name, aliases in COLUMNS.items() for alias in aliases}
_FOLD = re.compile(r"[^a-z0-9]+")
_SPLIT = re.compile(r"[\s,;|]+")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Formats seen in spreadsheet exports besides ISO-8601 (read in the order's time zone).
_FORMATS = (
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%b %d, %Y %H:%M:%S",
    "%b %d, %Y %H:%M",
    "%d %b %Y %H:%M",
)


def fold(column: str) -> str:
    return _FOLD.sub("_", column.strip().lower()).strip("_")


def canonical(row: Mapping[str, Any]) -> dict[str, Any]:
    """The row keyed by our field names; unknown columns are ignored, empty cells dropped."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        name = _ALIASES.get(fold(str(key)))
        if name is None or value is None or (isinstance(value, str) and not value.strip()):
            continue
        out.setdefault(name, value)
    return out


def order_from_mapping(row: Mapping[str, Any]) -> Order:
    """An Order from a flat (or case-shaped) row; ValidationError naming the field."""
    data = canonical(row)
    nested = row.get("destination")
    if isinstance(nested, Mapping):
        data.setdefault("destination_country", nested.get("country"))
        data.setdefault("destination_postal_code", nested.get("postal_code"))
        data.setdefault("destination_city", nested.get("city"))
    parcels = _parcels(row.get("parcels"), data)
    for name in REQUIRED:
        if name != "tracking_number" and data.get(name) is None:
            raise ValidationError(name, "is missing")
    zone = _zone(data.get("timezone"))
    return Order(
        id=_text(data["id"], "id"),
        destination=Destination(
            country=_text(data["destination_country"], "destination_country"),
            postal_code=_optional_text(data.get("destination_postal_code")),
            city=_optional_text(data.get("destination_city")),
        ),
        shipped_at=parse_instant(data["shipped_at"], "shipped_at", zone),
        promised_by=parse_promised(data["promised_by"], zone),
        marketplace=_text(data.get("marketplace", "aliexpress"), "marketplace"),
        timezone=zone.key,
        confirmed_at=(
            parse_instant(data["confirmed_at"], "confirmed_at", zone)
            if data.get("confirmed_at") is not None
            else None
        ),
        parcels=parcels,
    )


def _parcels(nested: Any, data: Mapping[str, Any]) -> tuple[Parcel, ...]:
    if isinstance(nested, list):
        return tuple(_nested_parcel(item, i) for i, item in enumerate(nested))
    if data.get("tracking_number") is None:
        raise ValidationError("tracking_number", "is missing")
    found = _numbers(data["tracking_number"], "tracking_number")
    others = _numbers(data.get("other_numbers", []), "other_numbers")
    source = _optional_text(data.get("source"))
    # Several numbers in one cell are several parcels; other_numbers belong to the first.
    return tuple(Parcel(n, tuple(others) if i == 0 else (), source) for i, n in enumerate(found))


def _nested_parcel(item: Any, i: int) -> Parcel:
    if not isinstance(item, Mapping):
        raise ValidationError(f"parcels[{i}]", "must be an object")
    number = _text(item.get("tracking_number"), f"parcels[{i}].tracking_number")
    others = _numbers(item.get("other_numbers", []), f"parcels[{i}].other_numbers")
    return Parcel(number, tuple(others), _optional_text(item.get("source")))


def _numbers(value: Any, field: str) -> list[str]:
    if isinstance(value, str):
        return [n for n in _SPLIT.split(value) if n]
    if isinstance(value, list) and all(isinstance(n, str) for n in value):
        return [n.strip() for n in value if n.strip()]
    raise ValidationError(field, "must be a string or a list of strings")


def _text(value: Any, field: str) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)  # spreadsheets turn numeric order ids into numbers
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field, "is missing" if value is None else "must be a string")
    return value.strip()


def _optional_text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _zone(value: Any) -> ZoneInfo:
    if value is None:
        return ZoneInfo("UTC")
    name = _text(value, "timezone")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError("timezone", f"unknown time zone {name!r}") from exc


def parse_instant(value: Any, field: str, zone: ZoneInfo) -> datetime:
    """ISO-8601 (or a common export format); a time without offset is read in `zone`."""
    if isinstance(value, datetime):
        moment = value
    else:
        text = _text(value, field)
        moment = _parse_datetime(text, field)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


def _parse_datetime(text: str, field: str) -> datetime:
    try:
        return datetime.fromisoformat(text[:-1] + "+00:00" if text[-1] in "Zz" else text)
    except ValueError:
        pass
    for fmt in _FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    raise ValidationError(field, f"not an ISO-8601 date-time: {text!r}")


def parse_promised(value: Any, zone: ZoneInfo) -> date | datetime:
    """A date stays a date (it lasts the whole local day); anything else is an instant."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _DATE.match(value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError as exc:
            raise ValidationError("promised_by", f"not a date: {value!r}") from exc
    return parse_instant(value, "promised_by", zone)


# ----------------------------------------------------------------------------- files


def file_format(path: Path) -> str:
    """`csv` or `jsonl`, by the name, else by the first character (`{` is JSON Lines)."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        return "csv"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    with path.open("r", encoding="utf-8-sig") as handle:
        head = handle.read(1024).lstrip()
    return "jsonl" if head.startswith("{") else "csv"


def read_rows(path: Path) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """(line number, row) for each order row of a CSV (with a header) or JSON Lines file."""
    if file_format(path) == "csv":
        with path.open("r", encoding="utf-8-sig", newline="") as handle:
            dialect = "excel-tab" if path.suffix.lower() == ".tsv" else "excel"
            reader = csv.DictReader(handle, dialect=dialect)
            for row in reader:
                if any(v and v.strip() for v in row.values() if isinstance(v, str)):
                    yield reader.line_num, row
        return
    with path.open("r", encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise ValidationError(f"line {number}", f"not JSON: {exc}") from exc
            if not isinstance(value, dict):
                raise ValidationError(f"line {number}", "must be a JSON object")
            yield number, value


def merge_rows(found: list[tuple[int, Order]]) -> list[tuple[int, Order]]:
    """Rows of the same order id (an export lists one row per item) become one order whose
    parcels are all the rows' parcels; the first row's other fields are kept."""
    merged: dict[str, tuple[int, Order]] = {}
    for line, order in found:
        if order.id not in merged:
            merged[order.id] = (line, order)
            continue
        first_line, first = merged[order.id]
        known = {p.tracking_number for p in first.parcels}
        extra = tuple(p for p in order.parcels if p.tracking_number not in known)
        merged[order.id] = (first_line, replace(first, parcels=first.parcels + extra))
    return list(merged.values())
