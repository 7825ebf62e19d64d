"""`tracker serve`: api + worker + beat as children, one log stream, clean stop, clear failures.

These start real Celery worker and beat processes on real Redis (a dedicated db number) and a
temporary SQLite database.
"""

from __future__ import annotations

import io
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest
import redis
import requests
from cryptography.fernet import Fernet

from tests import redis_server
from tracker.logs import Redactor
from tracker.serve import Child, LogStream, safe_url, serve
from tracker.settings import Settings

REDIS_URL = redis_server.url(8)
SERVE = [sys.executable, "-m", "tracker.cli", "serve"]
STOP_WITHIN = 45.0

# The real worker and beat, with a stand-in for the API (plain http.server), so supervision is
# tested on its own; `test_tracker_serve_*` runs the real `tracker api` too.
DRIVER = """
import os, sys
from tracker.serve import Child, commands, serve
from tracker.settings import Settings
settings = Settings.from_env(os.environ)
children = [c for c in commands(settings) if c.name != "api"]
children.insert(0, Child("api", sys.argv[1:]))
sys.exit(serve(settings, children=children))
"""

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    base = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    yield {
        **base,
        "TRACKER_REDIS_URL": REDIS_URL,
        "TRACKER_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
        "TRACKER_API_PORT": str(free_port()),
        "PYTHONUNBUFFERED": "1",
    }
    client.flushdb()
    client.close()


