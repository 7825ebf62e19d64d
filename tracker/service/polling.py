"""Scheduled polling: claim what is due, fetch a batch, and store what it means.

`dispatch` leases due parcels and hands one batch per source to the queue. `poll` fetches one
batch inside the source's shared quota and breaker, stores the raw answer, and has every order
it touches re-analysed (`reanalysis`): events, verdict, report, next poll time, and new alerts
with their webhook deliveries go in ONE transaction (the outbox). A source answering with the
very answers the parcels were last answered with is not even parsed, judged parcel by parcel
(`repoll`: a batch answer is compared number by number where its source can cut it).
`sweep_deadlines` re-judges, without fetching, orders whose time-driven alerts (overdue,
deadline near, stalled) may have fallen due while nothing moved.
"""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy.engine import Connection, Engine

from tracker import metrics, sources
from tracker.errors import SourceError, UnparseableResponse
from tracker.model import Observation, ParseResult, ParseWarning
from tracker.service import reanalysis, repoll, scheduling
from tracker.service.guard import Guard
from tracker.service.poll_writes import PollWrites, Written
from tracker.service.reanalysis import reanalyse_orders
from tracker.service.registering import register_unknown
from tracker.settings import Settings
from tracker.sources.base import RateLimit, SourceSpec
from tracker.sources.http import SourceClient
from tracker.store import evidence, polling
from tracker.store.orders import ParcelRow, claim_due_parcels, set_next_poll

log = logging.getLogger("tracker.polling")

DISPATCH_LIMIT = 5000
# A poll task asks a source for about this many numbers: several calls of a source whose
# batches are smaller (Cainiao: 10 a call) when its quota allows them at once, so that a
# task's fixed cost (the queue, the read before the fetch, the commit) is shared by more
# parcels. At most MAX_CALLS_PER_TASK calls: one failing call reschedules the whole task.
TASK_NUMBERS = 40
MAX_CALLS_PER_TASK = 4
POLL_LEASE = timedelta(minutes=5)  # a claimed parcel comes back if its worker never reports
CHECK_LIMIT = 1000

Enqueue = Callable[[int, int], None]  # (delivery_id, attempts) -> the deliver task


@dataclass
class PollOutcome:
    source: str
    parcels: int
    outcome: str
    observations: int = 0
    new_events: int = 0
    new_alerts: int = 0
    deliveries: list[tuple[int, int]] = field(default_factory=list)
    repeated: bool = False  # nothing was parsed: every parcel was answered as last time
    unchanged: int = 0  # parcels answered as last time (re-stamped, not parsed)
    failed: int = 0  # parcels rescheduled as failed (a call of the task failed)
    registered: int = 0  # numbers registered with the source after this poll met them

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "parcels": self.parcels,
            "outcome": self.outcome,
            "observations": self.observations,
            "new_events": self.new_events,
            "new_alerts": self.new_alerts,
            "repeated": self.repeated,
            "unchanged": self.unchanged,
            "failed": self.failed,
            "registered": self.registered,
        }

    def took(self, written: Written) -> None:
        self.new_events, self.new_alerts = written.new_events, len(written.alert_types)
        self.deliveries = written.deliveries


# ----------------------------------------------------------------------------- dispatch


