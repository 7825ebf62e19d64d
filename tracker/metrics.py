"""Prometheus metrics, defined once here; the workers increment them, the API exposes them.

Queue depths are not counted as they change: they are read from Redis (the length of each
Celery queue's list) when `/metrics` is scraped, so they are right whichever process enqueued.
Labels carry source names, outcomes and alert types only: never numbers, ids or URLs, so the
series stay few and nothing secret reaches a scrape.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry(auto_describe=True)

POLLS = Counter(
    "tracker_polls",
    "Source polls (one per batch), by source and outcome",
    ["source", "outcome"],
    registry=REGISTRY,
)
RATE_LIMIT_WAITS = Counter(
    "tracker_rate_limit_waits",
    "Times a poll or lookup waited for a source's shared quota",
    ["source"],
    registry=REGISTRY,
)
RATE_LIMIT_WAIT_SECONDS = Counter(
    "tracker_rate_limit_wait_seconds",
    "Seconds spent waiting for a source's shared quota",
    ["source"],
    registry=REGISTRY,
)
CIRCUIT_STATE = Gauge(
    "tracker_circuit_state",
    "A source's circuit breaker: 0 closed, 1 half-open, 2 open",
    ["source"],
    registry=REGISTRY,
)
ALERTS = Counter(
    "tracker_alerts",
    "Alerts raised, by type",
    ["type"],
    registry=REGISTRY,
)
DEAD_LETTERS = Counter(
    "tracker_dead_letters",
    "Task messages no longer run because they kept killing their worker, by task",
    ["task"],
    registry=REGISTRY,
)
WEBHOOK_EXHAUSTED = Counter(
    "tracker_webhook_exhausted",
    "Webhook deliveries that failed on every attempt of the schedule (message.attempt.exhausted)",
    registry=REGISTRY,
)
WEBHOOK_ENDPOINTS_DISABLED = Counter(
    "tracker_webhook_endpoints_disabled",
    "Webhook endpoints disabled (410 Gone, or every attempt failing for days)",
    registry=REGISTRY,
)
WEBHOOK_DELIVERIES = Counter(
    "tracker_webhook_deliveries",
    "Webhook delivery attempts, by result (succeeded, retry, failed, disabled)",
    ["result"],
    registry=REGISTRY,
)
WEBHOOK_FAILURES = Counter(
    "tracker_webhook_failures",
    "Webhook attempts that failed, by reason (status class, timeout, connection)",
    ["reason"],
    registry=REGISTRY,
)
WEBHOOK_LATENCY = Histogram(
    "tracker_webhook_latency_seconds",
    "Time from sending a webhook to its response",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30),
    registry=REGISTRY,
)
LOOKUPS = Counter(
    "tracker_lookups",
    "On-demand lookups requested through the API",
    registry=REGISTRY,
)
INBOUND = Counter(
    "tracker_inbound_pushes",
    "Pushes received from sources, by source and result",
    ["source", "result"],
    registry=REGISTRY,
)

CIRCUIT_STATES: dict[str, int] = {"closed": 0, "half-open": 1, "half_open": 1, "open": 2}


def set_circuit(source: str, state: str) -> None:
    """Record a breaker's state by name (pybreaker's names; unknown names count as open)."""
    CIRCUIT_STATE.labels(source=source).set(CIRCUIT_STATES.get(state, 2))


class QueueDepths(Collector):
    """`tracker_queue_depth{queue=...}` read from Redis at scrape time.

    Celery's Redis transport keeps each queue as a list named after it (priority steps add
    suffixed lists, counted too). A Redis that cannot be reached yields no samples rather than
    failing the scrape: /healthz is where that is reported.
    """

    def __init__(self, client: Any, queues: Sequence[str]) -> None:
        self.client = client
        self.queues = tuple(queues)

    def describe(self) -> Iterable[Any]:
        return [
            GaugeMetricFamily("tracker_queue_depth", "Messages waiting, by queue", labels=["queue"])
        ]

    def collect(self) -> Iterator[Any]:
        family = GaugeMetricFamily(
            "tracker_queue_depth", "Messages waiting, by queue", labels=["queue"]
        )
        try:
            depths = {q: self._depth(q) for q in self.queues}
        except Exception:
            depths = {}
        for queue, depth in depths.items():
            family.add_metric([queue], depth)
        yield family

    def _depth(self, queue: str) -> int:
        names = [queue, *(f"{queue}\x06\x16{p}" for p in range(1, 10))]
        return sum(int(self.client.llen(name)) for name in names)


# ----------------------------------------------------------------------------- processes
# Added for `tracker serve` and the workers (observability helper).
#
# Several processes count: the API and each Celery pool child. prometheus_client's multiprocess
# mode lets one `/metrics` answer for all of them: each process writes its samples to files in
# PROMETHEUS_MULTIPROC_DIR and a scrape sums them (whatever registry a metric was declared in).
# `tracker serve` creates that directory, fresh at each start, and hands it to its children, so
# the API's `/metrics` covers the worker too. Run as separate services (docker compose), give
# api and worker the same directory on a shared volume; without the variable each process
# counts in its own memory and `/metrics` shows the API's own samples only. The variable is read
# when prometheus_client is imported: it must be in a process's environment before it starts.

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
BREAKER_STATE_KEY = "tracker:breaker:{source}:pybreaker:state"  # workers.guards' storage
_CIRCUIT_OPEN = {b"open": 1.0, b"half-open": 0.5, "open": 1.0, "half-open": 0.5}

POLL_SECONDS = Histogram(
    "tracker_poll_seconds",
    "Time to poll one batch of a source, quota waits included",
    ["source"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
    registry=REGISTRY,
)


class CircuitsOpen(Collector):
    """`tracker_circuit_open{source}` read at scrape time from the breakers' shared state in
    Redis (1 open, 0.5 half-open, 0 closed): right for every worker, and after restarts,
    without any process having to report it."""

    def __init__(self, client: Any, sources: Sequence[str]) -> None:
        self.client = client
        self.sources = tuple(sources)

    def describe(self) -> Iterable[Any]:
        return [self._family()]

    def collect(self) -> Iterator[Any]:
        family = self._family()
        try:
            states = [self.client.get(BREAKER_STATE_KEY.format(source=s)) for s in self.sources]
        except Exception:  # a scrape must not fail because Redis is down
            states = []
        for source, state in zip(self.sources, states, strict=False):
            family.add_metric([source], _CIRCUIT_OPEN.get(state, 0.0))
        yield family

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "tracker_circuit_open",
            "1 while a source's circuit breaker is open (0.5 half-open)",
            labels=["source"],
        )


QUEUES = ("lookups", "polls", "webhooks", "celery")


def scrape_registry(client: Any | None) -> CollectorRegistry:
    """What `/metrics` shows: every process's samples in multiprocess mode, else this
    process's REGISTRY; plus queue depths and circuits from Redis when a client is given."""
    import os

    from prometheus_client import multiprocess

    from tracker.model import SOURCE_NAMES

    if os.environ.get(MULTIPROC_ENV):
        scrape = CollectorRegistry()
        multiprocess.MultiProcessCollector(scrape)  # type: ignore[no-untyped-call]
    else:
        scrape = CollectorRegistry()
        scrape.register(_Own())
    if client is not None:
        scrape.register(QueueDepths(client, QUEUES))
        scrape.register(CircuitsOpen(client, SOURCE_NAMES))
    return scrape


class _Own(Collector):
    """This process's REGISTRY, re-exposed beside the Redis collectors."""

    def collect(self) -> Iterable[Any]:
        return REGISTRY.collect()


def render(client: Any | None) -> tuple[bytes, str]:
    """The body and content type of a `/metrics` answer."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return generate_latest(scrape_registry(client)), CONTENT_TYPE_LATEST


def process_exited(pid: int) -> None:
    """Tell multiprocess mode a process is gone (its live gauges stop counting)."""
    import os

    from prometheus_client import multiprocess

    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def poll_done(source: str, outcome: str, seconds: float) -> None:
    POLLS.labels(source=source, outcome=outcome).inc()
    POLL_SECONDS.labels(source=source).observe(seconds)


def webhook_attempted(result: str, seconds: float) -> None:
    WEBHOOK_DELIVERIES.labels(result=result).inc()
    WEBHOOK_LATENCY.observe(seconds)
