"""The canonical model: statuses, events, orders, timelines, verdicts, alerts.

Everything here is a frozen value. Sources produce `SourceEvent`s (lossless: raw codes, raw
text, raw time fields kept beside their canonical reading); the pipeline turns them into a
`Timeline`, a `Verdict`, a `ProtectionWindow` and `Alert`s. Nothing here does I/O.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

SOURCE_NAMES: tuple[str, ...] = (
    "17track",
    "aftership",
    "cainiao",
    "usps",
    "ups",
    "fedex",
    "dhl",
    "ship24",
    "postnl",
    "royalmail",
    "canadapost",
    "australiapost",
)
"""Every tracking source, by the name used in settings, `tracker analyze` input and reports."""

AGGREGATORS: frozenset[str] = frozenset({"17track", "aftership", "ship24", "cainiao"})
"""Sources that relay other carriers' scans (their UTC conversions are second-hand)."""


class Status(StrEnum):
    """Parcel status, declared in lifecycle order; the last four are terminal."""

    UNKNOWN = "unknown"
    NOT_FOUND = "not_found"
    PRE_TRANSIT = "pre_transit"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    AVAILABLE_FOR_PICKUP = "available_for_pickup"
    DELIVERY_ATTEMPTED = "delivery_attempted"
    EXCEPTION = "exception"
    RETURNING = "returning"
    DELIVERED = "delivered"
    RETURNED = "returned"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def rank(self) -> int:
        return _STATUS_RANK[self]

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATUSES

    def sub(self, reason: str) -> str:
        """The sub-status string `<status>.<reason>`."""
        return f"{self.value}.{reason}"


_STATUS_RANK: dict[Status, int] = {s: i for i, s in enumerate(Status)}
TERMINAL_STATUSES: frozenset[Status] = frozenset(
    {Status.DELIVERED, Status.RETURNED, Status.FAILED, Status.CANCELLED}
)

SUBSTATUSES: Mapping[Status, frozenset[str]] = {
    Status.UNKNOWN: frozenset({"other"}),
    Status.NOT_FOUND: frozenset(
        {"not_yet_available", "invalid_number", "carrier_not_detected", "other"}
    ),
    Status.PRE_TRANSIT: frozenset(
        {
            "info_received",
            "label_created",
            "order_processing",
            "awaiting_pickup",
            "manifested",
            "other",
        }
    ),
    Status.IN_TRANSIT: frozenset(
        {
            "picked_up",
            "accepted",
            "origin_facility",
            "facility_arrival",
            "facility_departure",
            "export_customs_started",
            "export_customs_cleared",
            "linehaul_departed",
            "linehaul_arrived",
            "transit_country",
            "import_customs_processing",
            "import_customs_released",
            "handed_to_last_mile",
            "forwarded",
            "problem_resolved",
            "other",
        }
    ),
    Status.OUT_FOR_DELIVERY: frozenset(
        {"out_for_delivery", "delivery_scheduled", "customer_contacted", "other"}
    ),
    Status.AVAILABLE_FOR_PICKUP: frozenset(
        {
            "at_pickup_point",
            "at_locker",
            "at_post_office",
            "station_received",
            "pickup_reminder",
            "other",
        }
    ),
    Status.DELIVERY_ATTEMPTED: frozenset(
        {
            "recipient_unavailable",
            "business_closed",
            "address_issue",
            "access_issue",
            "refused",
            "security_issue",
            "signature_required",
            "notice_left",
            "rescheduled",
            "other",
        }
    ),
    Status.EXCEPTION: frozenset(
        {
            "delayed",
            "delayed_customs",
            "delayed_weather",
            "delayed_external",
            "delayed_processing",
            "held_by_carrier",
            "held_customs",
            "customs_info_required",
            "duties_unpaid",
            "held_for_payment",
            "damaged",
            "missorted",
            "address_correction",
            "pickup_missed",
            "rejected_by_carrier",
            "contact_carrier",
            "other",
        }
    ),
    Status.RETURNING: frozenset(
        {"return_initiated", "refused", "unclaimed", "undeliverable", "recipient_moved", "other"}
    ),
    Status.DELIVERED: frozenset(
        {
            "delivered",
            "signed",
            "to_mailbox",
            "to_locker",
            "safe_place",
            "to_neighbor",
            "to_agent",
            "picked_up_by_recipient",
            "cod_collected",
            "other",
        }
    ),
    Status.RETURNED: frozenset({"returned_to_sender", "other"}),
    Status.FAILED: frozenset(
        {"lost", "destroyed", "disposed", "undeliverable", "confiscated", "other"}
    ),
    Status.CANCELLED: frozenset({"label_voided", "order_cancelled", "other"}),
}

