"""CPU per lookup in each service process, closed loop (no backlog, so no load-dependent
re-reads): the same service as bench/lookup_latency.py, then N lookups of distinct numbers
(POST + GET ?wait, through the worker) and N of cached numbers (API only), 4 at a time.

CPU seconds come from /proc, so the figures depend far less on other jobs on the machine than
latency does. Run: .venv/bin/python bench/api_cpu.py [--lookups 600]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import _service as svc
from bench import lookup_latency as ll
from tracker.sim.synthetic import number_of


def measure(procs: svc.Procs, clients: ll.Clients, numbers: list[str]) -> dict[str, float]:
    before = ll.cpu_of(procs)
    with ThreadPoolExecutor(4) as pool:
        rows = [row for row, _, _ in pool.map(clients.lookup, numbers)]
    undone = sum(row["status"] != "done" for row in rows)
    if undone:
        sys.exit(f"{undone} lookups not answered")
    used = ll.cpu_of(procs)
    return {k: (v - before.get(k, 0.0)) / len(numbers) * 1000 for k, v in used.items()}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lookups", type=int, default=600)
    args = parser.parse_args()
    print(f"machine: {svc.machine()}")
    numbers = [number_of(i, ll.SEED) for i in range(args.lookups)]
    logs = Path(tempfile.gettempdir()) / "bench-api-cpu"
    with svc.pg_database() as engine, svc.processes(logs) as procs:
        api_base, sim_base, _ = ll.start_service(procs, engine, logs)
        clients = ll.Clients(api_base, sim_base)
        ll.warm_up(clients, numbers)
        for name, batch in (("distinct", numbers), ("cached", numbers)):
            cpu = measure(procs, clients, batch)
            shown = ", ".join(f"{k} {v:.1f}" for k, v in sorted(cpu.items()))
            print(f"{name:9}: CPU ms per lookup: {shown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
