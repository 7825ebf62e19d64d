"""Can a "delivered" record be trusted? The delivery verdict and the rules behind it.

`judge` finds the delivery claim in a merged timeline (`case.find_claim`) and runs six small
rules over it; each returns `Reason`s naming the sources and the event ids that prove it.
No claim -> `none`; a claim and no reason -> `delivered`; a claim and any reason -> `suspect`.

    case.py       the claim, the Case every rule reads, instants with their time-zone slack
    rules.py      identity, location, post-delivery activity, source disagreement, text
    sequence.py   sequence_impossible and its thresholds (data)
    phrases.py    the phrases that contradict a delivered code (data)

Pure: no clock, no network, no database.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tracker.judge.case import Case, find_claim
from tracker.judge.rules import (
    identity_mismatch,
    location_mismatch,
    post_delivery_activity,
    source_disagreement,
    text_contradiction,
)
from tracker.judge.sequence import sequence_impossible
from tracker.model import (
    DeliveryVerdict,
    NumberResult,
    Order,
    Parcel,
    Reason,
    Timeline,
    Verdict,
)

RULES: tuple[Callable[[Case], list[Reason]], ...] = (
    identity_mismatch,
    location_mismatch,
    sequence_impossible,
    post_delivery_activity,
    source_disagreement,
    text_contradiction,
)


def judge(
    order: Order, parcel: Parcel, timeline: Timeline, results: Sequence[NumberResult]
) -> DeliveryVerdict:
    """The delivery verdict for one parcel of `order`, with the reasons behind it."""
    claim = find_claim(timeline)
    if claim is None:
        return DeliveryVerdict(Verdict.NONE)
    case = Case(order, parcel, timeline, tuple(results), claim)
    reasons = tuple(reason for rule in RULES for reason in rule(case))
    return DeliveryVerdict(
        verdict=Verdict.SUSPECT if reasons else Verdict.DELIVERED,
        delivered_at=claim.occurred_at,
        delivered_event=claim.id,
        reasons=reasons,
    )


__all__ = ["RULES", "Case", "find_claim", "judge"]