class Running:
    """A `tracker serve` process whose stdout lines are collected as they come."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        self.proc = subprocess.Popen(
            argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in iter(self.proc.stdout.readline, b""):
            self.lines.append(raw.decode("utf-8", errors="replace"))

    def wait_for(self, check: Callable[[], bool], what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        pytest.fail(f"{what} did not happen; serve output:\n{''.join(self.lines)[-4000:]}")

    def saw(self, pattern: str) -> bool:
        return any(re.search(pattern, line) for line in self.lines)

    def count(self, pattern: str) -> int:
        return sum(1 for line in self.lines if re.search(pattern, line))

    def pids(self) -> dict[str, int]:
        found = (re.search(r"started ([\w-]+) \(pid (\d+)\)", line) for line in self.lines)
        return {m[1]: int(m[2]) for m in found if m}

    def finish(self) -> tuple[int, str]:
        code = self.proc.wait(timeout=STOP_WITHIN)
        self._reader.join(timeout=5)
        assert self.proc.stderr is not None
        err = self.proc.stderr.read().decode()
        self.close()
        return code, err

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def assert_no_child_left(pids: dict[str, int]) -> None:
    assert set(pids) == {"api", "worker", "worker-fast", "beat"}
    # each child leads its own process group: an empty group means no pool child survived
    left = [name for name, pid in pids.items() if group_alive(pid)]
    assert left == []


def start(argv: list[str], env: dict[str, str], cwd: Path) -> Running:
    return Running(argv, env, cwd)


def test_supervised_children_stop_cleanly_on_sigint(env: dict[str, str], tmp_path: Path) -> None:
    port = free_port()
    api = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)]
    run = start([sys.executable, "-c", DRIVER, *api], env, tmp_path)
    try:
        run.wait_for(lambda: port_open(port), "the api port opening")
        run.wait_for(lambda: run.count(r"ready\.") >= 2, "both workers' ready lines")
        run.wait_for(lambda: run.saw(r"beat"), "a beat line")
        pids = run.pids()
        started = time.monotonic()
        run.proc.send_signal(signal.SIGINT)
        code, err = run.finish()
    finally:
        run.close()
    assert code == 0, err
    assert time.monotonic() - started < STOP_WITHIN
    assert_no_child_left(pids)
    # one stream: every line is one JSON object naming the process it came from
    docs = [orjson.loads(line) for line in run.lines]
    assert {d["process"] for d in docs} >= {"serve", "api", "worker", "worker-fast", "beat"}
    assert docs[-1]["message"] == "stopped"


def test_a_child_dying_stops_the_others_and_names_it(env: dict[str, str], tmp_path: Path) -> None:
    # the stand-in api dies when told to (a file appears), once the workers are up: a fixed
    # sleep raced the workers' start-up on a loaded machine
    go = tmp_path / "die-now"
    wait_then_die = (
        "import pathlib, sys, time\n"
        "go = pathlib.Path(sys.argv[1])\n"
        "while not go.exists(): time.sleep(0.05)\n"
        "raise SystemExit(5)\n"
    )
    dies = [sys.executable, "-c", wait_then_die, str(go)]
    run = start([sys.executable, "-c", DRIVER, *dies], env, tmp_path)
    try:
        run.wait_for(lambda: run.saw(r"ready\."), "the worker's ready line")
        pids = run.pids()
        go.touch()
        code, err = run.finish()
    finally:
        run.close()
    assert code == 1
    assert err.strip().splitlines()[-1] == (
        "tracker: api exited unexpectedly (code 5); see its lines above"
    )
    assert_no_child_left(pids)


def test_tracker_serve_runs_api_worker_and_beat_and_stops_on_sigint(
    env: dict[str, str], tmp_path: Path
) -> None:
    port = int(env["TRACKER_API_PORT"])
    run = start(SERVE, env, tmp_path)
    try:
        run.wait_for(lambda: port_open(port), "the API accepting connections")
        run.wait_for(lambda: run.saw(r"ready\."), "the worker's ready line")
        health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
        assert health.status_code == 200, health.text
        scrape = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
        assert scrape.status_code == 200
        assert 'tracker_queue_depth{queue="polls"}' in scrape.text  # multiprocess mode serves
        ping = subprocess.run(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "workers.app",
                "inspect",
                "ping",
                "--timeout",
                "5",
            ],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "pong" in ping.stdout, ping.stdout + ping.stderr
        pids = run.pids()
        run.proc.send_signal(signal.SIGINT)
        code, err = run.finish()
    finally:
        run.close()
    assert code == 0, err
    assert_no_child_left(pids)
    assert (tmp_path / "serve.db").exists()  # migrated before anything started


def test_unreachable_redis_is_one_clear_line_and_exit_3(
    env: dict[str, str], tmp_path: Path
) -> None:
    env = {**env, "TRACKER_REDIS_URL": f"redis://:hunter2@127.0.0.1:{free_port()}/0"}
    done = subprocess.run(SERVE, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 3
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("tracker: Redis is not reachable at redis://:***@127.0.0.1:")
    assert "start it with `redis-server`" in lines[0] and "TRACKER_REDIS_URL" in lines[0]
    assert "hunter2" not in done.stderr
    assert not (tmp_path / "serve.db").exists()  # nothing was done


@pytest.mark.parametrize("with_key", [False, True], ids=["no-key", "key"])
def test_serve_alone_warns_once_that_secrets_are_stored_unencrypted(
    env: dict[str, str], with_key: bool
) -> None:
    if with_key:
        env = {**env, "TRACKER_SECRET_KEY": Fernet.generate_key().decode()}
    # a child that says whether serve told it to leave start-up notices alone, then exits
    says = "import os; print(os.environ.get('TRACKER_SERVE_CHILD'))"
    child = Child("worker", [sys.executable, "-c", says])
    out, err = io.StringIO(), io.StringIO()
    code = serve(Settings.from_env(env), children=[child], out=out, err=err, env=env)
    assert code == 1  # the child exited on its own
    lines = [orjson.loads(line) for line in out.getvalue().splitlines()]
    warned = [line for line in lines if "TRACKER_SECRET_KEY is not set" in line["message"]]
    assert [(w["level"], w["process"]) for w in warned] == (
        [] if with_key else [("WARNING", "serve")]
    )
    assert any(line["message"] == "1" and line["process"] == "worker" for line in lines)


@pytest.mark.parametrize("with_key", [False, True], ids=["no-key", "key"])
def test_the_api_alone_warns_that_secrets_are_stored_unencrypted(
    env: dict[str, str], with_key: bool
) -> None:
    """`tracker api` stores new endpoint secrets: run on its own, it says so too."""
    if with_key:
        env = {**env, "TRACKER_SECRET_KEY": Fernet.generate_key().decode()}
    lines: list[str] = []
    with subprocess.Popen(
        [sys.executable, "-m", "tracker.cli", "api"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append(line)
                if line.startswith("tracker api on"):
                    break
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    assert any(line.startswith("tracker api on") for line in lines), lines
    warned = [line for line in lines if "TRACKER_SECRET_KEY is not set" in line]
    assert len(warned) == (0 if with_key else 1), lines


# ----------------------------------------------------------------------------- the log stream


def test_json_lines_pass_through_with_the_process_name() -> None:
    out = io.StringIO()
    stream = LogStream(out, json_format=True)
    stream.line("worker", b'{"ts": "t", "level": "INFO", "message": "hi", "task_id": "x"}\n')
    stream.line("api", b"Traceback (most recent call last):\n")
    stream.line("api", b"   \n")
    first, second = (orjson.loads(line) for line in out.getvalue().splitlines())
    assert first == {
        "ts": "t",
        "level": "INFO",
        "message": "hi",
        "task_id": "x",
        "process": "worker",
    }
    assert second["message"] == "Traceback (most recent call last):"
    assert second["process"] == "api" and second["logger"] == "tracker.serve.api"


def test_lines_are_redacted_even_when_the_child_did_not_log_them() -> None:
    out = io.StringIO()
    stream = LogStream(out, json_format=False, redactor=Redactor(["sk-live-123456"]))
    stream.line("worker", b"ValueError: bad key sk-live-123456 for https://x/?a=1\n")
    stream.line("api", b"headers: {'Authorization': 'Bearer abc.def'}\n")
    assert "sk-live-123456" not in out.getvalue() and "abc.def" not in out.getvalue()


def test_text_format_prefixes_each_line_with_the_process() -> None:
    out = io.StringIO()
    LogStream(out, json_format=False).line("beat", b"beat: Starting...\n")
    assert out.getvalue() == "beat   | beat: Starting...\n"


def test_passwords_are_hidden_in_messages() -> None:
    assert safe_url("redis://:pw@host:6379/0") == "redis://:***@host:6379/0"
    assert safe_url("redis://user:pw@host/0") == "redis://user:***@host/0"
    assert safe_url("redis://host:6379/0") == "redis://host:6379/0"
