"""`tracker serve`: api + worker + beat for one machine, as child processes, one log stream.

Before anything starts, Redis must answer (else one line says what to start, exit 3) and the
database is migrated. Then the three children run in their own process groups, so a Ctrl-C in
the terminal reaches only us and we stop them in order: SIGTERM (Celery's warm shutdown
finishes the running tasks; acks_late puts back anything cut short), wait, SIGKILL whatever is
left of each group after the grace period. We exit 0.

No restarts: a child that dies on its own means something is wrong (a bad setting, a port in
use, Redis gone for good). We stop the others, name the child and exit 1; a supervisor
(systemd, compose) owns the restart policy, and it restarts all three together.

Logs: each child writes JSON lines (tracker.logs); we add `"process": "<name>"` to each and pass
it on to stdout. A line that is not JSON (a crash before logging was set up) is wrapped in one,
or prefixed with the name in text format, so nothing is lost and the stream stays one format.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import FrameType
from typing import IO, Final
from urllib.parse import urlsplit, urlunsplit

import orjson
import redis

from tracker.logs import Redactor
from tracker.secretbox import startup_warning
from tracker.settings import Settings

EXIT_OK: Final = 0
EXIT_CHILD_DIED: Final = 1
EXIT_UNAVAILABLE: Final = 3
GRACE_SECONDS: Final = 30.0  # Celery's warm shutdown waits for running tasks (limit 120 s)
POLL_SECONDS: Final = 0.2
WORKER_CONCURRENCY: Final = 2
FAST_CONCURRENCY: Final = 2  # one child recycling (CEL-9) leaves the other answering
ALL_QUEUES: Final = "lookups,polls,webhooks,celery"
FAST_QUEUES: Final = "lookups,webhooks"
REDIS_TIMEOUT: Final = 3.0
# prometheus_client multiprocess mode: every child writes its samples here, /metrics sums them
MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
# tells the children that start-up notices (secrets stored unencrypted) are ours to say, once
SERVE_CHILD_ENV: Final = "TRACKER_SERVE_CHILD"


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    pump: threading.Thread | None = field(default=None, repr=False)


def commands(settings: Settings) -> list[Child]:
    """The README's commands, with the interpreter we run under (no PATH surprises).

    Two workers: one takes every queue, the other only lookups and webhooks, so an on-demand
    lookup or an alert never waits behind a backlog of scheduled polls (reliability CEL-11).
    """
    python, level = sys.executable, settings.log_level
    celery = [python, "-m", "celery", "-A", "workers.app"]
    return [
        Child("api", [python, "-m", "tracker.cli", "api"]),
        Child("worker", _worker(celery, level, ALL_QUEUES, WORKER_CONCURRENCY, "serve")),
        Child("worker-fast", _worker(celery, level, FAST_QUEUES, FAST_CONCURRENCY, "serve-fast")),
        Child("beat", [*celery, "beat", "--loglevel", level]),
    ]


def _worker(celery: list[str], level: str, queues: str, concurrency: int, name: str) -> list[str]:
    return [
        *celery,
        "worker",
        "--loglevel",
        level,
        "-Q",
        queues,
        "-O",
        "fair",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--concurrency",
        str(concurrency),
        "--hostname",
        f"{name}-{os.getpid()}@%h",
    ]


# ----------------------------------------------------------------------------- pre-flight


def safe_url(url: str) -> str:
    """The URL with any password replaced, fit for a message."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def redis_problem(url: str) -> str | None:
    """None if Redis answers PING; else the one line a person needs."""
    client = redis.Redis.from_url(
        url, socket_connect_timeout=REDIS_TIMEOUT, socket_timeout=REDIS_TIMEOUT
    )
    try:
        client.ping()
    except redis.AuthenticationError:
        return (
            f"Redis at {safe_url(url)} refused our credentials: "
            "fix the password in TRACKER_REDIS_URL"
        )
    except redis.RedisError:
        return (
            f"Redis is not reachable at {safe_url(url)}: start it with `redis-server` "
            "(Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis) "
            "or set TRACKER_REDIS_URL"
        )
    finally:
        client.close()
    return None


def migrate(settings: Settings) -> None:
    from tracker.store.db import make_engine, upgrade

    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()


# ----------------------------------------------------------------------------- log stream


class LogStream:
    """Merges children's lines into one stream, one whole line at a time."""

    def __init__(self, out: IO[str], json_format: bool, redactor: Redactor | None = None) -> None:
        self.out, self.json_format = out, json_format
        # a child's lines written before its logging was set up (a traceback, a banner) never
        # went through its redactor: every line is redacted here once more
        self.redact = redactor or Redactor()
        self._lock = threading.Lock()

    def line(self, process: str, raw: bytes) -> None:
        text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if text.strip():
            self._write(self._render(process, text))

    def say(self, message: str, level: str = "INFO") -> None:
        """A line of our own, in the stream's format."""
        self._write(self._render("serve", message, level, own=True))

    def _render(self, process: str, text: str, level: str = "INFO", own: bool = False) -> str:
        if not self.json_format:
            return f"{process:<6} | {text}"
        if not own:
            try:
                doc = orjson.loads(text)
            except orjson.JSONDecodeError:
                doc = None
            if isinstance(doc, dict):
                return orjson.dumps({**doc, "process": process}).decode()
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return orjson.dumps(
            {
                "ts": stamp,
                "level": level,
                "logger": f"tracker.serve.{process}",
                "message": text,
                "process": process,
            }
        ).decode()

    def _write(self, line: str) -> None:
        line = self.redact(line)
        with self._lock:
            self.out.write(line + "\n")
            self.out.flush()

    def pump(self, process: str, pipe: IO[bytes]) -> None:
        for raw in iter(pipe.readline, b""):
            self.line(process, raw)
        pipe.close()


