"""Registering numbers with the sources that track a number only once registered (17TRACK;
`tracker.sources.registration`), after a poll or a lookup met them unregistered."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial

from tracker.errors import SourceError
from tracker.model import Observation
from tracker.service.guard import Guard
from tracker.sources import registration
from tracker.sources.http import SourceClient

log = logging.getLogger("tracker.registering")


def register_unknown(
    client: SourceClient, guard: Guard, observations: Sequence[Observation]
) -> int:
    """Register with `client`'s source the numbers its answers say it does not track, through
    the source's quota and breaker; how many it tracks now. Without a free slot, or when the
    source fails, nothing is registered and the next poll tries again."""
    source = registration.of(client.source)
    numbers = source.unregistered(observations) if source else []
    if source is None or not numbers:
        return 0
    calls = [numbers[i : i + source.batch_size] for i in range(0, len(numbers), source.batch_size)]
    if guard.wait_time(len(calls)) > 0:
        log.info("registration deferred: no quota left now",
                 extra={"source": client.source, "numbers": len(numbers)})  # fmt: skip
        return 0
    tracked = 0
    for batch in calls:
        try:
            tracked += len(guard.call(partial(source.register, client, batch)))
        except SourceError as exc:
            log.warning("registration failed: %s", exc, extra={"source": client.source})
            break
    log.info("registered", extra={"source": client.source, "numbers": tracked})
    return tracked
