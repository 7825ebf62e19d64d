"""Webhook deliveries per second through real worker processes to a local receiver (judged by:
>= 500/s), beside the receiver's own capacity measured in the same run.

One run: a throwaway PostgreSQL database holding one endpoint (the receiver, loopback allowed
by TRACKER_WEBHOOK_ALLOW_PRIVATE) and N alerts with their pending deliveries (written by the
outbox code), Redis db 6 flushed, the receiver (`bench/_receiver.py`: asyncio, keep-alive, it
checks every signature) and one worker `-Q webhooks -c C` as processes. Then:
  1. receiver capacity: N POSTs of a stored payload from one plain keep-alive client loop here;
  2. empty tasks: N no-op tasks on the webhooks queue of the same worker (for scale);
  3. batched (judged): N pending deliveries handed on by the delivery sweep as the beat runs
     it (`deliveries.sweep` every 2 s, `deliver_batch` tasks of up to --batch deliveries of
     one endpoint); the rate is N over the time from the first sweep to the receiver counting
     N (every delivery signed, recorded, succeeded);
  4. single: N more `deliver` tasks enqueued at once (the direct path after a poll).

Run: .venv/bin/python bench/webhook_throughput.py [--count 5000] [--concurrency 4] [--batch 20]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import redis
import requests
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import _service as svc
from tracker import webhooks
from tracker.model import Alert, AlertType
from tracker.store import endpoints, outbox

TARGET = 500.0
SWEEP_EVERY = 2.0  # workers.config.DELIVERY_SWEEP_EVERY


def seed(engine: sa.Engine, url: str, secret: str) -> None:
    now = svc.utcnow()
    order = {
        "id": "W-1",
        "marketplace": "aliexpress",
        "tracking_numbers": ["LP00000000000001CN"],
        "destination": {"country": "DE", "postal_code": "10115", "city": "Berlin"},
        "timezone": "Europe/Berlin",
        "shipped_at": "2026-11-01T00:00:00Z",
        "promised_by": "2026-12-20",
    }
    svc.seed_orders(engine, [order], ["cainiao"], None, now)
    with engine.begin() as conn:
        endpoints.create_endpoint(conn, url, secret, now=now)


def pending(engine: sa.Engine, prefix: str, count: int) -> list[int]:
    """`count` alerts with their pending deliveries, written by the outbox code."""
    now = svc.utcnow()
    alerts = [
        Alert(AlertType.ORDER_OVERDUE, f"{prefix}:{i}", "W-1", {"promised_end": "2026-12-21"})
        for i in range(count)
    ]
    with engine.begin() as conn:
        ids = outbox.insert_alerts(conn, alerts, now=now)
        return outbox.create_deliveries_many(conn, ids, now=now)


def receiver_count(base: str) -> dict[str, float]:
    return requests.get(f"{base}/count", timeout=10).json()  # type: ignore[no-any-return]


def capacity(url: str, payload: bytes, secret: str, count: int) -> float:
    session = requests.Session()
    headers = webhooks.headers(secret, "msg_capacity", int(time.time()), payload)
    started = time.perf_counter()
    for _ in range(count):
        session.post(url, data=payload, headers=headers, timeout=10).raise_for_status()
    return count / (time.perf_counter() - started)


def run_batched(engine: sa.Engine, app: object, base: str, ids: list[int], batch: int) -> float:
    """The sweep as the beat runs it, every 2 s, until the receiver has counted every id."""
    from tracker.service import deliveries

    def enqueue(items: list[tuple[int, int]]) -> None:
        app.send_task("workers.tasks.deliver_batch", (items,), queue="webhooks")  # type: ignore[attr-defined]

    target = receiver_count(base)["total"] + len(ids)
    started = time.perf_counter()
    next_sweep = 0.0
    while receiver_count(base)["total"] < target:
        if time.perf_counter() >= next_sweep:
            deliveries.sweep(engine, svc.utcnow(), enqueue, batch_size=batch)
            next_sweep = time.perf_counter() + SWEEP_EVERY
        if time.perf_counter() - started > 900:
            raise SystemExit("batched deliveries: not all arrived after 15 min")
        time.sleep(0.05)
    rate = len(ids) / (time.perf_counter() - started)
    print(f"batched: {len(ids)} deliveries = {rate:.0f}/s (sweep every {SWEEP_EVERY:.0f} s)")
    return rate


def run_single(engine: sa.Engine, app: object, base: str, ids: list[int]) -> float:
    """One `deliver` task per delivery, enqueued at once (the path right after a poll)."""
    target = receiver_count(base)["total"] + len(ids)
    started = time.perf_counter()
    for delivery_id in ids:
        app.send_task("workers.tasks.deliver", (delivery_id, 0), queue="webhooks")  # type: ignore[attr-defined]
    svc.wait_for(lambda: receiver_count(base)["total"] >= target, 900, "deliveries", 0.05)
    rate = len(ids) / (time.perf_counter() - started)
    print(f"single: {len(ids)} deliver tasks = {rate:.0f}/s")
    return rate


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--batch", type=int, default=20)
    args = parser.parse_args()
    print(f"machine: {svc.machine()}")
    port = svc.free_port()
    base = f"http://127.0.0.1:{port}"
    secret = webhooks.generate_secret()
    redis_url = svc.flushed_redis(6)
    client = redis.Redis.from_url(redis_url)
    logs = Path(tempfile.gettempdir()) / "bench-webhook"
    with svc.pg_database() as engine, svc.processes(logs) as procs:
        procs.start("receiver", [sys.executable, "bench/_receiver.py", str(port), secret], {})
        svc.wait_port(port)
        seed(engine, f"{base}/hook", secret)
        batched_ids = pending(engine, "batched", args.count)
        with engine.connect() as conn:
            payload = outbox.get_delivery(conn, batched_ids[0]).payload.encode()  # type: ignore[union-attr]
        own = capacity(f"{base}/hook", payload, secret, args.count)
        print(f"receiver capacity: {own:.0f} POST/s (one keep-alive client loop, {len(payload)} B)")
        env = svc.service_env(engine, redis_url)
        procs.worker(env, "webhooks", args.concurrency, ["--include", "bench._noop"])
        os.environ.update(env)
        from bench.poll_throughput import empty_tasks
        from workers.app import app

        app.conf.broker_url = redis_url
        svc.wait_for(lambda: empty_tasks(app, client, 1, "webhooks") > 0, 60, "worker ready")
        empty = empty_tasks(app, client, args.count, "webhooks")
        print(f"empty tasks: {empty:.0f}/s ({args.count} no-op tasks, -c {args.concurrency})")
        batched = run_batched(engine, app, base, batched_ids, args.batch)
        single_ids = pending(engine, "single", args.count)
        single = run_single(engine, app, base, single_ids)
        seen = receiver_count(base)
        with engine.connect() as conn:
            done = conn.execute(
                sa.text("SELECT status, count(*) FROM webhook_deliveries GROUP BY status")
            ).all()
        print(f"stored: {dict(done)}; bad signatures {seen['bad_signatures']:.0f}")
        verdict = "met" if batched >= TARGET else "NOT met"
        print(
            f"webhooks: {batched:.0f} deliveries/s batched by the sweep (target {TARGET:.0f}: "
            f"{verdict}); single-delivery tasks {single:.0f}/s; receiver alone {own:.0f}/s "
            f"(ratio {batched / own:.2f}); empty tasks {empty:.0f}/s (ratio {batched / empty:.2f})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
