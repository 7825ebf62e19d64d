"""The offline pipeline: a case (order, parcels, raw observations) in, a report out.

`ParcelState` is the per-parcel result that the alerts stage reads.
"""

from __future__ import annotations

from dataclasses import dataclass

from tracker.model import DeliveryVerdict, NumberResult, Parcel, Status, Timeline


@dataclass(frozen=True, slots=True)
class ParcelState:
    """One parcel after merge and judge: what alerts and the report need to know about it."""

    parcel: Parcel
    timeline: Timeline
    verdict: DeliveryVerdict
    status: Status
    substatus: str
    results: tuple[NumberResult, ...]
