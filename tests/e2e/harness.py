"""Real processes for end-to-end tests: Celery worker and beat started as the README says,
a local webhook receiver that verifies what it gets, and a polling wait."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CELERY = str(Path(sys.executable).with_name("celery"))
WORKER_ARGS = [
    "-A",
    "workers.app",
    "worker",
    "--loglevel",
    "INFO",
    "-O",
    "fair",
    "--without-gossip",
    "--without-mingle",
    "--without-heartbeat",
]


def wait_for(check: Callable[[], Any], timeout: float, what: str, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def children(self) -> list[int]:
        """Pool children of the worker (Linux /proc)."""
        pids: list[int] = []
        for task in Path(f"/proc/{self.popen.pid}/task").glob("*"):
            children = (
                (task / "children").read_text().split() if (task / "children").exists() else []
            )
            pids.extend(int(p) for p in children)
        return pids

    def kill_hard(self) -> None:
        """kill -9 the whole process group (main process and pool children)."""
        with suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(10)

    def stop(self) -> None:
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
                self.popen.wait(20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                self.kill_hard()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class Cluster:
    """Worker and beat processes sharing one environment."""

    env: Mapping[str, str]
    logs: Path
    processes: list[Process] = field(default_factory=list)

    def start(self, name: str, args: list[str]) -> Process:
        log = self.logs / f"{name}-{len(self.processes)}.log"
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
        full_env.update(self.env)
        with log.open("wb") as handle:  # the child keeps its own copy of the descriptor
            popen = subprocess.Popen(
                [CELERY, *args],
                cwd=ROOT,
                env=full_env,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        process = Process(name, popen, log)
        self.processes.append(process)
        return process

    def worker(
        self,
        queues: str = "lookups,polls,webhooks,celery",
        concurrency: int = 2,
        name: str = "worker",
        include: str | None = None,
    ) -> Process:
        return self.start(
            name,
            [
                *WORKER_ARGS,
                "-Q",
                queues,
                "-c",
                str(concurrency),
                "-n",
                f"{name}{len(self.processes)}@%h",
                *(("-I", include) if include else ()),
            ],
        )

    def beat(self) -> Process:
        schedule = self.logs / f"beat-{len(self.processes)}"
        return self.start(
            "beat", ["-A", "workers.app", "beat", "--loglevel", "INFO", "-s", str(schedule)]
        )

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()

    def dump(self) -> str:
        return "\n".join(f"==== {p.name} ====\n{p.output()[-4000:]}" for p in self.processes)


@contextmanager
def cluster(env: Mapping[str, str], logs: Path) -> Iterator[Cluster]:
    running = Cluster(env, logs)
    try:
        yield running
    except BaseException:
        sys.stderr.write(running.dump())
        raise
    finally:
        running.stop()


# ----------------------------------------------------------------------------- receiver


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)  # type: ignore[no-any-return]


class Receiver:
    """A webhook endpoint on loopback that records every request; `fail_first` answers 500
    to the first N requests (to exercise retries)."""

    def __init__(self, fail_first: int = 0) -> None:
        self.received: list[Received] = []
        self.fail_first = fail_first
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with receiver.lock:
                    receiver.received.append(Received(dict(self.headers), body))
                    failing = receiver.fail_first > 0
                    receiver.fail_first -= 1 if failing else 0
                self.send_response(500 if failing else 200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def of_type(self, alert_type: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.json.get("type") == alert_type]
