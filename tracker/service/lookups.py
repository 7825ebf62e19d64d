"""On-demand lookups: queued ahead of scheduled polls, one fetch per number however many ask.

`request_lookup` records the lookup and, unless a fresh answer is cached, queues it. The lookup
task (`answer`) takes a per-number Redis lock, looks in the cache again (another lookup of the
same number may have just fetched it), and only then fetches: a hundred concurrent lookups of one
number cost one call per source. The answer is cached for `TRACKER_LOOKUP_CACHE_SECONDS`.

Once a lookup is stored as answered, `answer` publishes its id on a Redis channel, so a
waiting reader (`await_answer`, behind GET /v1/lookups/{id}?wait) wakes at once instead of
re-reading the database on a timer; the timer stays, slower, for an answer nobody announced.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta
from typing import Any

import orjson
import redis
from sqlalchemy.engine import Engine

from tracker import numbers, pipeline, sources
from tracker.errors import SourceError, TrackerError, ValidationError
from tracker.model import SOURCE_NAMES, Observation
from tracker.service.guard import Guard
from tracker.service.queue import Queue
from tracker.service.registering import register_unknown
from tracker.settings import Settings
from tracker.sources.http import SourceClient
from tracker.store import access, evidence
from tracker.store._sql import relax_commit

log = logging.getLogger("tracker.lookups")

LOCK_SECONDS = 60.0  # longer than one source call can take with its retries
LOCK_WAIT = 45.0


def cache_key(number: str, source: str | None) -> str:
    return f"tracker:lookup:answer:{source or '*'}:{number}"


def request_lookup(
    engine: Engine,
    cache: redis.Redis,
    queue: Queue,
    number: str,
    source: str | None,
    token_id: int | None,
    now: datetime,
) -> str:
    """Record a lookup and queue it (or answer it from the cache); returns its id."""
    number = numbers.validate(number)
    if source is not None and source not in SOURCE_NAMES:
        raise ValidationError("source", f"unknown source {source!r}")
    cached = _cached(cache, cache_key(number, source))
    with engine.begin() as conn:
        lookup_id = access.create_lookup(conn, number, now=now, source=source, token_id=token_id)
        if cached is not None:
            access.finish_lookup(conn, lookup_id, now=now, report=orjson.loads(cached))
    if cached is None:
        try:
            queue.lookup(lookup_id)
        except Exception:
            with engine.begin() as conn:  # nobody will answer it: say so instead of "queued"
                access.finish_lookup(conn, lookup_id, now=now, error="could not be queued")
            raise
    return lookup_id


STALE_AFTER = timedelta(seconds=60)


def requeue_stale(engine: Engine, queue: Queue, now: datetime) -> int:
    """Queue again lookups still waiting after STALE_AFTER (a message lost with a broker that
    kept nothing); answering twice is harmless (lock, cache, and only a queued row changes)."""
    with engine.connect() as conn:
        stale = access.stale_lookups(conn, now - STALE_AFTER)
    for lookup_id in stale:
        queue.lookup(lookup_id)
    return len(stale)


def sources_for(number: str, source: str | None, settings: Settings) -> list[str]:
    """The asked source, or the enabled sources plus the best-recognised carrier."""
    if source is not None:
        return [source]
    chosen = list(settings.enabled_sources)
    for hint in numbers.recognise(number)[:1]:
        if hint.source not in chosen and hint.confidence >= 0.5:
            chosen.append(hint.source)
    return chosen


def answer(
    engine: Engine,
    cache: redis.Redis,
    lookup_id: str,
    client: Callable[[str], SourceClient],
    guard: Callable[[str], Guard],
    clock: Callable[[], datetime],
    settings: Settings,
) -> bool:
    """Answer one queued lookup; returns False if there was nothing to do."""
    # one SELECT: autocommit spares the BEGIN and the ROLLBACK round trips around it
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        row = access.get_lookup(conn, lookup_id)
    if row is None or row.status != "queued":
        return False
    number, key = row.tracking_number, cache_key(row.tracking_number, row.source)
    lock = cache.lock(f"tracker:lock:{key}", timeout=LOCK_SECONDS, blocking_timeout=LOCK_WAIT)
    with lock:
        cached = _cached(cache, key)
        if cached is None:
            asked = sources_for(number, row.source, settings)
            report, observations = _fetch_report(number, asked, client, guard, clock)
            finished = _finish(engine, lookup_id, report, observations, clock)
            cache.set(key, orjson.dumps(report), ex=max(1, settings.lookup_cache_seconds))
    if cached is not None:  # outside the lock: a crowd of lookups of one number commit apart
        finished = _finish(engine, lookup_id, orjson.loads(cached), [], clock)
    _announce(cache, lookup_id)
    return finished


def _finish(
    engine: Engine,
    lookup_id: str,
    report: dict[str, Any],
    observations: Sequence[Observation],
    clock: Callable[[], datetime],
) -> bool:
    """Store the evidence and the answer in one transaction: one commit less per lookup.

    The commit does not wait for the disk: a database crash in that fraction of a second
    leaves the lookup queued, and `requeue_stale` asks again (the answer is rebuilt by
    fetching again; nothing else depends on it)."""
    with engine.begin() as conn:
        relax_commit(conn)
        for observation in observations:
            evidence.store_observation(conn, [], observation)
        return access.finish_lookup(conn, lookup_id, now=clock(), report=report)


def done_channel(lookup_id: str) -> str:
    return f"tracker:lookup:done:{lookup_id}"


def _announce(cache: redis.Redis, lookup_id: str) -> None:
    # after the commit, so a woken reader finds the answer; a lost message costs a reader
    # only its next timed re-read
    try:
        cache.publish(done_channel(lookup_id), b"1")
    except redis.RedisError:
        log.warning("could not announce lookup %s; waiting readers re-read it later", lookup_id)


class Announcements:
    """One Redis subscription per process wakes every reader waiting for a lookup: a waiting
    GET costs no connection of its own. While Redis is away, readers wake on their timer."""

    def __init__(self, cache: redis.Redis) -> None:
        self._cache = cache
        self._lock = threading.Lock()
        self._waiting: dict[str, set[Callable[[], None]]] = {}
        self._thread: threading.Thread | None = None

    @contextmanager
    def watch(self, lookup_id: str) -> Iterator[threading.Event]:
        """An event set when `lookup_id` is announced, for as long as the block runs."""
        event = threading.Event()
        with self.notify(lookup_id, event.set):
            yield event

    @contextmanager
    def notify(self, lookup_id: str, wake: Callable[[], None]) -> Iterator[None]:
        """Call `wake()` (from the listener's thread) when `lookup_id` is announced, for as
        long as the block runs; `wake` must be quick and must not raise."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="lookups", daemon=True)
                self._thread.start()
            self._waiting.setdefault(lookup_id, set()).add(wake)
        try:
            yield
        finally:
            with self._lock:
                wakers = self._waiting.get(lookup_id, set())
                wakers.discard(wake)
                if not wakers:
                    self._waiting.pop(lookup_id, None)

    def _run(self) -> None:
        while True:
            try:
                self._listen()
            except Exception:  # Redis away, or anything else: never let the listener die
                level = logging.WARNING if self._waiting else logging.DEBUG  # harmless if idle
                log.log(level, "lookup announcements lost; readers wait on their timer")
                time.sleep(RESUBSCRIBE_AFTER)
            if self._stop_if_unwatched():
                return

    def _stop_if_unwatched(self) -> bool:
        # under the lock that watch() starts us under: a new reader starts a new listener
        with self._lock:
            if self._waiting:
                return False
            self._thread = None
            return True

    def _listen(self) -> None:
        """Wake readers until nobody has watched for IDLE_AFTER seconds."""
        pubsub = self._cache.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
        with pubsub:
            pubsub.psubscribe(done_channel("*"))
            last_watched = time.monotonic()
            while time.monotonic() - last_watched < IDLE_AFTER:
                # a short read timeout: the client's socket timeout would end an idle listen
                message = pubsub.get_message(timeout=1.0)
                if message is not None:
                    self._wake(message["channel"])
                if self._waiting:
                    last_watched = time.monotonic()

    def _wake(self, channel: bytes | str) -> None:
        name = channel.decode() if isinstance(channel, bytes) else channel
        with self._lock:
            for wake in self._waiting.get(name.removeprefix(done_channel("")), ()):
                wake()


RESUBSCRIBE_AFTER = 1.0
IDLE_AFTER = 30.0  # an API nobody waits on keeps no subscription open


def await_answer(
    announcements: Announcements,
    lookup_id: str,
    read: Callable[[], access.LookupRow | None],
    deadline: float,
    every: float,
) -> access.LookupRow | None:
    """`read()` until the lookup is no longer queued or time.monotonic() passes `deadline`:
    woken by `answer`'s announcement, and re-reading at least every `every` seconds."""
    if time.monotonic() >= deadline:
        return read()
    with announcements.watch(lookup_id) as answered:
        row = read()  # after watching: an answer stored later is announced to us
        while row is not None and row.status == "queued":
            left = deadline - time.monotonic()
            if left <= 0:
                break
            answered.wait(min(every, left))
            answered.clear()
            row = read()
    return row


async def await_answer_async(
    announcements: Announcements,
    lookup_id: str,
    read: Callable[[], Awaitable[access.LookupRow | None]],
    deadline: float,
    every: float,
) -> access.LookupRow | None:
    """`await_answer` for an event loop: the wait holds no thread (an API thread pool of 40
    would otherwise be used up by 40 waiting GETs), only each `read()` may take one."""
    if time.monotonic() >= deadline:
        return await read()
    loop = asyncio.get_running_loop()
    answered = asyncio.Event()

    def wake() -> None:  # from the listener's thread: asyncio.Event is not thread-safe
        loop.call_soon_threadsafe(answered.set)

    with announcements.notify(lookup_id, wake):
        row = await read()  # after watching: an answer stored later is announced to us
        while row is not None and row.status == "queued":
            left = deadline - time.monotonic()
            if left <= 0:
                break
            with suppress(TimeoutError):
                await asyncio.wait_for(answered.wait(), min(every, left))
            answered.clear()
            row = await read()
    return row


def _cached(cache: redis.Redis, key: str) -> bytes | None:
    value = cache.get(key)
    return value if isinstance(value, bytes) else None


def _fetcher(client: SourceClient, number: str) -> Callable[[], list[Observation]]:
    def fetch() -> list[Observation]:
        return sources.module(client.source).fetch(client, [number])

    return fetch


def _fetch_report(
    number: str,
    asked: Sequence[str],
    client: Callable[[str], SourceClient],
    guard: Callable[[str], Guard],
    clock: Callable[[], datetime],
) -> tuple[dict[str, Any], list[Observation]]:
    observations: list[Observation] = []
    failures: list[dict[str, str]] = []
    for source in asked:
        try:
            fetched = guard(source).call(_fetcher(client(source), number))
        except SourceError as exc:
            failures.append({"source": source, "message": str(exc)})
            continue
        observations.extend(fetched)
        if register_unknown(client(source), guard(source), fetched):
            note = f"{source} did not track this number yet: registered now, answers in minutes"
            failures.append({"source": source, "message": note})
    report = pipeline.lookup_report(number, observations, clock())
    report["warnings"] = [*report["warnings"], *failures]
    report["asked"] = list(asked)
    return report, observations


def wait_for(
    engine: Engine, lookup_id: str, timeout: float, clock: Callable[[], float] | None = None
) -> access.LookupRow:
    """The lookup once answered (done or failed); LookupTimeout if no worker answered."""
    monotonic = clock or time.monotonic
    deadline = monotonic() + timeout
    while True:
        with engine.connect() as conn:
            row = access.get_lookup(conn, lookup_id)
        if row is not None and row.status != "queued":
            return row
        if monotonic() >= deadline:
            raise LookupTimeout(lookup_id, timeout)
        time.sleep(0.1)


class LookupTimeout(TrackerError):
    def __init__(self, lookup_id: str, timeout: float) -> None:
        self.lookup_id = lookup_id
        super().__init__(
            f"lookup {lookup_id} was not answered within {timeout:g}s: is a worker running? "
            "(start one with `tracker serve` or `celery -A workers.app worker`)"
        )