UNKNOWN_SUBSTATUS = "unknown.other"


def status_of(substatus: str) -> Status:
    """The status a `<status>.<reason>` sub-status belongs to (ValueError if malformed)."""
    head, _, reason = substatus.partition(".")
    status = Status(head)
    if reason not in SUBSTATUSES[status]:
        raise ValueError(f"unknown sub-status {substatus!r}")
    return status


def is_substatus(value: str) -> bool:
    try:
        status_of(value)
    except ValueError:
        return False
    return True


class TrackingState(StrEnum):
    """The state of the subscription (what 17TRACK/AfterShip call Expired lives here)."""

    PENDING = "pending"
    ACTIVE = "active"
    STALE = "stale"
    STOPPED = "stopped"
    NOT_FOUND_FINAL = "not_found_final"


class TzProvenance(StrEnum):
    """Where an event's time zone came from, best first."""

    CARRIER_OFFSET = "carrier_offset"
    CARRIER_UTC = "carrier_utc"
    AGGREGATOR_UTC = "aggregator_utc"
    INFERRED_LOCATION = "inferred_location"
    ASSUMED_UTC = "assumed_utc"
    UNKNOWN = "unknown"

    @property
    def quality(self) -> int:
        """Higher is more trustworthy."""
        return _TZ_QUALITY[self]


_TZ_QUALITY = {
    TzProvenance.CARRIER_OFFSET: 5,
    TzProvenance.CARRIER_UTC: 5,
    TzProvenance.AGGREGATOR_UTC: 4,
    TzProvenance.INFERRED_LOCATION: 2,
    TzProvenance.ASSUMED_UTC: 1,
    TzProvenance.UNKNOWN: 0,
}


class Verdict(StrEnum):
    NONE = "none"
    DELIVERED = "delivered"
    SUSPECT = "suspect"


class Rule(StrEnum):
    IDENTITY_MISMATCH = "identity_mismatch"
    LOCATION_MISMATCH = "location_mismatch"
    SEQUENCE_IMPOSSIBLE = "sequence_impossible"
    POST_DELIVERY_ACTIVITY = "post_delivery_activity"
    SOURCE_DISAGREEMENT = "source_disagreement"
    TEXT_CONTRADICTION = "text_contradiction"


class AlertType(StrEnum):
    ORDER_OVERDUE = "order.overdue"
    ORDER_DELIVERED_LATE = "order.delivered_late"
    DISPUTE_DEADLINE_NEAR = "dispute.deadline_near"
    DELIVERY_SUSPECT = "delivery.suspect"
    DELIVERY_CONFIRMED = "delivery.confirmed"
    TRACKING_STALLED = "tracking.stalled"
    TRACKING_EXCEPTION = "tracking.exception"


class WindowState(StrEnum):
    NOT_OPEN = "not_open"
    OPEN = "open"
    CLOSED = "closed"


class Outcome(StrEnum):
    """What a source said about one number we asked for."""

    FOUND = "found"
    NOT_FOUND = "not_found"
    INVALID = "invalid"
    OTHER_NUMBER = "other_number"  # the source answered for a different number than asked


# --------------------------------------------------------------------------- locations


@dataclass(frozen=True, slots=True)
class Location:
    """Where an event happened. `country` is ISO 3166-1 alpha-2 when known."""

    text: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None

    @property
    def empty(self) -> bool:
        return not (self.text or self.city or self.state or self.postal_code or self.country)

    def to_dict(self) -> dict[str, str | None]:
        return {
            "text": self.text,
            "city": self.city,
            "state": self.state,
            "postal_code": self.postal_code,
            "country": self.country,
        }


NOWHERE = Location()


# --------------------------------------------------------------------------- observations


