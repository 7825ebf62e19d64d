"""Benchmark of `tracker analyze` on a shop's order book (the bulk JSON Lines path).

Judged by: source events analysed per second by ONE process (`workers=1`), as a ratio of bare
`json.loads` of the same lines in the same process (target >= 0.25x), and peak RSS for N and 4N
orders (must stay flat: streamed line by line). The figure with one worker process per CPU is
shown beside it for information only: it is not a like-for-like comparison with one
single-threaded `json.loads`.

    .venv/bin/python bench/analyze.py [N]        default N = 2000 orders
"""

from __future__ import annotations

import io
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from casegen import make_case

from tracker.analyze import main

TARGET = 0.25
RSS_PROBE = (
    "import os, resource, subprocess, sys; "
    "subprocess.run([sys.executable, '-m', 'tracker.analyze', sys.argv[1]], "
    "stdout=subprocess.DEVNULL, check=False, env={**os.environ, 'TRACKER_ANALYZE_WORKERS': '1'}); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)
ONE = {**os.environ, "TRACKER_ANALYZE_WORKERS": "1"}


def write_book(path: Path, orders: int) -> int:
    """Write `orders` cases as JSON Lines; the number of source events in their payloads."""
    rng = random.Random(11)
    events = 0
    with path.open("wb") as out:
        for i in range(orders):
            case = make_case(i, rng)
            events += sum(_events(o["source"], o["payload"]) for o in case["observations"])
            out.write(orjson.dumps(case, option=orjson.OPT_APPEND_NEWLINE))
    return events


def _events(source: str, payload: dict) -> int:  # type: ignore[type-arg]
    if source == "cainiao":
        return len(payload["module"][0]["detailList"])
    if source == "17track":
        providers = payload["data"]["accepted"][0]["track_info"]["tracking"]["providers"]
        return sum(len(p["events"]) for p in providers)
    return len(payload["data"]["tracking"]["checkpoints"])


def time_json_loads(path: Path) -> float:
    start = time.perf_counter()
    with path.open("rb") as lines:
        for line in lines:
            json.loads(line)
    return time.perf_counter() - start


def time_in_process(path: Path, workers: int | None) -> float:
    """`tracker.analyze.main` on `path`: `workers=1` in this process; None, a pool per CPU."""
    sink = io.StringIO()
    start = time.perf_counter()
    code = main(str(path), None, sink, sys.stderr, workers=workers)
    elapsed = time.perf_counter() - start
    assert code == 0, f"analyze exited {code}"
    assert sink.getvalue().count("\n") > 0
    return elapsed


def time_process(path: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "tracker.analyze", str(path)],
                   stdout=subprocess.DEVNULL, check=True, env=ONE)  # fmt: skip
    return time.perf_counter() - start


def peak_rss_kib(path: Path) -> int:
    done = subprocess.run([sys.executable, "-c", RSS_PROBE, str(path)], capture_output=True,
                          text=True, check=True)  # fmt: skip
    return int(done.stdout.strip())


def machine() -> str:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return f"{os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {model}"


def main_bench(orders: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        book, big = Path(tmp) / "book.jsonl", Path(tmp) / "book4.jsonl"
        events = write_book(book, orders)
        size = book.stat().st_size
        loads = min(time_json_loads(book) for _ in range(3))
        single = min(time_in_process(book, 1) for _ in range(3))
        pooled = min(time_in_process(book, None) for _ in range(2))
        wall = time_process(book)
        rss = peak_rss_kib(book)
        write_book(big, orders * 4)
        rss4 = peak_rss_kib(big)
    ratio = loads / single
    cpus = len(os.sched_getaffinity(0))
    print(f"machine: {machine()}")
    print(f"input: {orders} orders, {events} source events, {size / 1e6:.1f} MB JSON Lines")
    print(f"json.loads of every line (1 thread): {loads:.2f} s  {events / loads:,.0f} events/s")
    print(f"analyze, one process (main, workers=1): {single:.2f} s  {events / single:,.0f} "
          f"events/s  {orders / single:,.0f} orders/s")  # fmt: skip
    print(f"analyze as a process, one worker (wall clock, incl. start-up): {wall:.2f} s"
          f"  {events / wall:,.0f} events/s")  # fmt: skip
    print(f"ratio analyze (one process) / json.loads: {ratio:.3f}x (target >= {TARGET}x) "
          f"{'OK' if ratio >= TARGET else 'BELOW TARGET'}")  # fmt: skip
    print(
        f"for information, not judged: analyze with {cpus} worker processes: {pooled:.2f} s  "
        f"{events / pooled:,.0f} events/s ({loads / pooled:.3f}x one-thread json.loads)"
    )
    print(f"peak RSS, one process: {orders} orders {rss / 1024:.0f} MiB; {orders * 4} orders "
          f"{rss4 / 1024:.0f} MiB ({rss4 / rss:.2f}x)")  # fmt: skip


if __name__ == "__main__":
    main_bench(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
