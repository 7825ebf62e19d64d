"""On-demand lookup latency through the whole service, beside the simulator's own latency
measured in the same run (judged by: p99 overhead = lookup p99 - simulator p99 < 50 ms), and
one fetch for 100 concurrent lookups of one number.

One run: a throwaway PostgreSQL database, a private `redis-server` on a free port (nobody
else's keys are touched), the simulator in its own process (`synthetic:N:SEED`), the two
workers exactly as `tracker serve` starts them ("worker": every queue, -c 2; "worker-fast":
lookups and webhooks, -c 2) and `tracker api` with an environment token.

Load is open-loop: a scheduler thread hands each request to a thread pool at its due time
(rate per second), whatever earlier ones are doing. Every due tick sends one lookup
(POST /v1/lookups {number, source} then GET /v1/lookups/{id}?wait=5; latency = POST sent ->
report received) and, half a period later, the same number's request straight to the
simulator (the worker's own URL and parameters, keep-alive session): both at the same rate,
concurrently, so both see the same machine. The simulator's views are warmed first, so
neither side pays for building a parcel.

Phases: distinct numbers (nothing cached), then the same numbers again (answered from the
lookup cache), then 100 concurrent lookups of one fresh number (count at the simulator).
Each lookup's created_at/finished_at split the time into: API entry, queue + worker + fetch,
and answer -> GET returned.

Run: .venv/bin/python bench/lookup_latency.py [--rate 50] [--seconds 25] [--cached-seconds 10]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import _service as svc
from tracker.serve import commands
from tracker.settings import Settings
from tracker.sim.synthetic import number_of

TARGET_MS = 50.0
SOURCE = "cainiao"
SEED = 7
TOKEN = "bench-lookup-latency-token"
WAIT = 5
BURST = 100


@dataclass
class Samples:
    latency: list[float] = field(default_factory=list)  # seconds
    lag: list[float] = field(default_factory=list)  # sent - due: did the open loop hold?
    parts: list[tuple[float, float, float]] = field(default_factory=list)
    dues: list[float] = field(default_factory=list)  # perf_counter when each was due
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, due: float, sent: float, done: float, parts: Any = None) -> None:
        with self.lock:
            self.latency.append(done - sent)
            self.lag.append(sent - due)
            self.dues.append(due)
            if parts is not None:
                self.parts.append(parts)

    def fail(self, message: str) -> None:
        with self.lock:
            self.errors.append(message)


_local = threading.local()


def session() -> requests.Session:
    if not hasattr(_local, "session"):
        _local.session = requests.Session()
    s: requests.Session = _local.session
    return s


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def ms(value: float) -> str:
    return f"{value * 1000:.1f} ms"


# ----------------------------------------------------------------------------- clients


class Clients:
    def __init__(self, api: str, sim: str) -> None:
        self.api, self.sim = api, sim
        self.auth = {"Authorization": f"Bearer {TOKEN}"}

    def lookup(self, number: str) -> tuple[dict[str, Any], float, float]:
        """POST then GET ?wait; (the lookup, wall clock when sent, wall clock when answered)."""
        wall_sent = time.time()
        posted = session().post(
            f"{self.api}/v1/lookups",
            json={"tracking_number": number, "source": SOURCE},
            headers=self.auth,
            timeout=10,
        )
        posted.raise_for_status()
        got = session().get(
            f"{self.api}/v1/lookups/{posted.json()['id']}",
            params={"wait": WAIT},
            headers=self.auth,
            timeout=WAIT + 5,
        )
        got.raise_for_status()
        return got.json(), wall_sent, time.time()

    def direct(self, numbers: str) -> None:
        """The worker's own call to the simulator (cainiao.fetch: one GET of detail.json)."""
        response = session().get(
            f"{self.sim}/cainiao/global/detail.json",
            params={"mailNos": numbers, "lang": "en-US"},
            timeout=10,
        )
        response.raise_for_status()
        response.json()


def timed_lookup(clients: Clients, number: str, due: float, out: Samples) -> None:
    sent = time.perf_counter()
    try:
        row, wall_sent, wall_done = clients.lookup(number)
    except requests.RequestException as exc:
        out.fail(f"{number}: {exc}")
        return
    done = time.perf_counter()
    if row["status"] != "done":
        out.fail(f"{number}: {row['status']} {row.get('error')}")
        return
    created = datetime.fromisoformat(row["created_at"]).timestamp()
    finished = datetime.fromisoformat(row["finished_at"]).timestamp()
    out.add(due, sent, done, (created - wall_sent, finished - created, wall_done - finished))


