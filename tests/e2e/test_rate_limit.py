"""The per-source quota holds across several worker processes, counted at the simulator."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from tests.e2e.conftest import START, parcel, scenario, service_env
from tests.e2e.harness import cluster, wait_for
from tracker.model import Destination, Order, Parcel
from tracker.sim.server import SimServer
from tracker.store import repo

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

LIMIT = 4  # calls per second, shared by every worker process
PARCELS = 200  # 20 Cainiao batches of 10


def test_the_quota_holds_across_worker_processes(pg: Engine, broker: str, tmp_path: Path) -> None:
    db = pg
    numbers = [f"LP{i:014d}" for i in range(1, PARCELS + 1)]
    with db.begin() as conn:
        for i, number in enumerate(numbers):
            order = Order(
                id=f"R-{i:03d}",
                destination=Destination("DE"),
                shipped_at=START,
                promised_by=(START + timedelta(days=40)).date(),
                parcels=(Parcel(number),),
            )
            repo.upsert_order(conn, order, ["cainiao"], now=datetime.now(UTC))
    env_extra = {"TRACKER_CAINIAO_RATE": f"{LIMIT}/1", "TRACKER_SOURCES": "cainiao"}
    samples: list[tuple[float, int]] = []
    with SimServer(scenario(*(parcel(n, sources=["cainiao"]) for n in numbers))) as sim:
        with cluster(service_env(db, broker, sim.env(), **env_extra), tmp_path) as running:
            running.worker(concurrency=2, name="w-a")
            running.worker(concurrency=2, name="w-b")
            running.beat()
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and sim.requests("cainiao") < PARCELS // 10:
                samples.append((time.monotonic(), sim.requests("cainiao")))
                time.sleep(0.1)
            samples.append((time.monotonic(), sim.requests("cainiao")))
            wait_for(lambda: sim.requests("cainiao") >= PARCELS // 10, 10, "every batch")
    assert samples[-1][1] >= PARCELS // 10
    worst = 0
    for i, (t, n) in enumerate(samples):
        earlier = next(m for s, m in samples[: i + 1] if s >= t - 1.0)
        worst = max(worst, n - earlier)
    assert worst <= LIMIT, f"{worst} calls reached the source within one second"
    elapsed = samples[-1][0] - samples[0][0]
    assert elapsed >= (PARCELS // 10) / LIMIT - 2  # it really was throttled, not just slow
