"""Cainiao's public `global.cainiao.com/global/detail.json` (AliExpress parcels).

Three traps (carriers.md §3): the answer can be for another `mailNo` than asked (reported as
`other_number`); `GTMS_STA_SIGNED` is a pickup *station* signing, not the buyer
(`available_for_pickup.station_received`, never delivered); and `timeStr` is Beijing time
whatever `timeZone` says, so the instant comes from the epoch `time` (ms) only, and the wall
clock is shown in `timeZone` only when that offset is readable. An unknown number is a success
with an empty `detailList`: a value (not found, pending), not an error.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from tracker.errors import UnparseableResponse
from tracker.model import (
    Observation,
    Outcome,
    ParseResult,
    ParseWarning,
    SourceEvent,
    Status,
    TrackingState,
    TzProvenance,
)
from tracker.quickbuild import quick
from tracker.sources import _parse as p
from tracker.sources._answers import Answer, assemble, dump_raw, guard, sub
from tracker.sources._offsets import parse_offset
from tracker.sources._sections import by_number, keep
from tracker.sources.base import RateLimit, SourceSpec
from tracker.sources.http import SourceClient

# a genuine frozen SourceEvent, built ~4x cheaper: one per source event (tracker.quickbuild)
_NewEvent = quick(SourceEvent)
SOURCE = "cainiao"

SPEC = SourceSpec(
    name=SOURCE,
    base_url="https://global.cainiao.com",
    batch_size=10,
    # No published quota; Alibaba soft-bans "unusual traffic" (and the ban hits every
    # AliExpress service from the IP), so stay far below anything that looks like scraping.
    rate_limit=RateLimit(calls=1, period=5.0),
    auth="none (public endpoint, no key or cookie)",
    key_required=False,
)

CODES: Mapping[str, str] = {
    **dict.fromkeys(
        (
            "CONSIGN",
            "OM_CONSIGN",
            "GWMS_ACCEPT",
            "GWMS_PICK",
            "GWMS_PACKAGE",
            "PRE_READY_TO_SHIP",
            "GTMS_ASN",
        ),
        "pre_transit.order_processing",
    ),
    "GWMS_CANCEL": "cancelled.order_cancelled",
    **dict.fromkeys(("PU_PICKUP_SUCCESS", "PU_SIGN_IN_SUCCESS", "GOT"), "in_transit.picked_up"),
    **dict.fromkeys(
        (
            "GWMS_OUTBOUND",
            "GWMS_HANDOVER",
            "SC_INBOUND_SUCCESS",
            "SC_ARRIVE",
            "SC_SIGN_IN_SUCCESS",
            "SC_TRANS_INBOUND_SUCCESS",
        ),
        "in_transit.origin_facility",
    ),
    **dict.fromkeys(
        (
            "SC_OUTBOUND_SUCCESS",
            "SC_DEPART",
            "SC_HO_OUT_SUCCESS",
            "LH_HO_IN_SUCCESS",
            "LH_HO_AIRLINE",
        ),
        "in_transit.facility_departure",
    ),
    "CC_EX_START": "in_transit.export_customs_started",
    "CC_EX_SUCCESS": "in_transit.export_customs_cleared",
    **dict.fromkeys(("LH_DEPART", "OE_DEPART"), "in_transit.linehaul_departed"),
    **dict.fromkeys(("LH_ARRIVE", "LH_HO_OUT_SUCCESS"), "in_transit.linehaul_arrived"),
    **dict.fromkeys(("COMMON_INTRANSIT", "LH_OTHER", "LH_POST_COLLECTION"), "in_transit.other"),
    **dict.fromkeys(
        (
            "CC_HO_IN_SUCCESS",
            "CC_IM_START",
            "CC_IM_PROCESS",
            "CUS_DECLARE",
            "CUSTOMS_ARRIVED_IN_AREA_CALLBACK",
        ),
        "in_transit.import_customs_processing",
    ),
    **dict.fromkeys(
        ("CC_IM_SUCCESS", "CC_HO_OUT_SUCCESS", "CUS_SUCCESS", "CIQ_SUCCESS"),
        "in_transit.import_customs_released",
    ),
    **dict.fromkeys(
        ("CC_IM_FAILURE", "CC_IM_EXCEPTION", "CUS_FAILURE", "CIQ_FAILURE"), "exception.held_customs"
    ),
    "CUS_TAX": "exception.duties_unpaid",
    **dict.fromkeys(("GTMS_ACCEPT", "LAST_MILE_ASN_NOTIFY"), "in_transit.handed_to_last_mile"),
    **dict.fromkeys(
        ("GTMS_SC_ARRIVE", "GTMS_STATION_IN", "GTMS_DO_ARRIVE", "ARRIVAL"),
        "in_transit.facility_arrival",
    ),
    **dict.fromkeys(
        ("GTMS_SC_DEPART", "GTMS_STATION_OUT", "DEPARTURE"), "in_transit.facility_departure"
    ),
    **dict.fromkeys(
        ("GTMS_DO_DEPART", "GTMS_DELIVERING", "GTMS_RE_DELIVERING", "SENT_SCAN"),
        "out_for_delivery.out_for_delivery",
    ),
    **dict.fromkeys(
        ("GSTA_INFORM_BUYER", "GTMS_WAIT_SELF_PICK", "GSTA_INBOUND", "GSTAHUB_INBOUND"),
        "available_for_pickup.at_pickup_point",
    ),
    "GTMS_STA_SIGNED": "available_for_pickup.station_received",  # the station, not the buyer
    "GTMS_STA_WAIT_CUST_CHANGE_ADDRESS": "exception.address_correction",
    "GTMS_RELABEL": "in_transit.forwarded",
    **dict.fromkeys(
        ("GTMS_DEL_FAILURE", "GTMS_SIGN_FAILURE", "FAILED"), "delivery_attempted.other"
    ),
    **dict.fromkeys(
        ("GTMS_STA_SIGN_FAILURE", "GSTA_SIGN_FAIL", "STA_SIGN_FAIL"), "exception.other"
    ),
    **dict.fromkeys(("GTMS_SIGNED", "SIGNED"), "delivered.signed"),
    **dict.fromkeys(
        ("GSTA_SIGN", "GSTA_BUYER_SIGN", "STA_SIGN"), "delivered.picked_up_by_recipient"
    ),
    **dict.fromkeys(
        ("RT_INBOUND", "RT_OUTBOUND", "RT_HO_OUT", "RT_TMS_ACCEPT"), "returning.return_initiated"
    ),
    "RETURNED": "returned.returned_to_sender",
    **dict.fromkeys(("RT_DESTROY", "RT_WH_DESTROY"), "failed.destroyed"),
    **dict.fromkeys(
        (
            "EXCEPTION",
            "GTMS_FAILURE",
            "GWMS_EXCEPTION",
            "GWMS_REJECT",
            "REJECT",
            "GTMS_OTHER",
            "GSTA_OTHER",
        ),
        "exception.other",
    ),
}
"""`actionCode` -> canonical sub-status (carriers.md §10.3); exact codes first."""

PATTERNS: tuple[tuple[str, str, str], ...] = (
    ("RT_WH_", "", "returning.return_initiated"),
    ("RT_TRANSWH_", "", "returning.return_initiated"),
    ("CW_", "", "in_transit.origin_facility"),
    ("TD_TRANS_", "", "in_transit.transit_country"),
    ("CC_TRANS_", "", "in_transit.transit_country"),
    ("GTMS_STA_", "_TO_DOOR", "in_transit.forwarded"),
    ("GTMS_STA_", "_CHANGE", "in_transit.forwarded"),
    ("", "_FAILURE", "exception.other"),
    ("", "_FAIL", "exception.other"),
)
"""(prefix, suffix, sub-status) families for codes not in CODES, tried in order."""

LAST_MILE_PREFIXES = ("GTMS_", "GSTA", "LAST_MILE_")


def code_table(code: str | None) -> Mapping[str, str]:
    """CODES, extended by the family pattern that matches `code` (if any)."""
    if code is None or code in CODES:
        return CODES
    for prefix, suffix, substatus in PATTERNS:
        if code.startswith(prefix) and code.endswith(suffix):
            return {code: substatus}
    return CODES


# ----------------------------------------------------------------------------- fetch


def fetch(client: SourceClient, numbers: Sequence[str]) -> list[Observation]:
    """GET detail.json with up to 10 comma-separated numbers; no credentials."""
    observations = []
    for start in range(0, len(numbers), SPEC.batch_size):
        batch = list(numbers[start : start + SPEC.batch_size])
        response = client.request(
            "GET", "global/detail.json", params={"mailNos": ",".join(batch), "lang": "en-US"}
        )
        observations.append(client.observe(response, batch))
    return observations


# ----------------------------------------------------------------------------- parse


def parse(observation: Observation) -> ParseResult:
    body = p.load_json(observation)
    warnings: list[ParseWarning] = []
    with guard(SOURCE, observation):
        p.need(SOURCE, body, "$", dict)
        if body.get("success") is not True:
            raise UnparseableResponse(
                SOURCE,
                f"success={body.get('success')!r} errorCode={body.get('errorCode')!r} "
                f"errorMsg={body.get('errorMsg')!r}",
                field="success",
            )
        modules = p.get_list(SOURCE, body, "module", "$")
        answers = [
            _answer(p.need(SOURCE, m, f"module[{i}]", dict), i, warnings)
            for i, m in enumerate(modules)
        ]
    events, results, warns = assemble(SOURCE, observation.numbers, answers, warnings)
    return ParseResult(events=events, results=results, warnings=warns)


def split(body: Any, requested: Sequence[str]) -> dict[str, list[Any]] | None:
    """Each requested number's `module` items (`_sections`): only for a successful answer
    whose items name exactly the numbers asked for."""
    if not isinstance(body, dict) or body.get("success") is not True:
        return None
    modules = body.get("module")
    return by_number(modules, "mailNo", requested) if isinstance(modules, list) else None


def narrow(body: dict[str, Any], numbers: Collection[str]) -> dict[str, Any]:
    """The answer with only the `module` items of `numbers` (a body `split` accepted)."""
    return {**body, "module": keep(body["module"], "mailNo", numbers)}


def _answer(module: dict[str, Any], index: int, warnings: list[ParseWarning]) -> Answer:
    path = f"module[{index}]"
    number = p.text(p.need(SOURCE, module.get("mailNo"), f"{path}.mailNo", (str, int)))
    if not number:
        raise UnparseableResponse(SOURCE, "empty mailNo", field=f"{path}.mailNo")
    details = p.get_list(SOURCE, module, "detailList", path)
    latest = sub(module, "latestTrace")
    if not details and latest:
        details = [latest]  # a current state without history is still an event
    if not details:
        return Answer(
            number=number,
            outcome=Outcome.NOT_FOUND,
            tracking_state=TrackingState.PENDING,
            status=Status.NOT_FOUND,
            message=p.text(module.get("statusDesc")) or "no events yet",
        )
    carrier = p.text(sub(module, "destCpInfo").get("cpName"))
    answer = Answer(number=number, message=p.text(module.get("statusDesc")))
    for i, raw in enumerate(details):
        if not isinstance(raw, dict):  # the path is spelt only when it is needed
            p.need(SOURCE, raw, f"{path}.detailList[{i}]", dict)
        answer.events.append(_event(number, raw, carrier, warnings))
    answer.status = _current_status(answer.events, latest, warnings)
    return answer


def _current_status(
    events: list[SourceEvent], latest: Mapping[str, Any], warnings: list[ParseWarning]
) -> Status | None:
    """The newest actionCode decides (latestTrace, else the latest epoch); the parcel-level
    `status` token is too loose to trust."""
    code = p.text(latest.get("actionCode"))
    if code:
        return p.lookup(SOURCE, code_table(code), code, warnings, "actionCode")[0]
    timed = [(e.occurred_at, i) for i, e in enumerate(events) if e.occurred_at is not None]
    if not timed:
        return events[0].status  # detailList is newest first
    return events[max(timed, key=lambda t: (t[0], -t[1]))[1]].status


def _event(
    number: str, raw: dict[str, Any], carrier: str | None, warnings: list[ParseWarning]
) -> SourceEvent:
    code = p.text(raw.get("actionCode"))
    status, substatus = p.lookup(SOURCE, code_table(code), code, warnings, "actionCode")
    when = _time(raw, number, warnings)
    last_mile = code is not None and code.startswith(LAST_MILE_PREFIXES)
    standard = p.text(raw.get("standerdDesc"))
    return _NewEvent(
        source=SOURCE,
        source_number=number,
        status=status,
        substatus=substatus,
        raw_description=p.text(raw.get("desc")) or standard or "",
        raw_status=p.text(raw.get("descTitle")),
        raw_substatus=standard,
        raw_code=code,
        reporting_carrier=(carrier if last_mile and carrier else "Cainiao"),
        occurred_local=when.local,
        utc_offset_minutes=when.offset_minutes,
        occurred_at=when.utc,
        tz_provenance=when.provenance,
        raw_time=when.raw,
    )


def _time(raw: Mapping[str, Any], number: str, warnings: list[ParseWarning]) -> p.TimeReading:
    fields = {k: raw.get(k) for k in ("time", "timeStr", "timeZone") if k in raw}
    raw_text = dump_raw(fields)
    offset = parse_offset(raw.get("timeZone"))
    try:
        reading = p.epoch_reading(raw.get("time"), offset, TzProvenance.CARRIER_UTC, raw_text)
    except (OverflowError, OSError, ValueError):
        reading = p.NO_TIME  # an epoch outside any calendar: as good as none
    if reading.utc is None:
        # timeStr is Beijing time whatever timeZone says: never read it as the local clock.
        warnings.append(ParseWarning(SOURCE, f"event of {number} without an epoch time"))
        return p.QuickReading(raw=raw_text)
    return reading