def timed_direct(clients: Clients, number: str, due: float, out: Samples) -> None:
    sent = time.perf_counter()
    try:
        clients.direct(number)
    except requests.RequestException as exc:
        out.fail(f"{number}: {exc}")
        return
    out.add(due, sent, time.perf_counter())


Job = Callable[[str, float], None]


def open_loop(rate: float, numbers: list[str], jobs: list[tuple[float, Job]]) -> None:
    """Each job for each number at start + i/rate + its offset, from a pool big enough that a
    slow answer never holds back the next send."""
    ticks = sorted(
        (i / rate + offset, k, number)
        for i, number in enumerate(numbers)
        for k, (offset, _) in enumerate(jobs)
    )
    # a lookup holds its thread for up to 15 s (POST timeout 10 s + wait 5 s) when saturated
    with ThreadPoolExecutor(max_workers=int(rate * (WAIT + 11)) + 16) as pool:
        start = time.perf_counter() + 0.2
        for at, k, number in ticks:
            due = start + at
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            pool.submit(jobs[k][1], number, due)


# ----------------------------------------------------------------------------- service


def group_cpu(pgid: int) -> float:
    """User + system CPU seconds of every live process in a process group (a Celery worker
    and its pool children), from /proc."""
    tick, total = os.sysconf("SC_CLK_TCK"), 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields after the name: state, ppid, pgrp, ...
            total += int(fields[11]) + int(fields[12])
    return total / tick


def cpu_of(procs: svc.Procs) -> dict[str, float]:
    seen: dict[str, float] = {}
    for popen in procs.popens:
        name = NAMES.get(popen.pid, "other")
        seen[name] = seen.get(name, 0.0) + group_cpu(popen.pid)
    return seen


NAMES: dict[int, str] = {}


