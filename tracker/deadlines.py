"""Buyer-protection windows: when a dispute can be opened, and until when.

Policies are data (named, versioned, per marketplace). The default `aliexpress` v1:

    dispute_opens_at  = shipped_at + 11 days
    promised_end      = promised_by if it is a datetime, else the start of the next day in the
                        order's time zone (IANA, DST-correct)
    dispute_closes_at = min(promised_end, confirmed_at if set) + 15 days

`load_policies` reads more policies from a JSON mapping, so a marketplace rule change is a
configuration change: the service reads TRACKER_POLICIES_FILE, `tracker analyze` its
`--policies FILE` (`read_policies`). Pure but for that one reader: `now` is a parameter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tracker.errors import ValidationError
from tracker.model import Order, ProtectionWindow, WindowState

DEFAULT_POLICY = "aliexpress"


@dataclass(frozen=True, slots=True)
class Policy:
    """One marketplace's protection rule, as published at one time (`version`)."""

    name: str
    version: int
    marketplace: str
    opens_after: timedelta  # after shipped_at
    closes_after_promised: timedelta  # after promised_end (or receipt confirmation)
    confirmation_closes: bool = True  # confirming receipt starts the closing countdown early
    note: str = ""


POLICIES: Mapping[str, Policy] = {
    "aliexpress": Policy(
        name="aliexpress",
        version=1,
        marketplace="aliexpress",
        opens_after=timedelta(days=11),
        closes_after_promised=timedelta(days=15),
        note="AliExpress buyer protection: open from day 11 after shipping until 15 days after "
        "the promised delivery time ends or receipt is confirmed, whichever comes first",
    ),
}


def load_policies(
    data: Mapping[str, Any], base: Mapping[str, Policy] = POLICIES
) -> dict[str, Policy]:
    """`base` plus the policies of a JSON mapping `{name: {version, marketplace, ...}}`.

    Durations are given in days (`opens_after_days`, `closes_after_promised_days`, numbers);
    a malformed entry raises ValidationError naming the policy and the field.
    """
    if not isinstance(data, Mapping):
        raise ValidationError("policies", "must be a JSON object of policies by name")
    loaded = dict(base)
    for name, entry in data.items():
        loaded[name] = _policy(name, entry)
    return loaded


def read_policies(path: str, base: Mapping[str, Policy] = POLICIES) -> dict[str, Policy]:
    """`base` plus the policies of the JSON file at `path` (TRACKER_POLICIES_FILE, `tracker
    analyze --policies`); ValidationError naming the file, or the policy and field."""
    import json

    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except OSError as exc:
        raise ValidationError("policies", f"{path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise ValidationError("policies", f"{path}: not JSON: {exc}") from exc
    return load_policies(data, base)


def _policy(name: str, entry: Any) -> Policy:
    if not isinstance(entry, Mapping):
        raise ValidationError(f"policies.{name}", "must be an object")
    return Policy(
        name=name,
        version=_number(name, entry, "version", int),
        marketplace=_text(name, entry, "marketplace"),
        opens_after=timedelta(days=_number(name, entry, "opens_after_days", float)),
        closes_after_promised=timedelta(
            days=_number(name, entry, "closes_after_promised_days", float)
        ),
        confirmation_closes=bool(entry.get("confirmation_closes", True)),
        note=str(entry.get("note", "")),
    )


def _number(name: str, entry: Mapping[str, Any], key: str, kind: type[int] | type[float]) -> Any:
    value = entry.get(key)
    if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
        raise ValidationError(f"policies.{name}.{key}", f"must be a non-negative number: {value!r}")
    if kind is int and not float(value).is_integer():
        raise ValidationError(f"policies.{name}.{key}", f"must be a whole number: {value!r}")
    return kind(value)


def _text(name: str, entry: Mapping[str, Any], key: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value:
        raise ValidationError(f"policies.{name}.{key}", f"must be a non-empty string: {value!r}")
    return value


def policy_for(
    order: Order, policy: str | None = None, policies: Mapping[str, Policy] = POLICIES
) -> Policy:
    """The named policy, else the newest one for the order's marketplace; a marketplace no
    policy covers is a ValidationError naming the known ones (a window computed under another
    marketplace's rule would give the buyer wrong deadlines)."""
    if policy is not None:
        if policy not in policies:
            known = ", ".join(sorted(policies))
            raise ValidationError("policy", f"unknown policy {policy!r} (known: {known})")
        return policies[policy]
    candidates = [p for p in policies.values() if p.marketplace == order.marketplace]
    if not candidates:
        known = ", ".join(sorted({p.marketplace for p in policies.values()}))
        raise ValidationError(
            "order.marketplace",
            f"no protection policy for marketplace {order.marketplace!r} (known: {known})",
        )
    return max(candidates, key=lambda p: (p.version, p.name))


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError("timezone", f"unknown IANA time zone {name!r}") from exc


def _utc(value: datetime, tz: ZoneInfo) -> datetime:
    """An aware UTC datetime; a naive one is wall-clock time in the order's zone."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.astimezone(UTC)


def promised_end(order: Order) -> datetime:
    """When the promised delivery time is over (UTC)."""
    tz = zone(order.timezone)
    promised = order.promised_by
    if isinstance(promised, datetime):
        return _utc(promised, tz)
    # A promised date lasts the whole local day: it ends at the next local midnight. zoneinfo
    # resolves a midnight skipped by DST to the first instant of that day (fold=0).
    next_day: date = promised + timedelta(days=1)
    return datetime.combine(next_day, time(0), tzinfo=tz).astimezone(UTC)


def state_at(now: datetime, opens: datetime, closes: datetime) -> WindowState:
    """not_open before opening, open until closing, closed after (also if it never opened)."""
    if now >= closes:
        return WindowState.CLOSED
    if now < opens:
        return WindowState.NOT_OPEN
    return WindowState.OPEN


def window(
    order: Order,
    now: datetime,
    policy: str | None = None,
    *,
    policies: Mapping[str, Policy] = POLICIES,
) -> ProtectionWindow:
    """The order's protection window under `policy` (by marketplace when None), at `now`."""
    rule = policy_for(order, policy, policies)
    tz = zone(order.timezone)
    opens = _utc(order.shipped_at, tz) + rule.opens_after
    end = promised_end(order)
    countdown = end
    if rule.confirmation_closes and order.confirmed_at is not None:
        countdown = min(end, _utc(order.confirmed_at, tz))
    closes = countdown + rule.closes_after_promised
    return ProtectionWindow(
        policy=rule.name,
        policy_version=rule.version,
        dispute_opens_at=opens,
        promised_end=end,
        dispute_closes_at=closes,
        state=state_at(_utc(now, tz), opens, closes),
    )
