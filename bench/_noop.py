"""An empty task for the efficiency baselines: loaded into bench workers with
`--include bench._noop`; the same app, broker and acks_late settings as the real tasks. It only
counts itself in Redis so the benchmark knows when all have run."""

from __future__ import annotations

import os

import redis

from workers.app import app
from workers.tasks import TrackerTask

_client: redis.Redis | None = None


@app.task(base=TrackerTask, name="bench.noop")
def noop() -> None:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(os.environ["TRACKER_REDIS_URL"])
    _client.incr("bench:noop")
