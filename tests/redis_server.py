"""One private redis-server per test session, so concurrent test runs on one machine (and
whatever else uses the machine's Redis) never flush each other's keys. Still a real Redis.

The first `url(db)` starts it (whatever conftest imports first) and exports its base URL in
the environment, so worker subprocesses and spawned processes reuse the same server; it is
stopped when the process that started it exits.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
import time

ENV = "TRACKER_TEST_REDIS"


def url(db: int) -> str:
    if not os.environ.get(ENV):
        process = start()
        atexit.register(_stop, process)
    return f"{os.environ[ENV]}/{db}"


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start() -> subprocess.Popen[bytes]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed: run `make test`, which installs it")
    port = _free_port()
    workdir = tempfile.mkdtemp(prefix="tracker-test-redis-")
    process = subprocess.Popen(
        [
            binary,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            workdir,
            "--save",
            "",
            "--appendonly",
            "no",
            "--maxmemory-policy",
            "noeviction",
            "--databases",
            "32",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                os.environ[ENV] = f"redis://127.0.0.1:{port}"
                return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("the test redis-server did not start")
