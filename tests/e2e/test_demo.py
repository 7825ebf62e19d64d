"""`make demo`'s flow end to end: simulator, receiver, webhook registration, order import and
`tracker serve`, through scripts/demo.py itself. A newcomer must see verified overdue and
suspect alerts within a minute or so."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
import redis

from tests import redis_server

ROOT = Path(__file__).resolve().parents[2]
DEMO_REDIS_URL = redis_server.url(7)
DURATION = 75  # seconds the service runs: the promise is "within a minute"

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_the_demo_delivers_verified_overdue_and_suspect_alerts(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    env["DEMO_REDIS_URL"] = DEMO_REDIS_URL
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "demo.py"),
            "--duration",
            str(DURATION),
            "--workdir",
            str(tmp_path),
            *("--sim-port", "0", "--receiver-port", "0", "--api-port", "0"),
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=DURATION + 120,
    )
    redis.Redis.from_url(DEMO_REDIS_URL).flushdb()
    assert done.returncode == 0, done.stderr + done.stdout[-3000:]
    record = tmp_path / "alerts.jsonl"
    got = [orjson.loads(line) for line in record.read_bytes().splitlines()]
    assert got, "no webhook reached the receiver"
    assert all(entry["verified"] for entry in got)
    types = {entry["type"] for entry in got}
    assert {"order.overdue", "delivery.suspect"} <= types, types
    # the receiver printed each one, verified, on the demo's terminal
    assert "✔ verified  order.overdue  " in done.stdout
    assert "✔ verified  delivery.suspect  " in done.stdout
    assert "✘ rejected" not in done.stdout
