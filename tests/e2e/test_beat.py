"""Two beat processes started by mistake still dispatch as one (redbeat's lock), and the
dispatcher itself refuses to run twice at once (its Redis lock)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from tests.e2e.conftest import scenario, service_env
from tests.e2e.harness import cluster, wait_for
from tracker.settings import Settings
from tracker.sim.server import SimServer
from workers.config import DISPATCH_EVERY
from workers.context import Context

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

WATCH = 12.0  # seconds of schedule to count


def test_two_beats_dispatch_like_one(pg: Engine, broker: str, tmp_path: Path) -> None:
    with (
        SimServer(scenario()) as sim,
        cluster(service_env(pg, broker, sim.env()), tmp_path) as running,
    ):
        worker = running.worker(concurrency=1)
        first = running.beat()
        wait_for(lambda: "workers.tasks.dispatch" in worker.output(), 30, "a first dispatch")
        second = running.beat()
        time.sleep(2)  # the second beat has started and waits for the lock
        start = len(re.findall(r"workers\.tasks\.dispatch\[.*\] received", worker.output()))
        time.sleep(WATCH)
        end = len(re.findall(r"workers\.tasks\.dispatch\[.*\] received", worker.output()))
        assert first.popen.poll() is None
        assert second.popen.poll() is None  # alive, waiting as a standby
    ticks = end - start
    single_beat = WATCH / DISPATCH_EVERY
    assert ticks <= single_beat + 2, f"{ticks} dispatches in {WATCH}s: both beats are sending"
    assert ticks >= single_beat / 2, f"only {ticks} dispatches in {WATCH}s"


def test_the_dispatcher_runs_once_at_a_time(
    broker: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TRACKER_REDIS_URL", broker)
    monkeypatch.setenv("TRACKER_DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    import os

    ctx = Context(Settings.from_env(os.environ))
    with ctx.lock("dispatch", 30) as first, ctx.lock("dispatch", 30) as second:
        assert first is True
        assert second is False
    with ctx.lock("dispatch", 30) as again:
        assert again is True  # released on exit
