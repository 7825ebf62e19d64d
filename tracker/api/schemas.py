"""Request and response bodies of the HTTP API (they are what /openapi.json describes).

Requests are strict about shape and size (unknown fields are refused, strings and lists are
capped) so a bad request is a 422 naming the field before anything is stored. Dates stay
strings here: a promised date and a promised date-time mean different deadlines, and a time
without an offset is read in the order's time zone, which the service does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from tracker.model import AlertType, Status

SourceName = Literal[
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
]
Number = Annotated[str, Field(min_length=1, max_length=64, examples=["LP00512345678901"])]
Instant = Annotated[
    str,
    Field(
        min_length=1,
        max_length=40,
        examples=["2026-10-01T09:00:00+08:00"],
        description="ISO-8601 date-time; without an offset it is read in `timezone`",
    ),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ----------------------------------------------------------------------------- errors


class ErrorItem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorOut(BaseModel):
    """422: every problem, each naming its field in `loc`."""

    detail: list[ErrorItem]


class ErrorOut(BaseModel):
    """Any other error: one line saying what is wrong."""

    detail: str


# ----------------------------------------------------------------------------- orders


class DestinationIn(_Strict):
    country: str = Field(min_length=2, max_length=64, examples=["DE"])
    postal_code: str | None = Field(default=None, max_length=20)
    city: str | None = Field(default=None, max_length=100)


class ParcelIn(_Strict):
    tracking_number: Number
    other_numbers: list[Number] = Field(default_factory=list, max_length=5)
    source: SourceName | None = None


class OrderIn(_Strict):
    id: str = Field(min_length=1, max_length=100, examples=["A-1001"])
    marketplace: str = Field(default="aliexpress", max_length=40)
    destination: DestinationIn
    timezone: str = Field(default="UTC", max_length=64, examples=["Europe/Berlin"])
    shipped_at: Instant
    promised_by: str = Field(
        min_length=1,
        max_length=40,
        examples=["2026-11-10"],
        description="A date (the whole local day) or an ISO-8601 date-time",
    )
    confirmed_at: Instant | None = None
    parcels: list[ParcelIn] = Field(min_length=1, max_length=20)
    sources: list[SourceName] | None = Field(
        default=None,
        min_length=1,
        max_length=12,
        description="Sources to poll (default: the configured ones)",
    )


class OrdersIn(_Strict):
    orders: list[OrderIn] = Field(min_length=1, max_length=1000)
    sources: list[SourceName] | None = Field(default=None, min_length=1, max_length=12)


class OrdersCreated(BaseModel):
    ids: list[str]


class OrderSummary(BaseModel):
    id: str
    marketplace: str
    destination_country: str
    shipped_at: str
    promised_by: str
    status: str | None = Field(description="null until the first poll has been analysed")
    substatus: str | None
    verdict: str | None
    window_state: Literal["not_open", "open", "closed"]
    dispute_opens_at: str
    dispute_closes_at: str
    overdue: bool


class OrderList(BaseModel):
    orders: list[OrderSummary]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")


class Reason(BaseModel):
    rule: str
    detail: str
    sources: list[str]
    events: list[str]


class Delivery(BaseModel):
    model_config = ConfigDict(extra="allow")

    verdict: Literal["none", "delivered", "suspect"]
    delivered_at: str | None
    reasons: list[Reason]


class Protection(BaseModel):
    model_config = ConfigDict(extra="allow")

    policy: str
    dispute_opens_at: str
    dispute_closes_at: str
    state: Literal["not_open", "open", "closed"]


class ReportAlert(BaseModel):
    type: str
    key: str
    data: dict[str, Any]


class Warning(BaseModel):
    source: str
    message: str


class Report(BaseModel):
    """The same report as `tracker analyze` (DESIGN.md); more keys may appear."""

    model_config = ConfigDict(extra="allow")

    order_id: str
    status: Status
    substatus: str
    delivery: Delivery
    timeline: list[dict[str, Any]]
    protection: Protection
    alerts: list[ReportAlert]
    warnings: list[Warning]
    parcels: list[dict[str, Any]] | None = None


# ----------------------------------------------------------------------------- lookups


class LookupIn(_Strict):
    tracking_number: Number
    source: SourceName | None = None


class LookupQueued(BaseModel):
    id: str


class LookupOut(BaseModel):
    id: str
    tracking_number: str
    source: str | None
    status: Literal["queued", "done", "failed"]
    report: dict[str, Any] | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None


# ----------------------------------------------------------------------------- alerts, webhooks


class AlertOut(BaseModel):
    id: int
    order_id: str
    type: str
    key: str
    data: dict[str, Any]
    created_at: datetime


class AlertList(BaseModel):
    alerts: list[AlertOut]
    next_since: int = Field(description="pass as `since` to read only newer alerts")


class WebhookIn(_Strict):
    url: str = Field(min_length=8, max_length=2000, examples=["https://example.com/hooks"])
    secret: str | None = Field(
        default=None, max_length=200, description="whsec_<base64>; generated when omitted"
    )
    types: list[AlertType] = Field(
        default_factory=list, max_length=20, description="alert types; empty = every type"
    )


class WebhookOut(BaseModel):
    id: str
    url: str
    types: list[str]
    enabled: bool
    disabled_reason: str | None
    secret_encrypted: bool = Field(
        description="whether the signing secret is stored encrypted (TRACKER_SECRET_KEY)"
    )
    created_at: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(description="shown once: keep it to verify signatures")


class RotateIn(_Strict):
    secret: str | None = Field(
        default=None, max_length=200, description="whsec_<base64>; generated when omitted"
    )
    overlap_hours: float = Field(
        default=24, ge=0, le=720, description="hours both secrets sign every webhook"
    )


class SecretRotated(WebhookOut):
    secret: str = Field(description="the new secret, shown once")
    previous_until: datetime = Field(description="the old secret signs too until then")


class WebhookList(BaseModel):
    webhooks: list[WebhookOut]


class TestSent(BaseModel):
    webhook_id: str
    status_code: int | None
    error: str | None
    duration_ms: int


class DeliveryOut(BaseModel):
    id: int
    alert_id: int
    alert_type: str
    endpoint_id: str
    webhook_id: str
    status: str = Field(description="pending | succeeded | failed")
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    created_at: datetime
    updated_at: datetime


class DeliveryList(BaseModel):
    deliveries: list[DeliveryOut]
    next_cursor: int | None = Field(description="pass as `cursor` for the next (older) page")


class RecoverIn(_Strict):
    since: AwareDatetime = Field(
        description="failed deliveries created at or after this instant (with its offset)"
    )


class Recovered(BaseModel):
    reopened: int = Field(description="failed deliveries made pending again, sent by the sweep")


class Replayed(BaseModel):
    delivery_id: int
    attempts: int


class InboundAccepted(BaseModel):
    observation_id: int
    parcels: int


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str]
