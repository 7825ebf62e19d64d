"""Shared plumbing of the service benchmarks: a throwaway PostgreSQL database, a flushed Redis
database, the simulator and Celery workers as real processes (the README's commands), and a
bulk seeder that writes orders and parcels with COPY."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
import sqlalchemy as sa
from sqlalchemy.engine import Engine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tracker.store.db import make_engine, upgrade  # noqa: E402

PG_BASE = os.environ.get(
    "TRACKER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
CELERY = str(Path(sys.executable).with_name("celery"))
WORKER = [
    "-A",
    "workers.app",
    "worker",
    "--loglevel",
    "WARNING",
    "-O",
    "fair",
    "--without-gossip",
    "--without-mingle",
    "--without-heartbeat",
]


def machine() -> str:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "?",
    )
    load = os.getloadavg()[0]
    return f"nproc {os.cpu_count()}, CPU {model!r}, load(1m) {load:.2f} at start"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def pg_database(prefix: str = "tracker_bench") -> Iterator[Engine]:
    """A fresh, migrated PostgreSQL database, dropped afterwards."""
    base = sa.make_url(PG_BASE)
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = sa.create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(base.set(database=name).render_as_string(hide_password=False))
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


_HELD: list[Any] = []  # lock files held until this process exits


def flushed_redis(db: int) -> str:
    """Redis database `db`, emptied, for this run alone. Two runs sharing one would take each
    other's tasks into their own databases (and the second's flush loses the first's queue),
    so a second run stops at once while the first holds the lock."""
    import fcntl
    import tempfile

    lock = open(Path(tempfile.gettempdir()) / f"tracker-bench-redis-{db}.lock", "w")  # noqa: SIM115
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise SystemExit(
            f"another benchmark is using Redis database {db} ({lock.name}): "
            "wait for it to finish; runs that share it take each other's tasks"
        ) from None
    _HELD.append(lock)
    url = f"redis://127.0.0.1:6379/{db}"
    redis.Redis.from_url(url).flushdb()
    return url


def database_url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


# ----------------------------------------------------------------------------- processes


class Procs:
    """Child processes in their own sessions, stopped (process group) on exit."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.popens: list[subprocess.Popen[bytes]] = []

    def start(
        self, name: str, argv: Sequence[str], env: Mapping[str, str]
    ) -> subprocess.Popen[bytes]:
        full = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
        full.update(env)
        log = self.logs / f"{name}-{len(self.popens)}.log"
        with log.open("wb") as handle:
            popen = subprocess.Popen(
                list(argv),
                cwd=ROOT,
                env=full,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.popens.append(popen)
        return popen

    def worker(
        self, env: Mapping[str, str], queues: str, concurrency: int, extra: Sequence[str] = ()
    ) -> subprocess.Popen[bytes]:
        argv = [
            CELERY,
            *WORKER,
            "-Q",
            queues,
            "-c",
            str(concurrency),
            "-n",
            f"bench{len(self.popens)}@%h",
            *extra,
        ]
        return self.start("worker", argv, env)

    def sim(self, scenario: str, port: int) -> subprocess.Popen[bytes]:
        argv = [sys.executable, "-m", "tracker.sim", "--port", str(port), "--scenario", scenario]
        return self.start("sim", argv, {})

    def stop(self) -> None:
        for popen in reversed(self.popens):
            if popen.poll() is None:
                with suppress(ProcessLookupError):
                    os.killpg(popen.pid, signal.SIGTERM)
        for popen in self.popens:
            try:
                popen.wait(20)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(popen.pid, signal.SIGKILL)


@contextmanager
def processes(logs: Path) -> Iterator[Procs]:
    logs.mkdir(parents=True, exist_ok=True)
    procs = Procs(logs)
    # a benchmark stopped with `kill` still stops its children and drops its database
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        yield procs
    finally:
        procs.stop()


def wait_for(check: Callable[[], Any], timeout: float, what: str, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise SystemExit(f"timed out after {timeout:.0f}s waiting for {what}")


def wait_port(port: int, timeout: float = 30) -> None:
    def up() -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", port)) == 0

    wait_for(up, timeout, f"port {port}")


# ----------------------------------------------------------------------------- seeding


def _copy(
    engine: Engine, table: str, columns: Sequence[str], rows: Iterator[Sequence[Any]]
) -> None:
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        raw.commit()
    finally:
        raw.close()


def seed_orders(
    engine: Engine,
    orders: Sequence[Mapping[str, Any]],
    sources: Sequence[str],
    next_poll_at: datetime | None,
    now: datetime,
) -> None:
    """COPY orders (resolved sim orders, `tracker orders import` shape) and their parcels."""
    order_cols = [
        "id",
        "marketplace",
        "destination_country",
        "destination_postal_code",
        "destination_city",
        "timezone",
        "shipped_at",
        "promised_by",
        "created_at",
        "updated_at",
        "next_check_at",
    ]

    def order_rows() -> Iterator[Sequence[Any]]:
        for o in orders:
            d = o["destination"]
            shipped = datetime.fromisoformat(o["shipped_at"].replace("Z", "+00:00"))
            yield (
                o["id"],
                o["marketplace"],
                d["country"],
                d.get("postal_code"),
                d.get("city"),
                o["timezone"],
                shipped,
                o["promised_by"],
                now,
                now,
                None,
            )

    _copy(engine, "orders", order_cols, order_rows())
    parcel_cols = [
        "order_id",
        "tracking_number",
        "other_numbers",
        "sources",
        "tracking_state",
        "next_poll_at",
        "poll_failures",
    ]
    src = json.dumps(list(sources))

    def parcel_rows() -> Iterator[Sequence[Any]]:
        for o in orders:
            for number in o["tracking_numbers"]:
                yield (o["id"], number, "[]", src, "pending", next_poll_at, 0)

    _copy(engine, "parcels", parcel_cols, parcel_rows())
    with engine.begin() as conn:
        conn.execute(sa.text("ANALYZE orders; ANALYZE parcels"))


def sim_orders(base_url: str) -> list[dict[str, Any]]:
    import requests

    text = requests.get(f"{base_url}/_sim/orders", params={"format": "jsonl"}, timeout=300).text
    return [json.loads(line) for line in io.StringIO(text) if line.strip()]


def utcnow() -> datetime:
    return datetime.now(UTC)


def service_env(
    engine: Engine, redis_url: str, sim_base: str | None = None, **extra: str
) -> dict[str, str]:
    env = {
        "TRACKER_DATABASE_URL": database_url(engine),
        "TRACKER_REDIS_URL": redis_url,
        "TRACKER_SOURCES": "cainiao,17track",
        "TRACKER_17TRACK_KEY": "sim-key",
        "TRACKER_AFTERSHIP_KEY": "sim-key",
        "TRACKER_CAINIAO_RATE": "100000/1",
        "TRACKER_17TRACK_RATE": "100000/1",
        "TRACKER_WEBHOOK_ALLOW_PRIVATE": "1",
        "TRACKER_LOG_FORMAT": "text",
    }
    if sim_base is not None:
        from tracker.sim.server import env_for

        env.update(env_for(sim_base))
    env.update(extra)
    return env
