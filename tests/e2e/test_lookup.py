"""`tracker lookup` end to end: the CLI queues, a real worker answers from the simulator,
and a second lookup of the same number is served from the cache without a new fetch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from tests.e2e.conftest import parcel, scenario, service_env
from tests.e2e.harness import cluster
from tracker.sim.server import SimServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

NUMBER = "LP00000000000077"


def tracker_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    full.update(env)
    return subprocess.run(
        [sys.executable, "-m", "tracker.cli", *args],
        env=full,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def test_lookup_is_answered_by_a_worker_then_from_the_cache(
    pg: Engine, broker: str, tmp_path: Path
) -> None:
    with SimServer(scenario(parcel(NUMBER))) as sim:
        env = service_env(pg, broker, sim.env())
        with cluster(env, tmp_path) as running:
            running.worker(queues="lookups", concurrency=1, name="lookups")
            first = tracker_cli(env, "lookup", NUMBER, "--json", "--wait", "60")
            fetched = sim.requests()
            second = tracker_cli(env, "lookup", NUMBER)
            assert sim.requests() == fetched  # answered from the cache
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["tracking_number"] == NUMBER
    assert report["status"] == "delivered"
    assert {s["source"] for s in report["sources"]} >= {"cainiao", "17track"}
    assert second.returncode == 0, second.stderr
    assert second.stdout.startswith(f"{NUMBER}: delivered")
