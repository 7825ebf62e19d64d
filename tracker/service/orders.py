"""Order operations shared by the HTTP API and the CLI: add, report, evidence, list.

Adding is all-or-nothing: every order is validated first (each problem a `ValidationError`
naming the field, e.g. `orders[3].parcels[0].tracking_number`), and only then are all of them
stored in one transaction. A new order's parcels are due for a poll at once.

The list view reads the summary the poller keeps on `orders` (status, verdict), and computes
the protection window from the order itself at `now` (a pure function of shipped_at,
promised_by and confirmed_at), so an order the poller has not reached yet is still listed
correctly as overdue or near its deadline.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.engine import Engine

from tracker import countries, deadlines, numbers, pipeline
from tracker import evidence as summary
from tracker.casefile import Case
from tracker.errors import ValidationError
from tracker.model import SOURCE_NAMES, Order, Parcel, Verdict, WindowState
from tracker.settings import DEFAULT_SOURCES
from tracker.store import evidence as stored_evidence
from tracker.store import orders as store
from tracker.store.polling import order_value

MAX_ORDER_ID = 100
MAX_PARCELS = 20
MAX_OTHER_NUMBERS = 5
MAX_PROMISE = timedelta(days=730)  # a promise further out than 2 years is a typo
MAX_AGE = timedelta(days=3 * 365)  # older orders: every window has long closed
MAX_AHEAD = timedelta(days=1)  # shipped "tomorrow" is a clock or zone slip; later is a typo

EvidenceFormat = Literal["markdown", "html"]
Policies = Mapping[str, deadlines.Policy]  # protection policies by name (Settings.policies)


# ----------------------------------------------------------------------------- validation


def _check_id(order_id: str, field: str) -> str:
    text = order_id.strip()
    if not text:
        raise ValidationError(field, "must not be empty")
    if len(text) > MAX_ORDER_ID:
        raise ValidationError(field, f"is longer than {MAX_ORDER_ID} characters")
    if any(not ch.isprintable() for ch in text):
        raise ValidationError(field, "contains control characters")
    return text


def _check_number(number: str, field: str) -> str:
    try:
        return numbers.validate(number)
    except ValidationError as exc:
        raise ValidationError(field, exc.problem) from exc


def _check_parcels(parcels: Sequence[Parcel], field: str) -> tuple[Parcel, ...]:
    if not parcels:
        raise ValidationError(field, "must name at least one tracking number")
    if len(parcels) > MAX_PARCELS:
        raise ValidationError(field, f"at most {MAX_PARCELS} parcels per order")
    checked = []
    for i, parcel in enumerate(parcels):
        where = f"{field}[{i}]"
        if len(parcel.other_numbers) > MAX_OTHER_NUMBERS:
            raise ValidationError(f"{where}.other_numbers", f"at most {MAX_OTHER_NUMBERS}")
        if parcel.source_hint is not None and parcel.source_hint not in SOURCE_NAMES:
            raise ValidationError(f"{where}.source", _unknown_source(parcel.source_hint))
        checked.append(
            replace(
                parcel,
                tracking_number=_check_number(parcel.tracking_number, f"{where}.tracking_number"),
                other_numbers=tuple(
                    _check_number(n, f"{where}.other_numbers[{j}]")
                    for j, n in enumerate(parcel.other_numbers)
                ),
            )
        )
    seen = [p.tracking_number for p in checked]
    if len(set(seen)) != len(seen):
        raise ValidationError(field, "lists the same tracking number twice")
    return tuple(checked)


def _unknown_source(name: str) -> str:
    return f"unknown source {name!r} (known: {', '.join(SOURCE_NAMES)})"


def _check_dates(order: Order, now: datetime, prefix: str) -> None:
    shipped = order.shipped_at
    if shipped.tzinfo is None:
        raise ValidationError(prefix + "shipped_at", "needs a UTC offset or a time zone")
    if shipped > now + MAX_AHEAD:
        raise ValidationError(prefix + "shipped_at", "is in the future")
    if shipped < now - MAX_AGE:
        raise ValidationError(prefix + "shipped_at", "is more than 3 years ago")
    end = deadlines.promised_end(order)
    if end <= shipped:
        raise ValidationError(prefix + "promised_by", "must be after shipped_at")
    if end - shipped > MAX_PROMISE:
        raise ValidationError(prefix + "promised_by", "is more than 2 years after shipped_at")
    if order.confirmed_at is not None and order.confirmed_at < shipped:
        raise ValidationError(prefix + "confirmed_at", "must not be before shipped_at")


def validate_order(
    order: Order, now: datetime, prefix: str = "", policies: Policies = deadlines.POLICIES
) -> Order:
    """The order with normalised numbers and country, or ValidationError naming the field
    (a marketplace is known when one of `policies` covers it)."""
    country = countries.iso2(order.destination.country)
    if country is None:
        raise ValidationError(
            prefix + "destination.country", f"unknown country {order.destination.country!r}"
        )
    try:
        ZoneInfo(order.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(prefix + "timezone", f"unknown time zone {order.timezone!r}") from exc
    known = sorted({p.marketplace for p in policies.values()})
    if order.marketplace not in known:
        raise ValidationError(
            prefix + "marketplace",
            f"unknown marketplace {order.marketplace!r} (known: {', '.join(known)})",
        )
    checked = replace(
        order,
        id=_check_id(order.id, prefix + "id"),
        destination=replace(order.destination, country=country),
        parcels=_check_parcels(order.parcels, prefix + "parcels"),
    )
    _check_dates(checked, now, prefix)
    return checked


def check_sources(sources: Sequence[str] | None) -> list[str]:
    chosen = list(DEFAULT_SOURCES if sources is None else sources)
    if not chosen:
        raise ValidationError("sources", "must name at least one source")
    for name in chosen:
        if name not in SOURCE_NAMES:
            raise ValidationError("sources", _unknown_source(name))
    return list(dict.fromkeys(chosen))


# ----------------------------------------------------------------------------- operations


def validate_orders(
    orders: Sequence[Order], now: datetime, policies: Policies = deadlines.POLICIES
) -> list[Order]:
    """Every order validated; with several, fields are prefixed `orders[i].`."""
    many = len(orders) > 1
    checked = [
        validate_order(order, now, f"orders[{i}]." if many else "", policies)
        for i, order in enumerate(orders)
    ]
    ids = [o.id for o in checked]
    if len(set(ids)) != len(ids):
        raise ValidationError("orders", "the same order id appears twice")
    return checked


def add_orders(
    engine: Engine,
    orders: Sequence[Order],
    sources: Sequence[str] | None,
    now: datetime,
    progress: Callable[[int], None] | None = None,
    policies: Policies = deadlines.POLICIES,
) -> list[str]:
    """Validate every order, then store them all in one transaction; returns their ids.

    An order id that exists already is updated (its parcels keep their history). Sources are
    the ones to poll for every parcel (None: the default sources), plus a parcel's own hint.
    `progress(1)` is called after each order is written (the commit comes after the last).
    """
    chosen = check_sources(sources)
    checked = validate_orders(orders, now, policies)
    with engine.begin() as conn:
        for order in checked:
            hinted = {p.source_hint for p in order.parcels if p.source_hint}
            store.upsert_order(conn, order, [*chosen, *sorted(hinted - set(chosen))], now=now)
            if progress is not None:
                progress(1)
    return [o.id for o in checked]


def order_report(
    engine: Engine, order_id: str, now: datetime, policies: Policies = deadlines.POLICIES
) -> dict[str, Any]:
    """The `tracker analyze` report of a stored order, from its stored observations."""
    with engine.connect() as conn:
        order = store.order_model(conn, order_id)
        observations = stored_evidence.observations_for_order(conn, order_id)
    case = Case(order=order, observations=tuple(observations), now=now)
    return pipeline.run_case(case, now, policies)


def evidence(
    engine: Engine,
    order_id: str,
    now: datetime,
    fmt: EvidenceFormat = "markdown",
    policies: Policies = deadlines.POLICIES,
) -> str:
    """The dispute summary of a stored order, as Markdown or HTML."""
    renderers = {"markdown": summary.markdown, "html": summary.html}
    if fmt not in renderers:
        raise ValidationError("format", f"must be markdown or html, not {fmt!r}")
    return renderers[fmt](order_report(engine, order_id, now, policies), now=now)


# ----------------------------------------------------------------------------- listing


@dataclass(frozen=True, slots=True)
class OrderFilters:
    """What `list_orders` keeps; every filter given must hold (AND)."""

    at_risk: bool = False  # window open and not delivered
    overdue: bool = False  # promised time over, not delivered, window not closed
    suspect: bool = False  # the delivery verdict is suspect
    deadline_within_days: int | None = None  # not delivered, window closes within N days
    status: str | None = None
    after: str | None = None  # cursor: the last id of the previous page
    limit: int = 100


def order_summary(
    row: store.OrderRow, now: datetime, policies: Policies = deadlines.POLICIES
) -> dict[str, Any]:
    """One list entry: the poller's summary and the window computed at `now`."""
    window = deadlines.window(order_value(row, []), now, policies=policies)
    delivered = row.verdict == Verdict.DELIVERED.value
    return {
        "id": row.id,
        "marketplace": row.marketplace,
        "destination_country": row.destination_country,
        "shipped_at": pipeline.iso_z(row.shipped_at),
        "promised_by": row.promised_by,
        "status": row.status,
        "substatus": row.substatus,
        "verdict": row.verdict,
        "window_state": window.state.value,
        "dispute_opens_at": pipeline.iso_z(window.dispute_opens_at),
        "dispute_closes_at": pipeline.iso_z(window.dispute_closes_at),
        "overdue": not delivered
        and now >= window.promised_end
        and window.state != WindowState.CLOSED,
    }


