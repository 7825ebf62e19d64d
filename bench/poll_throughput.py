"""Parcels refreshed per second by real Celery workers polling the simulator, 100,000 tracked
parcels on PostgreSQL (judged by: >= 1,000 parcels/s on 2 cores; efficiency beside empty tasks).

One run: a throwaway PostgreSQL database seeded by COPY with the simulator's 100,000 synthetic
orders (one parcel each, sources cainiao + 17track as `TRACKER_SOURCES` defaults), Redis db 5
flushed, `tracker sim --scenario synthetic:100000:1` and one worker (`-Q polls,celery -c C`,
the README's flags) as processes. Then:
  1. empty tasks: N no-op tasks through the same broker and worker (baseline);
  2. cold: WINDOW parcels made due, never polled before (every event is new);
  3. warm: the same WINDOW parcels made due again (the steady state of a running service:
     most polls bring nothing new). The simulator's clock does not move during the run, so
     every source answers with the very bodies already stored: these polls are not parsed
     (`repoll.repeated`);
  4. changed: the same again after deleting the window's stored bodies, so every answer is a
     body not stored yet (as from a source whose answers differ from poll to poll with
     nothing new in them): parsed, event ids compared, quiet orders only rescheduled.
  5. moved: the simulator's clock moved on by --move-hours (24): the parcels on their way
     have new scans, the others answer as before. The mix of a running service, where most
     parcels polled have not moved since the last poll but most batches hold one that has
     (printed: how many parcels of the window got a new event).
Dispatch runs here every 2 s exactly as the beat-driven task does (`polling.dispatch`, 5,000
parcels a tick, enqueued with send_task). A parcel counts as refreshed once both its sources'
stored answers are from this phase; the rate is taken between 10% and 90% of the window
(steady state) and overall (until the queue is drained).
efficiency = parcels_per_s / (empty_tasks_per_s * parcels_per_poll_task).

Run: .venv/bin/python bench/poll_throughput.py [--window 20000] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import timedelta
from itertools import pairwise
from pathlib import Path

import redis
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import _service as svc

N = 100_000
TARGET = 1000.0
DISPATCH_EVERY = 2.0
OBSERVE_EVERY = 1.0


def empty_tasks(app: object, client: redis.Redis, count: int, queue: str = "polls") -> float:
    client.delete("bench:noop")
    started = time.perf_counter()
    for _ in range(count):
        app.send_task("bench.noop", queue=queue)  # type: ignore[attr-defined]
    svc.wait_for(lambda: int(client.get("bench:noop") or 0) >= count, 600, "empty tasks", 0.02)
    return count / (time.perf_counter() - started)


def make_due(engine: sa.Engine, ids: list[int]) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE parcels SET next_poll_at = now() - interval '1 second' WHERE id = ANY(:ids)"
            ),
            {"ids": ids},
        )


def forget_bodies(engine: sa.Engine, ids: list[int]) -> None:
    """Delete the stored bodies linked to these parcels (their links go with them), and the
    parcels' record of which body each source last answered with."""
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "DELETE FROM observations WHERE id IN "
                "(SELECT observation_id FROM observation_parcels WHERE parcel_id = ANY(:ids))"
            ),
            {"ids": ids},
        )
        conn.execute(sa.text("UPDATE parcels SET bodies = NULL WHERE id = ANY(:ids)"), {"ids": ids})


def advance_sim(base: str, hours: float) -> None:
    import requests

    reply = requests.post(f"{base}/_sim/clock", json={"advance_hours": hours}, timeout=10)
    reply.raise_for_status()


def moved_parcels(engine: sa.Engine, ids: list[int], since: object) -> int:
    """How many of these parcels got a new event stored since `since`."""
    with engine.connect() as conn:
        query = sa.text(
            "SELECT count(DISTINCT parcel_id) FROM events "
            "WHERE parcel_id = ANY(:ids) AND created_at >= :since"
        )
        return int(conn.execute(query, {"ids": ids, "since": since}).scalar_one())


def evidence_bytes(engine: sa.Engine) -> int:
    """The stored answers' size on disk (table, TOAST and indexes)."""
    with engine.connect() as conn:
        query = sa.text("SELECT pg_total_relation_size('observations')")
        return int(conn.execute(query).scalar_one())


def crossing(samples: list[tuple[float, int]], target: float) -> float:
    """When the count reached `target`, interpolated between the two samples around it (the
    observer looks once a second: its queries cost PostgreSQL CPU the workers would use)."""
    for (t0, c0), (t1, c1) in pairwise(samples):
        if c1 >= target:
            return t0 + (t1 - t0) * (target - c0) / max(c1 - c0, 1)
    raise ValueError(f"the count never reached {target}")


def vacuum(engine: sa.Engine) -> None:
    """VACUUM (ANALYZE) the tables a poll rewrites, between phases, untimed. PostgreSQL's
    autovacuum does this by default; the machine's server may run with it off (CI settings),
    and then every poll's new row versions pile up and each phase is slower than the last.
    Its time is printed: it is part of what a running service costs."""
    started = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM (ANALYZE) parcels, orders, observations, observation_parcels"))
    print(f"vacuum: {time.perf_counter() - started:.1f} s", flush=True)


