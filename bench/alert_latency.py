"""Alert latency: from the poll that raises an alert to its webhook arriving at the receiver
(judged by: p95 < 5 s), beside the dispatch interval.

One run: a throwaway PostgreSQL database with one endpoint, Redis db 4 flushed, the simulator
(in this process), the receiver (`bench/_receiver.py`, which verifies every signature and
notes when each order's first webhook arrived), one worker on all queues (`-c 2`, the README's
command) and a real beat (dispatch every 2 s, delivery sweep every 2 s). Orders are added one
every STAGGER seconds while it runs, so they land at every phase of the dispatch tick: most are
delivered parcels (delivery.confirmed on the first poll), every third a fake delivery
(delivery.suspect). Per order:
  poll -> webhook   = arrival at the receiver - the alert's created_at (the `now` of the poll
                      whose analysis raised it, taken after the fetch)
  added -> webhook  = arrival - the moment the order was stored (adds the wait for a tick)

Run: .venv/bin/python bench/alert_latency.py [--orders 36] [--stagger 0.4]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import _service as svc
from tests.e2e.conftest import CN, START, parcel, scenario
from tracker import webhooks
from tracker.model import Destination, Order, Parcel
from tracker.sim.server import SimServer
from tracker.store import repo
from workers.config import DISPATCH_EVERY

TARGET = 5.0
CELERY_BEAT = [svc.CELERY, "-A", "workers.app", "beat", "--loglevel", "WARNING"]


def number(i: int) -> str:
    return f"LP{i:014d}"


def sim_parcels(count: int) -> list[dict[str, object]]:
    fake = {
        "17track": [{"op": "relocate", "kind": "delivered", "location": CN}],
        "cainiao": [{"op": "drop", "kinds": ["out_for_delivery", "delivered"]}],
    }
    return [
        parcel(number(i), overrides=fake) if i % 3 == 2 else parcel(number(i)) for i in range(count)
    ]


def add(engine: sa.Engine, i: int) -> datetime:
    order = Order(
        id=f"L-{i}",
        destination=Destination("DE", "10115", "Berlin"),
        shipped_at=START,
        promised_by=(START + timedelta(days=40)).date(),
        timezone="Europe/Berlin",
        parcels=(Parcel(number(i)),),
    )
    now = datetime.now(UTC)
    with engine.begin() as conn:
        repo.upsert_order(conn, order, ["cainiao", "17track"], now=now)
    return now


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=36)
    parser.add_argument("--stagger", type=float, default=0.4)
    args = parser.parse_args()
    print(f"machine: {svc.machine()}")
    port = svc.free_port()
    base = f"http://127.0.0.1:{port}"
    secret = webhooks.generate_secret()
    redis_url = svc.flushed_redis(4)
    logs = Path(tempfile.gettempdir()) / "bench-latency"
    with (
        svc.pg_database() as engine,
        svc.processes(logs) as procs,
        SimServer(scenario(*sim_parcels(args.orders))) as sim,
    ):
        procs.start("receiver", [sys.executable, "bench/_receiver.py", str(port), secret], {})
        svc.wait_port(port)
        with engine.begin() as conn:
            repo.create_endpoint(conn, f"{base}/hook", secret, now=datetime.now(UTC))
        env = svc.service_env(engine, redis_url, None, **sim.env())
        env["TRACKER_CAINIAO_RATE"] = env["TRACKER_17TRACK_RATE"] = "200/1"
        procs.worker(env, "lookups,polls,webhooks,celery", 2)
        procs.start("beat", [*CELERY_BEAT, "-s", str(logs / "beat-schedule")], env)
        time.sleep(3)  # let worker and beat come up before the clock starts
        added = {}
        for i in range(args.orders):
            added[f"L-{i}"] = add(engine, i)
            time.sleep(args.stagger)

        def arrivals() -> dict[str, float]:
            got = requests.get(f"{base}/count", timeout=10).json()
            return got["arrivals"] if len(got["arrivals"]) >= args.orders else {}

        arrived = svc.wait_for(arrivals, 120, "a webhook for every order", 0.2)
        bad = requests.get(f"{base}/count", timeout=10).json()["bad_signatures"]
        with engine.connect() as conn:
            raised = dict(
                conn.execute(
                    sa.text("SELECT order_id, min(created_at) FROM alerts GROUP BY order_id")
                ).all()
            )
    from_poll = [arrived[o] - raised[o].timestamp() for o in added]
    from_add = [arrived[o] - added[o].timestamp() for o in added]
    for name, values in (("poll -> webhook", from_poll), ("added -> webhook", from_add)):
        print(
            f"{name:17}: p50 {statistics.median(values):.2f} s, p95 {pct(values, 0.95):.2f} s, "
            f"max {max(values):.2f} s ({len(values)} orders)"
        )
    p95 = pct(from_poll, 0.95)
    verdict = "met" if p95 < TARGET else "NOT met"
    print(
        f"alert latency: p95 {p95:.2f} s from the poll (target < {TARGET:.0f} s: {verdict}); "
        f"dispatch interval {DISPATCH_EVERY:.0f} s; bad signatures {bad}; pid {os.getpid()}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