def start_service(procs: svc.Procs, engine: Any, logs: Path) -> tuple[str, str, str]:
    """Redis, simulator, workers and API; returns (api base, sim base, redis url)."""
    redis_port, sim_port, api_port = svc.free_port(), svc.free_port(), svc.free_port()
    binary = shutil.which("redis-server") or sys.exit("redis-server is not installed")
    redis_argv = [binary, "--bind", "127.0.0.1", "--port", str(redis_port), "--save", ""]
    redis = procs.start("redis", [*redis_argv, "--appendonly", "no", "--dir", str(logs)], {})
    NAMES[redis.pid] = "redis"
    NAMES[procs.sim(f"synthetic:100000:{SEED}", sim_port).pid] = "sim"
    svc.wait_port(redis_port)
    svc.wait_port(sim_port)
    redis_url, sim_base = f"redis://127.0.0.1:{redis_port}/0", f"http://127.0.0.1:{sim_port}"
    env = svc.service_env(
        engine,
        redis_url,
        sim_base,
        TRACKER_API_PORT=str(api_port),
        TRACKER_API_TOKENS=TOKEN,
        TRACKER_API_RATE_LIMIT="100000/second",  # the quota is not what is measured
        TRACKER_LOG_LEVEL=os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
    )
    for child in commands(Settings.from_env(env)):
        if child.name in ("api", "worker", "worker-fast"):
            NAMES[procs.start(child.name, child.argv, env).pid] = child.name
    api_base = f"http://127.0.0.1:{api_port}"

    def healthy() -> bool:
        try:
            return requests.get(f"{api_base}/healthz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    svc.wait_for(healthy, 60, "the API's /healthz")
    return api_base, sim_base, redis_url


def warm_up(clients: Clients, numbers: list[str]) -> None:
    """Workers up and connected (a few answered lookups), simulator views built."""
    warm = [number_of(900_000 + i, SEED) for i in range(12)]
    with ThreadPoolExecutor(4) as pool:
        for row, _, _ in pool.map(clients.lookup, warm):
            if row["status"] != "done":
                sys.exit(f"warm-up lookup not answered: {row}")
        batches = [",".join(numbers[i : i + 10]) for i in range(0, len(numbers), 10)]
        list(pool.map(clients.direct, batches))


def sim_count(sim_base: str, number: str) -> int:
    stats = requests.get(f"{sim_base}/_sim/stats", timeout=10).json()
    return int(stats["by_source_number"].get(SOURCE, {}).get(number, 0))


def burst(clients: Clients, sim_base: str) -> tuple[int, int]:
    """100 lookups of one fresh number at once: (source fetches, lookups answered)."""
    number = number_of(950_000, SEED)
    gate = threading.Barrier(BURST)

    def one(_: int) -> bool:
        gate.wait()
        row, _, _ = clients.lookup(number)
        return bool(row["status"] == "done")

    with ThreadPoolExecutor(BURST) as pool:
        answered = sum(pool.map(one, range(BURST)))
    return sim_count(sim_base, number), answered


# ----------------------------------------------------------------------------- report


def describe(name: str, s: Samples) -> None:
    lat = s.latency
    print(
        f"{name:26}: n {len(lat)}, p50 {ms(statistics.median(lat))}, p90 {ms(pct(lat, 0.9))}, "
        f"p99 {ms(pct(lat, 0.99))}, max {ms(max(lat))}; send lag p99 {ms(pct(s.lag, 0.99))}; "
        f"errors {len(s.errors)}"
    )
    for error in s.errors[:3]:
        print(f"    {error}")


def describe_parts(s: Samples) -> None:
    names = ("POST sent -> API created it", "created -> worker finished", "finished -> GET done")
    for i, name in enumerate(names):
        values = [p[i] for p in s.parts]
        print(f"    {name:30}: p50 {ms(statistics.median(values))}, p99 {ms(pct(values, 0.99))}")
    if not s.dues:
        return
    start = min(s.dues)
    slowest = sorted(range(len(s.latency)), key=s.latency.__getitem__)[-5:]
    for i in reversed(slowest):
        split = " / ".join(ms(v) for v in s.parts[i])
        print(f"    slow: at {s.dues[i] - start:6.2f} s, {ms(s.latency[i])} ({split})")


def phase(clients: Clients, rate: float, numbers: list[str], direct: bool) -> tuple[Samples, ...]:
    looked, straight = Samples(), Samples()
    jobs: list[tuple[float, Job]] = [(0.0, lambda n, due: timed_lookup(clients, n, due, looked))]
    if direct:
        jobs.append((0.5 / rate, lambda n, due: timed_direct(clients, n, due, straight)))
    open_loop(rate, numbers, jobs)
    return looked, straight


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=25.0)
    parser.add_argument("--cached-seconds", type=float, default=10.0)
    args = parser.parse_args()
    print(f"machine: {svc.machine()}")
    numbers = [number_of(i, SEED) for i in range(int(args.rate * args.seconds))]
    logs = Path(tempfile.gettempdir()) / "bench-lookup-latency"
    with svc.pg_database() as engine, svc.processes(logs) as procs:
        api_base, sim_base, _ = start_service(procs, engine, logs)
        clients = Clients(api_base, sim_base)
        warm_up(clients, numbers)
        requests.post(f"{sim_base}/_sim/reset", timeout=10)
        before, client_before = cpu_of(procs), time.process_time()
        looked, straight = phase(clients, args.rate, numbers, direct=True)
        used = {k: v - before.get(k, 0.0) for k, v in cpu_of(procs).items()}
        used["bench client"] = time.process_time() - client_before
        fetched = sum(sim_count(sim_base, n) for n in numbers[:50])
        cached_numbers = numbers[: int(args.rate * args.cached_seconds)]
        cached, _ = phase(clients, args.rate, cached_numbers, direct=False)
        fetches, answered = burst(clients, sim_base)
    print(f"setup: PostgreSQL (throwaway db), private redis-server, sim {SOURCE} synthetic")
    print(f"open loop at {args.rate:g}/s for {args.seconds:g} s, distinct numbers:")
    describe("lookup (POST -> report)", looked)
    describe_parts(looked)
    describe("simulator, direct", straight)
    cpu = ", ".join(f"{k} {v / len(numbers) * 1000:.1f}" for k, v in used.items())
    print(f"  CPU ms per lookup (sim and client: lookup + direct): {cpu}")
    print(f"  sim requests for the first 50 numbers: {fetched} (lookups + direct: expect 100)")
    describe(f"lookup, cached ({args.cached_seconds:g} s)", cached)
    print(f"{BURST} concurrent lookups of one number: {fetches} source fetch(es), {answered} done")
    overhead = pct(looked.latency, 0.99) - pct(straight.latency, 0.99)
    met = overhead * 1000 < TARGET_MS and fetches == 1 and not looked.errors
    print(
        f"p99 overhead {ms(overhead)} (target < {TARGET_MS:.0f} ms), one fetch: {fetches == 1}: "
        f"{'met' if met else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
