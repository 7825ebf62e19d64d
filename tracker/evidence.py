"""A dispute summary a buyer can attach, rendered from a `tracker analyze` report.

`markdown(report)` and `html(report)` show the order, the destination and promised date, the
delivery verdict with each reason and its sources, the records that conflict (with sources and
raw codes), the merged timeline as a table, and the dispute deadlines with days left.

Carrier text is untrusted: in Markdown every punctuation character that could start markup is
backslash-escaped and table cells lose their pipes and line breaks; in HTML everything goes
through `html.escape`. Pure: pass `now` for "days left" (else the report's own `now`, if any).
"""

from __future__ import annotations

import html as _html
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~&])")
_SPACES = re.compile(r"\s+")

TIMELINE_COLUMNS = ("When (UTC)", "Local time", "Status", "Description", "Location", "Sources")
CONFLICT_COLUMNS = (*TIMELINE_COLUMNS, "Raw codes", "Event")


def md(value: Any) -> str:
    """Carrier or user text made inert for Markdown (one line, markup escaped)."""
    if value is None or value == "":
        return "—"
    return _MD_SPECIAL.sub(r"\\\1", _SPACES.sub(" ", str(value)).strip())


def _parse(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def days_left(report: Mapping[str, Any], now: datetime | None = None) -> float | None:
    """Days until the dispute window closes, from `now` or the report's `now`."""
    closes = _parse((report.get("protection") or {}).get("dispute_closes_at"))
    now = now or _parse(report.get("now"))
    if closes is None or now is None or now.tzinfo is None:
        return None
    return round((closes - now).total_seconds() / 86400, 1)


# ----------------------------------------------------------------------------- shared views


def parcels(report: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Each parcel's section: the report's `parcels`, or the report itself for one parcel."""
    listed = report.get("parcels")
    if isinstance(listed, list) and listed:
        return listed
    return [report]


def _location(event: Mapping[str, Any]) -> str:
    loc = event.get("location") or {}
    place = str(loc.get("text") or loc.get("city") or "")
    parts = [place, *(str(loc[k]) for k in ("postal_code", "country") if loc.get(k))]
    return ", ".join(dict.fromkeys(p for p in parts if p and (p == place or p not in place)))


def _row(event: Mapping[str, Any]) -> list[Any]:
    status = event.get("substatus") or event.get("status")
    return [
        event.get("occurred_at"),
        _local(event),
        status,
        event.get("description"),
        _location(event),
        ", ".join(event.get("sources") or []),
    ]


def _local(event: Mapping[str, Any]) -> str | None:
    local, offset = event.get("occurred_local"), event.get("utc_offset")
    if not local:
        return None
    return f"{local} {offset}" if offset else f"{local} ({event.get('tz_provenance', 'unknown')})"


def _conflict_row(event: Mapping[str, Any]) -> list[Any]:
    return [*_row(event), ", ".join(event.get("raw_codes") or []), event.get("id")]


def conflicting(section: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The timeline events the verdict's reasons point at, in timeline order."""
    reasons = (section.get("delivery") or {}).get("reasons") or []
    ids = {event_id for reason in reasons for event_id in reason.get("events") or []}
    return [e for e in section.get("timeline") or [] if e.get("id") in ids]


def _order_facts(report: Mapping[str, Any], now: datetime | None) -> list[tuple[str, Any]]:
    order = report.get("order") or {}
    dest = order.get("destination") or {}
    protection = report.get("protection") or {}
    where = ", ".join(str(dest[k]) for k in ("city", "postal_code", "country") if dest.get(k))
    numbers = [n for p in parcels(report) for n in _numbers(p, report)]
    return [
        ("Order", report.get("order_id")),
        ("Marketplace", order.get("marketplace")),
        ("Destination", where or None),
        ("Shipped at", order.get("shipped_at")),
        ("Promised by", order.get("promised_by")),
        ("Promised delivery time ends", protection.get("promised_end")),
        ("Receipt confirmed at", order.get("confirmed_at")),
        ("Tracking numbers", ", ".join(numbers) or None),
        ("Current status", f"{report.get('status')} ({report.get('substatus')})"),
        ("Report time", now.isoformat() if now else report.get("now")),
    ]


def _numbers(section: Mapping[str, Any], report: Mapping[str, Any]) -> list[str]:
    if not section.get("tracking_number"):  # the order's only parcel: the order names it
        listed = (report.get("order") or {}).get("parcels") or []
        section = listed[0] if len(listed) == 1 else section
    if section.get("tracking_number"):
        return [section["tracking_number"], *(section.get("other_numbers") or [])]
    found = {n for e in report.get("timeline") or [] for n in e.get("numbers") or []}
    return sorted(found)


def _deadline_facts(report: Mapping[str, Any], now: datetime | None) -> list[tuple[str, Any]]:
    p = report.get("protection") or {}
    left = days_left(report, now)
    closes = p.get("dispute_closes_at")
    if closes and left is not None:
        closes = f"{closes} ({left:g} days left)" if left > 0 else f"{closes} (closed)"
    return [
        ("Policy", f"{p.get('policy')} v{p.get('policy_version', '?')}"),
        ("Dispute opens", p.get("dispute_opens_at")),
        ("Dispute closes", closes),
        ("Window", p.get("state")),
    ]


# ----------------------------------------------------------------------------- markdown


def _md_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(md(cell) for cell in row) + " |" for row in rows]
    return [*lines, ""]


def _md_verdict(section: Mapping[str, Any]) -> list[str]:
    delivery = section.get("delivery") or {}
    lines = [f"Verdict: **{md(delivery.get('verdict'))}**"]
    if delivery.get("delivered_at"):
        lines.append(f"Delivery claimed at {md(delivery['delivered_at'])}")
    reasons = delivery.get("reasons") or []
    if reasons:
        lines += ["", "Why this delivery can't be trusted:", ""]
    for n, reason in enumerate(reasons, 1):
        sources = ", ".join(reason.get("sources") or [])
        events = ", ".join(reason.get("events") or [])
        lines.append(
            f"{n}\\. **{md(reason.get('rule'))}**: {md(reason.get('detail'))} "
            f"(sources: {md(sources)}; events: {md(events)})"
        )
    return lines


def _md_section(section: Mapping[str, Any], title: str) -> list[str]:
    lines = [f"## {title}", "", *_md_verdict(section), ""]
    conflicts = conflicting(section)
    if conflicts:
        lines += ["### Conflicting records", ""]
        lines += _md_table(CONFLICT_COLUMNS, [_conflict_row(e) for e in conflicts])
    lines += ["### Merged timeline (oldest first)", ""]
    lines += _md_table(TIMELINE_COLUMNS, [_row(e) for e in section.get("timeline") or []])
    return lines


def markdown(report: Mapping[str, Any], *, now: datetime | None = None) -> str:
    """The dispute summary of `report` as Markdown."""
    lines = [f"# Delivery evidence for order {md(report.get('order_id'))}", ""]
    lines += _md_table(("", ""), _order_facts(report, now))
    for section in parcels(report):
        number = section.get("tracking_number")
        lines += _md_section(section, f"Parcel {md(number)}" if number else "Delivery")
    lines += ["## Buyer protection", ""]
    lines += _md_table(("", ""), _deadline_facts(report, now))
    warnings = report.get("warnings") or []
    if warnings:
        lines += ["## Warnings", ""]
        lines += [f"- {md(w.get('source'))}: {md(w.get('message'))}" for w in warnings]
        lines.append("")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- html

_CSS = (
    "body{font-family:sans-serif;max-width:64rem;margin:2rem auto;color:#222}"
    "table{border-collapse:collapse;margin:.5rem 0 1.5rem}"
    "td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}"
    "th{background:#f3f3f3}.suspect{color:#a00}.delivered{color:#060}"
)


def h(value: Any) -> str:
    return "—" if value is None or value == "" else _html.escape(str(value), quote=True)


def _h_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{h(c)}</th>" for c in header)
    body = "".join("<tr>" + "".join(f"<td>{h(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _h_facts(rows: Sequence[tuple[str, Any]]) -> str:
    body = "".join(f"<tr><th>{h(k)}</th><td>{h(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _h_section(section: Mapping[str, Any], title: str) -> str:
    delivery = section.get("delivery") or {}
    verdict = str(delivery.get("verdict"))
    parts = [
        f"<h2>{h(title)}</h2>",
        f'<p>Verdict: <strong class="{h(verdict)}">{h(verdict)}'
        f"</strong> {h(delivery.get('delivered_at') or '')}</p>",
    ]
    reasons = delivery.get("reasons") or []
    if reasons:
        items = "".join(
            f"<li><strong>{h(r.get('rule'))}</strong>: {h(r.get('detail'))} (sources: "
            f"{h(', '.join(r.get('sources') or []))}; events: "
            f"{h(', '.join(r.get('events') or []))})</li>"
            for r in reasons
        )
        parts.append(f"<ol>{items}</ol>")
    conflicts = conflicting(section)
    if conflicts:
        parts += [
            "<h3>Conflicting records</h3>",
            _h_table(CONFLICT_COLUMNS, [_conflict_row(e) for e in conflicts]),
        ]
    parts += [
        "<h3>Merged timeline (oldest first)</h3>",
        _h_table(TIMELINE_COLUMNS, [_row(e) for e in section.get("timeline") or []]),
    ]
    return "".join(parts)


def html(report: Mapping[str, Any], *, now: datetime | None = None) -> str:
    """The dispute summary of `report` as a standalone HTML page."""
    title = f"Delivery evidence for order {report.get('order_id')}"
    sections = "".join(
        _h_section(s, f"Parcel {s['tracking_number']}" if s.get("tracking_number") else "Delivery")
        for s in parcels(report)
    )
    warnings = "".join(
        f"<li>{h(w.get('source'))}: {h(w.get('message'))}</li>"
        for w in report.get("warnings") or []
    )
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{h(title)}</title>'
        f"<style>{_CSS}</style></head><body><h1>{h(title)}</h1>"
        f"{_h_facts(_order_facts(report, now))}{sections}<h2>Buyer protection</h2>"
        f"{_h_facts(_deadline_facts(report, now))}"
        + (f"<h2>Warnings</h2><ul>{warnings}</ul>" if warnings else "")
        + "</body></html>"
    )
