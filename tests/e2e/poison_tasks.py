"""Tasks for the poison-message test only (a worker started with `-I tests.e2e.poison_tasks`):
one that kills the process running it, as a native crash or the OOM killer would, and one
that proves the worker still takes work. Each counts its runs in Redis."""

from __future__ import annotations

import os
import signal

import redis

from workers.app import app
from workers.tasks import TrackerTask


def _runs(key: str) -> int:
    return int(redis.Redis.from_url(os.environ["TRACKER_REDIS_URL"]).incr(key))


@app.task(base=TrackerTask, name="tests.e2e.poison_tasks.crash")
def crash(key: str) -> None:
    _runs(key)
    os.kill(os.getpid(), signal.SIGKILL)


@app.task(base=TrackerTask, name="tests.e2e.poison_tasks.ping")
def ping(key: str) -> int:
    return _runs(key)
