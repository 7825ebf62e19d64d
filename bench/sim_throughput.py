"""How many requests a second `tracker sim` answers (judged by: >= 300 req/s on 2 cores).

Starts `python -m tracker.sim --scenario synthetic:100000:1` in its own process and polls it
from client threads with keep-alive sessions, the way workers do: Cainiao batches of 10,
17TRACK batches of 40, single AfterShip and USPS GETs. The client runs in this process, so on
2 cores it competes with the server for CPU: the figure is a floor.
Run: .venv/bin/python bench/sim_throughput.py [seconds] [threads]
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

N = 100_000
TARGET = 300.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _one(session: requests.Session, base: str, rng: random.Random, numbers: list[str]) -> None:
    pick = rng.random()
    if pick < 0.4:
        batch = ",".join(rng.sample(numbers, 10))
        url, kwargs = f"{base}/cainiao/global/detail.json", {"params": {"mailNos": batch}}
        session.get(url, timeout=10, **kwargs).raise_for_status()
    elif pick < 0.5:
        body = [{"number": n} for n in rng.sample(numbers, 40)]
        session.post(f"{base}/17track/gettrackinfo", json=body, timeout=10).raise_for_status()
    else:
        params = {"tracking_numbers": rng.choice(numbers)}
        session.get(f"{base}/aftership/trackings", params=params, timeout=10).raise_for_status()


def _worker(base: str, numbers: list[str], stop: float, counts: list[int], seed: int) -> None:
    rng, session, done = random.Random(seed), requests.Session(), 0
    while time.perf_counter() < stop:
        _one(session, base, rng, numbers)
        done += 1
    counts.append(done)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc), to separate server cost from the
    client's, which shares the machine."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_up(base: str) -> None:
    for _ in range(100):
        try:
            requests.get(f"{base}/_sim/healthz", timeout=1).raise_for_status()
            return
        except requests.RequestException:
            time.sleep(0.05)
    raise SystemExit("the simulator did not start")


def main(seconds: float = 5.0, threads: int = 8) -> None:
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tracker.sim",
            "--port",
            str(port),
            "--scenario",
            f"synthetic:{N}:1",
        ],
        stdout=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_up(base)
        numbers = [f"LP01{i:012d}CN" for i in range(0, N, 7)]
        counts: list[int] = []
        stop = time.perf_counter() + seconds
        workers = [
            threading.Thread(target=_worker, args=(base, numbers, stop, counts, i))
            for i in range(threads)
        ]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        served = requests.get(f"{base}/_sim/stats", timeout=5).json()["requests"]
        cpu = _cpu_seconds(server.pid)
    finally:
        server.terminate()
        server.wait(10)
    rate = sum(counts) / seconds
    per_request = cpu / served * 1000 if served else 0.0
    print(
        f"{sum(counts)} requests ({served} counted by the sim) in {seconds:.0f} s from "
        f"{threads} client threads, {N} parcels: {rate:.0f} req/s "
        f"(target >= {TARGET:.0f}; ratio {rate / TARGET:.2f}); server CPU "
        f"{per_request:.2f} ms/request, i.e. ~{1000 / per_request if per_request else 0:.0f} "
        f"req/s per core with the client elsewhere"
    )


if __name__ == "__main__":
    args = sys.argv[1:]
    main(float(args[0]) if args else 5.0, int(args[1]) if len(args) > 1 else 8)