def _keep(entry: dict[str, Any], f: OrderFilters, now: datetime) -> bool:
    delivered = entry["verdict"] == Verdict.DELIVERED.value
    if f.status is not None and entry["status"] != f.status:
        return False
    if f.suspect and entry["verdict"] != Verdict.SUSPECT.value:
        return False
    if f.overdue and not entry["overdue"]:
        return False
    if f.at_risk and (delivered or entry["window_state"] != WindowState.OPEN.value):
        return False
    if f.deadline_within_days is not None:
        closes = datetime.fromisoformat(entry["dispute_closes_at"]).astimezone(UTC)
        horizon = now + timedelta(days=f.deadline_within_days)
        if delivered or not now <= closes <= horizon:
            return False
    return True


def _pages(engine: Engine, after: str | None, size: int) -> Iterator[list[store.OrderRow]]:
    while True:
        with engine.connect() as conn:
            rows = store.list_orders(conn, after_id=after, limit=size)
        if not rows:
            return
        yield rows
        after = rows[-1].id


def list_orders(
    engine: Engine, filters: OrderFilters, now: datetime, policies: Policies = deadlines.POLICIES
) -> tuple[list[dict[str, Any]], str | None]:
    """Orders by id that pass `filters`, and the cursor of the next page (None at the end).

    The window filters depend on `now`, so they are applied here rather than in SQL; the scan
    reads orders in keyset pages and stops as soon as one page of results is full.
    """
    found: list[dict[str, Any]] = []
    for rows in _pages(engine, filters.after, max(filters.limit, 200)):
        for row in rows:
            entry = order_summary(row, now, policies)
            if _keep(entry, filters, now):
                found.append(entry)
                if len(found) == filters.limit:
                    return found, row.id
    return found, None