def phase(
    name: str, engine: sa.Engine, app: object, client: redis.Redis, ids: list[int]
) -> dict[str, float]:
    import os

    from tracker.service import polling
    from tracker.settings import Settings

    settings = Settings.from_env(os.environ)
    tasks = 0

    def enqueue(source: str, parcel_ids: list[int]) -> None:
        nonlocal tasks
        tasks += 1
        app.send_task("workers.tasks.poll_batch", (source, parcel_ids), queue="polls")  # type: ignore[attr-defined]

    t0 = svc.utcnow()
    make_due(engine, ids)
    started = time.perf_counter()
    next_dispatch = 0.0
    count, remaining, observer = 0, set(ids), 0.0
    # refreshed = answered by BOTH sources since t0 (each source's latest answer carries the
    # fetch time of its observation)
    # only parcels not counted yet are looked at again: the observer's own load on PostgreSQL
    # (JSON read out of every row) shrinks as the phase goes on; its time is printed
    query = sa.text(
        "SELECT id FROM parcels WHERE id = ANY(:ids) AND last_polled_at >= :t0 "
        "AND (results->'cainiao'->0->>'observed_at')::timestamptz >= :t0 "
        "AND (results->'17track'->0->>'observed_at')::timestamptz >= :t0"
    )
    samples: list[tuple[float, int]] = [(0.0, 0)]  # (seconds, parcels refreshed by then)
    next_observe = 0.0
    while True:
        now = time.perf_counter()
        if now >= next_dispatch:
            polling.dispatch(engine, svc.utcnow(), settings, enqueue)
            next_dispatch = now + DISPATCH_EVERY
        drained = client.llen("polls") == 0 and client.hlen("unacked") == 0
        if now >= next_observe or drained:
            observed = time.perf_counter()
            with engine.connect() as conn:
                done = {r[0] for r in conn.execute(query, {"ids": list(remaining), "t0": t0})}
            observer += time.perf_counter() - observed
            remaining -= done
            count = len(ids) - len(remaining)
            samples.append((observed - started, count))
            next_observe = observed + OBSERVE_EVERY
        elapsed = time.perf_counter() - started
        if count >= len(ids) and drained:
            break
        if elapsed > 1800:
            raise SystemExit(f"{name}: only {count}/{len(ids)} refreshed after 30 min")
        time.sleep(0.25)
    marks = {frac: crossing(samples, frac * len(ids)) for frac in (0.1, 0.9)}
    total = time.perf_counter() - started
    steady = 0.8 * len(ids) / max(marks[0.9] - marks[0.1], 1e-9)
    result = {
        "steady": steady,
        "overall": len(ids) / total,
        "seconds": total,
        "per_task": len(ids) / max(tasks, 1),
        "tasks": tasks,
    }
    print(
        f"{name:5}: {len(ids)} parcels in {total:.1f} s, {tasks} poll tasks "
        f"({result['per_task']:.1f} parcels/task); steady {steady:.0f}/s, "
        f"overall {result['overall']:.0f}/s; observer queries {observer:.1f} s; "
        f"stored answers now {evidence_bytes(engine) / 2**20:.1f} MiB",
        flush=True,
    )
    return result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--window", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--empty", type=int, default=5000)
    parser.add_argument("--skip-cold", action="store_true")
    parser.add_argument("--move-hours", type=float, default=24.0)
    parser.add_argument(
        "--warm-runs", type=int, default=1, help="repeat the warm phase (to profile it)"
    )
    args = parser.parse_args()
    print(f"machine: {svc.machine()}")
    port = svc.free_port()
    base = f"http://127.0.0.1:{port}"
    redis_url = svc.flushed_redis(5)
    client = redis.Redis.from_url(redis_url)
    with (
        svc.pg_database() as engine,
        svc.processes(Path(tempfile.gettempdir()) / "bench-poll") as procs,
    ):
        procs.sim(f"synthetic:{N}:1", port)
        svc.wait_port(port)
        started = time.perf_counter()
        orders = svc.sim_orders(base)
        far = svc.utcnow() + timedelta(days=30)
        svc.seed_orders(engine, orders, ["cainiao", "17track"], far, svc.utcnow())
        print(f"seeded {len(orders)} orders/parcels in {time.perf_counter() - started:.1f} s")
        vacuum(engine)
        env = svc.service_env(engine, redis_url, base)
        procs.worker(env, "polls,celery", args.concurrency, ["--include", "bench._noop"])
        import os

        os.environ.update(env)
        from workers.app import app

        app.conf.broker_url = redis_url
        svc.wait_for(lambda: empty_tasks(app, client, 1) > 0, 60, "worker ready")
        empty = empty_tasks(app, client, args.empty)
        print(f"empty tasks: {empty:.0f}/s ({args.empty} no-op tasks, -c {args.concurrency})")
        with engine.connect() as conn:
            ids = [
                r[0]
                for r in conn.execute(
                    sa.text("SELECT id FROM parcels ORDER BY random() LIMIT :n"), {"n": args.window}
                )
            ]
        results = {}
        if not args.skip_cold:
            results["cold"] = phase("cold", engine, app, client, ids)
            vacuum(engine)
        for run in range(args.warm_runs):
            name = "warm" if run == 0 else f"warm{run + 1}"
            results[name] = phase(name, engine, app, client, ids)
            vacuum(engine)
        forget_bodies(engine, ids)
        vacuum(engine)
        results["changed"] = phase("changed", engine, app, client, ids)
        vacuum(engine)
        advance_sim(base, args.move_hours)
        since = svc.utcnow()
        results["moved"] = phase("moved", engine, app, client, ids)
        moved = moved_parcels(engine, ids, since)
        print(
            f"moved: {moved} of {len(ids)} parcels ({100 * moved / len(ids):.1f}%) got a new "
            f"event after the simulator's clock moved on {args.move_hours:g} h",
            flush=True,
        )
        for name, r in results.items():
            eff = r["steady"] / (empty * r["per_task"])
            verdict = "met" if r["steady"] >= TARGET else "NOT met"
            print(
                f"{name}: {r['steady']:.0f} parcels/s steady (target {TARGET:.0f}: {verdict}); "
                f"efficiency {r['steady']:.0f} / ({empty:.0f} empty/s x {r['per_task']:.1f}) "
                f"= {eff:.3f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