@dataclass(frozen=True, slots=True)
class Observation:
    """One answer from a source, kept exactly as received: it is the evidence.

    `payload` is the body as text (`str`), or, when it came to us already decoded (a JSON value
    inside a `tracker analyze` case), that JSON value. `numbers` are the numbers it was fetched
    for (empty when unknown, e.g. a push).
    """

    source: str
    payload: Any
    fetched_at: datetime
    numbers: tuple[str, ...] = ()
    http_status: int | None = None
    content_type: str | None = None

    @property
    def text(self) -> str:
        """The body as text (a decoded JSON value is re-serialised canonically)."""
        if isinstance(self.payload, str):
            return self.payload
        if isinstance(self.payload, bytes | bytearray):
            return bytes(self.payload).decode("utf-8", errors="replace")
        import orjson

        return orjson.dumps(self.payload, option=orjson.OPT_SORT_KEYS).decode()

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class SourceEvent:
    """One event as a source reported it, with its canonical reading beside the raw fields.

    Time fields are kept apart: `occurred_local` (naive wall clock as the carrier printed it),
    `utc_offset_minutes` (when known), `occurred_at` (an aware UTC instant, or None when it
    cannot be known) and `tz_provenance` (how `occurred_at` was obtained). `raw_time` keeps the
    original string(s).
    """

    source: str
    source_number: str
    status: Status
    substatus: str
    raw_description: str = ""
    raw_status: str | None = None
    raw_substatus: str | None = None
    raw_code: str | None = None
    reporting_carrier: str | None = None
    location: Location = NOWHERE
    occurred_local: datetime | None = None
    utc_offset_minutes: int | None = None
    occurred_at: datetime | None = None
    tz_provenance: TzProvenance = TzProvenance.UNKNOWN
    raw_time: str | None = None
    shipment_ref: str | None = None  # distinguishes several shipments under one number
    signed_by: str | None = None


@dataclass(frozen=True, slots=True)
class NumberResult:
    """A source's per-number answer: found, not found, invalid, or answered for another number."""

    source: str
    requested: str
    outcome: Outcome
    answered: str | None = None
    tracking_state: TrackingState = TrackingState.ACTIVE
    shipments: int = 1
    message: str | None = None
    status: Status | None = None  # the source's own summary status, when it gives one
    observed_at: datetime | None = None  # when the source said so (its observation's fetch)


@dataclass(frozen=True, slots=True)
class ParseWarning:
    source: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"source": self.source, "message": self.message}


@dataclass(frozen=True, slots=True)
class ParseResult:
    events: tuple[SourceEvent, ...] = ()
    results: tuple[NumberResult, ...] = ()
    warnings: tuple[ParseWarning, ...] = ()


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    """One physical event after merging: every source that reported it is listed."""

    id: str
    status: Status
    substatus: str
    description: str
    location: Location
    occurred_at: datetime | None
    occurred_local: datetime | None
    utc_offset_minutes: int | None
    tz_provenance: TzProvenance
    sources: tuple[str, ...]
    numbers: tuple[str, ...]
    raw_codes: tuple[str, ...] = ()
    reporting_carriers: tuple[str, ...] = ()
    members: tuple[SourceEvent, ...] = field(default=(), compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Timeline:
    events: tuple[TimelineEvent, ...]
    numbers: tuple[str, ...]

    @property
    def latest(self) -> TimelineEvent | None:
        return self.events[-1] if self.events else None


# --------------------------------------------------------------------------- orders


@dataclass(frozen=True, slots=True)
class Destination:
    country: str
    postal_code: str | None = None
    city: str | None = None


@dataclass(frozen=True, slots=True)
class Parcel:
    tracking_number: str
    other_numbers: tuple[str, ...] = ()
    source_hint: str | None = None

    @property
    def numbers(self) -> tuple[str, ...]:
        return (self.tracking_number, *self.other_numbers)


@dataclass(frozen=True, slots=True)
class Order:
    id: str
    destination: Destination
    shipped_at: datetime
    promised_by: date | datetime
    marketplace: str = "aliexpress"
    timezone: str = "UTC"
    confirmed_at: datetime | None = None
    parcels: tuple[Parcel, ...] = ()


# ----------------------------------------------------------------- verdicts, windows, alerts


@dataclass(frozen=True, slots=True)
class Reason:
    rule: Rule
    detail: str
    sources: tuple[str, ...]
    events: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule.value,
            "detail": self.detail,
            "sources": list(self.sources),
            "events": list(self.events),
        }


@dataclass(frozen=True, slots=True)
class DeliveryVerdict:
    verdict: Verdict
    delivered_at: datetime | None = None
    delivered_event: str | None = None
    reasons: tuple[Reason, ...] = ()


@dataclass(frozen=True, slots=True)
class ProtectionWindow:
    policy: str
    policy_version: int
    dispute_opens_at: datetime
    promised_end: datetime
    dispute_closes_at: datetime
    state: WindowState


@dataclass(frozen=True, slots=True)
class Alert:
    type: AlertType
    key: str
    order_id: str
    data: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type.value, "key": self.key, "data": dict(self.data)}


# --------------------------------------------------------------------------- helpers


def format_offset(minutes: int | None) -> str | None:
    """`+08:00` style offset, or None."""
    if minutes is None:
        return None
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{mins:02d}"


def offset_minutes(delta: timedelta | None) -> int | None:
    if delta is None:
        return None
    return int(delta.total_seconds() // 60)