# ----------------------------------------------------------------------------- supervision


class Supervisor:
    def __init__(
        self,
        children: Sequence[Child],
        stream: LogStream,
        env: Mapping[str, str],
        grace: float = GRACE_SECONDS,
    ) -> None:
        self.children, self.stream, self.env, self.grace = list(children), stream, env, grace
        self.stopping = threading.Event()

    def start(self) -> None:
        for child in self.children:
            child.process = subprocess.Popen(
                child.argv,
                env=dict(self.env),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches us only; we stop them in order
            )
            assert child.process.stdout is not None
            child.pump = threading.Thread(
                target=self.stream.pump,
                name=f"log-{child.name}",
                args=(child.name, child.process.stdout),
                daemon=True,
            )
            child.pump.start()
            self.stream.say(f"started {child.name} (pid {child.process.pid})")

    def watch(self) -> Child | None:
        """Block until asked to stop (None) or until a child exits (that child)."""
        while not self.stopping.wait(POLL_SECONDS):
            for child in self.children:
                if child.process is not None and child.process.poll() is not None:
                    return child
        return None

    def stop(self) -> None:
        for child in self.children:
            _signal_leader(child, signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        for child in self.children:
            if child.process is None:
                continue
            try:
                child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.stream.say(
                    f"{child.name} did not stop in {self.grace:.0f} s: killing it", "WARNING"
                )
            _kill_group(child)  # pool children left behind by a leader that exited
            child.process.wait()
        for child in self.children:
            if child.pump is not None:
                child.pump.join(timeout=2)


def _signal_leader(child: Child, signum: int) -> None:
    if child.process is not None and child.process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            child.process.send_signal(signum)


def _kill_group(child: Child) -> None:
    if child.process is None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is empty
        os.killpg(child.process.pid, signal.SIGKILL)


# ----------------------------------------------------------------------------- entry point


def child_env(base: Mapping[str, str], metrics_dir: str) -> dict[str, str]:
    env = dict(base)
    env[MULTIPROC_ENV] = metrics_dir
    env[SERVE_CHILD_ENV] = "1"
    env["PYTHONUNBUFFERED"] = "1"  # lines reach the merged stream as they are written
    return env


def serve(
    settings: Settings,
    *,
    children: Sequence[Child] | None = None,
    out: IO[str] | None = None,
    err: IO[str] | None = None,
    env: Mapping[str, str] | None = None,
    grace: float = GRACE_SECONDS,
) -> int:
    """Run api + worker + beat until Ctrl-C/SIGTERM (0) or until one of them dies (1)."""
    out, err = out or sys.stdout, err or sys.stderr
    problem = redis_problem(settings.redis_url)
    if problem is not None:
        err.write(f"tracker: {problem}\n")
        return EXIT_UNAVAILABLE
    migrate(settings)
    stream = LogStream(out, settings.log_format == "json", Redactor.from_settings(settings))
    warning = startup_warning(settings)
    if warning is not None:
        stream.say(warning, "WARNING")
    metrics_dir = tempfile.mkdtemp(prefix="tracker-metrics-")
    try:
        supervisor = Supervisor(
            children or commands(settings), stream, child_env(env or os.environ, metrics_dir), grace
        )
        return _run(supervisor, stream, err)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _run(supervisor: Supervisor, stream: LogStream, err: IO[str]) -> int:
    # The handlers stay installed until the children are gone: a second Ctrl-C while they
    # stop must not leave them running behind an interrupted `tracker serve`.
    restore = _on_stop_signals(supervisor.stopping.set)
    try:
        supervisor.start()
        died = supervisor.watch()
        if died is None:
            stream.say("stopping: api, worker and beat")
        else:
            code = died.process.returncode if died.process else None
            stream.say(
                f"{died.name} exited unexpectedly (code {code}): stopping the others", "ERROR"
            )
        supervisor.stop()
    finally:
        restore()
    if died is None:
        stream.say("stopped")
        return EXIT_OK
    err.write(f"tracker: {died.name} exited unexpectedly (code {code}); see its lines above\n")
    return EXIT_CHILD_DIED


def _on_stop_signals(stop: Callable[[], None]) -> Callable[[], None]:
    """Call `stop` on SIGINT/SIGTERM; returns a function that puts the old handlers back."""

    def handler(_signum: int, _frame: FrameType | None) -> None:
        stop()

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for signum, previous in old.items():
            signal.signal(signum, previous)

    return restore


def main() -> int:
    """`python -m tracker.serve`: the same as `tracker serve`."""
    from tracker.errors import ConfigurationError

    try:
        settings = Settings.from_env(os.environ)
    except ConfigurationError as exc:
        sys.stderr.write(f"tracker: {exc}\n")
        return 2
    return serve(settings)


if __name__ == "__main__":
    sys.exit(main())