def calls_per_task(spec: SourceSpec, quota: Sequence[RateLimit]) -> int:
    """How many calls of a source one poll task makes (see TASK_NUMBERS): never more than the
    smallest window of its quota holds, so a task's calls can always be granted together."""
    fits = min(limit.calls for limit in quota)
    return max(1, min(MAX_CALLS_PER_TASK, TASK_NUMBERS // spec.batch_size, fits))


def task_size(source: str, settings: Settings) -> int:
    """How many numbers one poll task of `source` asks for."""
    spec = sources.spec(source)
    quota = settings.rate_limits.get(source, spec.quota)
    return spec.batch_size * calls_per_task(spec, quota)


def plan(
    parcels: Iterable[ParcelRow], task_numbers: Callable[[str], int]
) -> list[tuple[str, list[int]]]:
    """Group due parcels by source and cut each group into tasks of at most the source's
    task size in numbers (`task_size`; a parcel with a second number counts twice)."""
    by_source: dict[str, list[ParcelRow]] = defaultdict(list)
    for parcel in parcels:
        for source in parcel.sources:
            by_source[source].append(parcel)
    batches: list[tuple[str, list[int]]] = []
    for source in sorted(by_source):
        limit, used = task_numbers(source), 0
        current: list[int] = []
        for parcel in by_source[source]:
            size = 1 + len(parcel.other_numbers)
            if current and used + size > limit:
                batches.append((source, current))
                current, used = [], 0
            current.append(parcel.id)
            used += size
        if current:
            batches.append((source, current))
    return batches


def dispatch(
    engine: Engine,
    now: datetime,
    settings: Settings,
    enqueue: Callable[[str, list[int]], None],
    limit: int = DISPATCH_LIMIT,
) -> int:
    """Lease due parcels and enqueue one poll per source batch; returns how many parcels."""
    with engine.begin() as conn:
        due = claim_due_parcels(conn, now, limit, lease=POLL_LEASE)
    for source, ids in plan(due, lambda name: task_size(name, settings)):
        enqueue(source, ids)
    return len(due)


# ----------------------------------------------------------------------------- poll


def poll(
    engine: Engine,
    client: SourceClient,
    guard: Guard,
    parcel_ids: Sequence[int],
    clock: Callable[[], datetime],
    settings: Settings,
    enqueue: Enqueue,
) -> PollOutcome:
    source = client.source
    # one SELECT: autocommit spares the BEGIN and the ROLLBACK round trips around it
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        targets = polling.poll_targets(conn, parcel_ids, source)
    targets = [t for t in targets if source in t.parcel.sources]
    rows = [t.parcel for t in targets]
    outcome = PollOutcome(source, len(rows), "ok")
    if not rows:
        return outcome
    numbers = list(dict.fromkeys(n for r in rows for n in (r.tracking_number, *r.other_numbers)))
    batch = sources.spec(source).batch_size
    calls = [numbers[i : i + batch] for i in range(0, len(numbers), batch)]
    wait = guard.wait_time(len(calls))  # one slot of the quota per call
    if wait > 0:
        metrics.RATE_LIMIT_WAITS.labels(source=source).inc()
        _reschedule(engine, rows, clock() + timedelta(seconds=wait) * random.uniform(1, 1.5))
        outcome.outcome = "rate_limited"
        return outcome
    observations, failure, asked = _fetch(client, guard, calls)
    if failure is not None:
        # the answers of the calls before the one that failed are kept; the parcels not
        # fully answered are rescheduled as failed
        done = [t for t in targets if {t.parcel.tracking_number, *t.parcel.other_numbers} <= asked]
        failed = [t.parcel for t in targets if t not in done]
        _failed(engine, failed, clock(), failure, outcome)
        if not done:
            outcome.registered = register_unknown(client, guard, observations)
            return outcome
        targets = done
    outcome.observations = len(observations)
    written = _store(engine, targets, observations, clock, settings, outcome)
    written.count_alerts()
    outcome.took(written)
    for delivery_id, attempts in outcome.deliveries:
        enqueue(delivery_id, attempts)
    # last: the answers are stored and the alerts on their way; registering can wait for the
    # next poll, they cannot
    outcome.registered = register_unknown(client, guard, observations)
    return outcome


def _fetch(
    client: SourceClient, guard: Guard, calls: Sequence[Sequence[str]]
) -> tuple[list[Observation], SourceError | None, set[str]]:
    """Make the task's calls in turn, each through the source's breaker; stop at the first
    that fails (an outage would fail the next ones too). Returns the answers, the failure
    (or None) and the numbers the answers were asked for."""
    fetch = sources.module(client.source).fetch
    observations: list[Observation] = []
    asked: set[str] = set()
    for numbers in calls:
        try:
            observations += guard.call(partial(fetch, client, numbers))
        except SourceError as exc:
            return observations, exc, asked
        asked.update(numbers)
    return observations, None, asked


def _store(
    engine: Engine,
    targets: Sequence[polling.PollTarget],
    observations: Sequence[Observation],
    clock: Callable[[], datetime],
    settings: Settings,
    outcome: PollOutcome,
) -> Written:
    """Store the answers and what they mean, in one transaction. A parcel answered with
    exactly what it was last answered with (its part of a batch answer, `repoll`), the quiet
    single parcel of its order, is re-stamped and rescheduled unparsed: its events and
    answers are stored already. The others' parts are parsed and their orders re-analysed."""
    source = outcome.source
    rows = [t.parcel for t in targets]
    cut = [sources.sections(o) for o in observations]
    digests = repoll.answer_digests(rows, observations, cut)
    fetched = repoll.fetched_times(rows, observations)
    same = repoll.unchanged(targets, digests, source) & fetched.keys()
    moved = [r for r in rows if r.id not in same]
    outcome.unchanged = len(same)
    writes = PollWrites()
    with engine.begin() as conn:
        now = clock()
        if same:
            quiet = [t for t in targets if t.parcel.id in same]
            reanalysis.repeat(writes, quiet, fetched, source, now, settings.policies)
        if not moved:
            outcome.repeated = True
            return writes.flush(conn, now)
        ids = {r.id for r in moved}
        parsed = _parse(repoll.to_parse(rows, ids, observations, cut))
        _store_observations(conn, rows, observations, ids)
        return reanalyse_orders(
            conn,
            {r.order_id for r in moved},
            now,
            settings,
            parsed=parsed,
            polled=ids,
            source=source,
            bodies={i: digests[i] for i in ids if i in digests},
            writes=writes,
            targets=targets,
        )


def _parse(observations: Sequence[Observation]) -> list[tuple[Observation, ParseResult]]:
    parsed = []
    for observation in observations:
        try:
            parsed.append((observation, sources.parse(observation)))
        except UnparseableResponse as exc:
            warning = ParseWarning(observation.source, str(exc))
            parsed.append((observation, ParseResult(warnings=(warning,))))
    return parsed


def _store_observations(
    conn: Connection,
    rows: Sequence[ParcelRow],
    observations: Sequence[Observation],
    moved: Collection[int],
) -> None:
    """Store each answer about a `moved` parcel whole (it is the evidence), linked to the
    moved parcels it covers. The parcels it answers exactly as before are not linked to it:
    they keep the answer that told it first, as when a whole answer repeats (`repoll`), so
    the evidence of a parcel is the answers that said something new about it."""
    items = []
    for observation in observations:
        about = [i for i in repoll.covered(rows, observation) if i in moved]
        if about:
            items.append((observation, about, observation.sha256))
    evidence.store_observations(conn, items)


def _failed(
    engine: Engine, rows: Sequence[ParcelRow], now: datetime, exc: SourceError, outcome: PollOutcome
) -> PollOutcome:
    with engine.begin() as conn:
        for row in rows:
            wait = scheduling.failure_wait(row, exc)
            set_next_poll(conn, row.id, now + wait * random.uniform(1, 1.2), failed=True)
    outcome.outcome = type(exc).__name__
    outcome.failed = len(rows)
    log.warning(
        "poll failed", extra={"source": outcome.source, "error": str(exc), "parcels": len(rows)}
    )
    return outcome


def _reschedule(engine: Engine, rows: Sequence[ParcelRow], when: datetime) -> None:
    with engine.begin() as conn:
        for row in rows:
            set_next_poll(conn, row.id, when)


# ----------------------------------------------------------------------------- deadlines


def sweep_deadlines(
    engine: Engine, now: datetime, settings: Settings, enqueue: Enqueue, limit: int = CHECK_LIMIT
) -> int:
    """Re-judge orders whose time-driven alerts may be due; returns how many orders."""
    with engine.begin() as conn:
        due = polling.claim_due_checks(conn, now, limit)
        if not due:
            return 0
        written = reanalyse_orders(conn, set(due), now, settings)
    written.count_alerts()
    for delivery_id, attempts in written.deliveries:
        enqueue(delivery_id, attempts)
    return len(due)


# ----------------------------------------------------------------------------- pushes


def ingest(
    engine: Engine, observation: Observation, now: datetime, settings: Settings, enqueue: Enqueue
) -> tuple[int, int]:
    """A verified push (17TRACK, AfterShip) handled like the answer to a poll: stored as
    evidence, linked to the parcels it names, and every order it touches re-analysed in the
    same transaction, so its alerts go out now, not at the next poll. Returns (observation id,
    parcels).

    A push is processed once (reliability.md SEC-10): neither source signs a delivery id or a
    timestamp, so its body is its id. The very body received before (the source retrying a
    push whose answer it missed, or a captured push replayed later) changes nothing for the
    parcels it was linked to: an older state replayed after a newer one would otherwise
    replace the source's newer answers. Only parcels carrying its number since (an order
    added after it came) are linked and analysed."""
    parsed = _parse([observation])
    written = Written()
    with engine.begin() as conn:
        rows = polling.parcels_with_numbers(conn, observation.numbers)
        digest = observation.sha256
        seen = evidence.stored_links(conn, observation.source, digest)
        if seen is not None:  # received before: only parcels added since take it in
            fresh = [r for r in rows if r.id not in seen[1]]
            log.info(
                "push received before",
                extra={
                    "source": observation.source,
                    "observation_id": seen[0],
                    "new_parcels": len(fresh),
                },
            )
        else:
            fresh = rows
        ids = [r.id for r in fresh]
        observation_id = evidence.store_observation(conn, ids, observation, sha256=digest)
        if fresh:
            written = reanalyse_orders(
                conn,
                {r.order_id for r in fresh},
                now,
                settings,
                parsed=parsed,
                source=observation.source,
                bodies=dict.fromkeys(ids, digest),
            )
    written.count_alerts()
    for delivery_id, attempts in written.deliveries:
        enqueue(delivery_id, attempts)
    return observation_id, len(rows)
