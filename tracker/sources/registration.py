"""Sources that track a number only once it is registered with them.

17TRACK answers `gettrackinfo` for an unregistered number with `-18019902` ("does not
register, please register first") and keeps doing so until `register` is called for it (one
quota unit per number). AfterShip lists only the numbers a tracking was created for (`POST
trackings`, one call each). The poller registers such numbers right after the poll that met them,
through the source's quota and breaker; the next poll finds them tracked (17TRACK needs minutes
before the first answer: they are `pending` meanwhile).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from tracker.model import Observation
from tracker.sources import aftership, seventeentrack
from tracker.sources.http import SourceClient


@dataclass(frozen=True, slots=True)
class Registration:
    unregistered: Callable[[Sequence[Observation]], list[str]]  # numbers met unregistered
    register: Callable[[SourceClient, Sequence[str]], list[str]]  # -> the numbers now tracked
    batch_size: int  # numbers per register call


REGISTRATIONS: Mapping[str, Registration] = {
    "17track": Registration(
        seventeentrack.unregistered, seventeentrack.register, seventeentrack.SPEC.batch_size
    ),
    "aftership": Registration(aftership.unregistered, aftership.register, 1),
}


def of(source: str) -> Registration | None:
    return REGISTRATIONS.get(source)
