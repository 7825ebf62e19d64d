"""`quick(cls)` builds genuine frozen dataclass instances, only cheaper."""

import dataclasses
import pickle
from datetime import UTC, datetime

import pytest

from tracker.model import NOWHERE, Location, SourceEvent, Status, TimelineEvent, TzProvenance
from tracker.quickbuild import quick
from tracker.sources._parse import TimeReading

AT = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
ARGS = ("cainiao", "LP1", Status.DELIVERED, "delivered.other", "Signed", "S", None, "SIGNED")
KWARGS = {"location": Location(city="Berlin", country="DE"), "occurred_at": AT, "signed_by": "X"}


def test_builds_an_equal_frozen_instance_of_the_real_class() -> None:
    fast, slow = quick(SourceEvent)(*ARGS, **KWARGS), SourceEvent(*ARGS, **KWARGS)
    assert type(fast) is SourceEvent
    assert fast == slow
    assert hash(fast) == hash(slow)
    assert repr(fast) == repr(slow)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.source = "17track"  # type: ignore[misc]


def test_keeps_the_dataclass_defaults_and_copying() -> None:
    fast = quick(SourceEvent)("aftership", "N1", Status.IN_TRANSIT, "in_transit.other")
    assert fast.location is NOWHERE
    assert fast.tz_provenance is TzProvenance.UNKNOWN
    assert fast.raw_description == ""
    assert dataclasses.replace(fast, source="17track").source == "17track"
    assert pickle.loads(pickle.dumps(fast)) == fast
    assert quick(TimeReading)(raw="x") == TimeReading(raw="x")


def test_compare_false_fields_stay_out_of_equality() -> None:
    member = SourceEvent(*ARGS)
    common = {
        "id": "e1",
        "status": Status.DELIVERED,
        "substatus": "delivered.other",
        "description": "Signed",
        "location": NOWHERE,
        "occurred_at": AT,
        "occurred_local": None,
        "utc_offset_minutes": None,
        "tz_provenance": TzProvenance.CARRIER_UTC,
        "sources": ("cainiao",),
        "numbers": ("LP1",),
    }
    fast = quick(TimelineEvent)(**common, members=(member,))
    assert fast == TimelineEvent(**common)
    assert fast.members == (member,)


def test_a_class_that_does_not_qualify_is_returned_unchanged() -> None:
    @dataclasses.dataclass(frozen=True)
    class NoSlots:
        x: int

    @dataclasses.dataclass(frozen=True, slots=True)
    class Checked:
        x: int

        def __post_init__(self) -> None:
            if self.x < 0:
                raise ValueError("negative")

    assert quick(NoSlots) is NoSlots
    assert quick(Checked) is Checked
    assert quick(SourceEvent) is not SourceEvent
