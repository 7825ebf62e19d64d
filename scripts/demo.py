"""`make demo`: the whole service against the simulator, with a receiver printing each alert.

    .venv/bin/python scripts/demo.py [--duration SECONDS] [--keep]

1. starts the simulator with its built-in demo scenario (a few dozen AliExpress orders: clean
   deliveries, fake deliveries of several kinds, overdue and stalled parcels);
2. starts the webhook receiver (`python -m tracker.receiver`) with a fresh whsec_ secret;
3. migrates a throwaway SQLite database, registers the receiver as a webhook endpoint and
   imports the scenario's orders (`tracker webhooks add`, `tracker orders import`);
4. runs `tracker serve` with every source pointed at the simulator, loopback webhooks allowed
   and the sources' quotas raised, so alerts arrive within a minute.

The receiver's lines are printed here; the service's own log goes to `serve.log` in the demo
directory. Ctrl-C (or --duration) stops everything. The demo uses its own Redis database
(DEMO_REDIS_URL, default redis://127.0.0.1:6379/15) and empties it first.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from tracker.serve import redis_problem
from tracker.sim.scenario import load as load_scenario
from tracker.sim.server import env_for
from tracker.webhooks import generate_secret

PYTHON = sys.executable
TRACKER = [PYTHON, "-m", "tracker.cli"]
DEMO_REDIS_URL = os.environ.get("DEMO_REDIS_URL", "redis://127.0.0.1:6379/15")
DEMO_RATE = "50/1"  # the simulator is ours: no need to keep to the real sources' quotas
STOP_GRACE = 40.0


class DemoError(Exception):
    """A step that failed; the message says which and what to do."""


def free_port(preferred: int = 0) -> int:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", preferred))
        except OSError:
            sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, seconds: float, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DemoError(f"{proc.args!r} exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - our own loopback URL
                return
        except OSError:
            time.sleep(0.2)
    raise DemoError(f"{url} did not answer within {seconds:.0f} s")


def service_env(sim_url: str, workdir: Path, api_port: int) -> dict[str, str]:
    sources = sorted({s for p in load_scenario(None).parcels.values() for s in p.sources})
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    env.update(env_for(sim_url))
    env.update({f"TRACKER_{s.upper()}_RATE": DEMO_RATE for s in sources})
    env.update(
        {
            "TRACKER_DATABASE_URL": f"sqlite:///{workdir / 'tracker.db'}",
            "TRACKER_REDIS_URL": DEMO_REDIS_URL,
            "TRACKER_SOURCES": ",".join(sources),
            "TRACKER_WEBHOOK_ALLOW_PRIVATE": "1",
            "TRACKER_API_PORT": str(api_port),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def step(what: str, argv: list[str], env: Mapping[str, str]) -> str:
    print(f"demo: {what}", flush=True)
    done = subprocess.run(argv, env=dict(env), capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        # the command's words only: its arguments may hold the webhook secret
        command = " ".join(a for a in argv[3:] if a.isalpha())
        raise DemoError(
            f"`tracker {command}` failed (exit {done.returncode}): "
            f"{done.stderr.strip() or done.stdout.strip()}"
        )
    return done.stdout


class Demo:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.stopping = threading.Event()

    def spawn(
        self, name: str, argv: list[str], env: Mapping[str, str], log: Path | None = None
    ) -> subprocess.Popen[bytes]:
        """Start a child in its own session; its output goes to `log`, or to a pipe."""
        with open(log or os.devnull, "wb") as sink:  # the child keeps its own copy of the fd
            proc = subprocess.Popen(
                argv,
                env=dict(env),
                stdout=sink if log else subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.children[name] = proc
        return proc

    def relay(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for raw in iter(proc.stdout.readline, b""):
            sys.stdout.write(raw.decode("utf-8", errors="replace"))
            sys.stdout.flush()

    def run(self, duration: float | None, ports: Mapping[str, int]) -> int:
        problem = redis_problem(DEMO_REDIS_URL)
        if problem:
            raise DemoError(problem)
        import redis

        redis.Redis.from_url(DEMO_REDIS_URL).flushdb()  # the demo's own database only
        sim_port = free_port(ports["sim"])
        sim = self.spawn(
            "simulator",
            [PYTHON, "-m", "tracker.sim", "--port", str(sim_port)],
            os.environ,
            self.workdir / "sim.log",
        )
        sim_url = f"http://127.0.0.1:{sim_port}"
        wait_http(f"{sim_url}/_sim/healthz", 20, sim)
        print(f"demo: simulator on {sim_url} (demo scenario)", flush=True)

        secret, receiver_port = generate_secret(), free_port(ports["receiver"])
        record = self.workdir / "alerts.jsonl"
        receiver = self.spawn(
            "receiver",
            [
                PYTHON,
                "-m",
                "tracker.receiver",
                "--port",
                str(receiver_port),
                "--secret",
                secret,
                "--record",
                str(record),
            ],
            os.environ,
        )
        threading.Thread(target=self.relay, args=(receiver,), daemon=True).start()
        wait_http(f"http://127.0.0.1:{receiver_port}/", 20, receiver)

        env = service_env(sim_url, self.workdir, free_port(ports["api"]))
        step("migrating a fresh SQLite database", [*TRACKER, "db", "upgrade"], env)
        step(
            "registering the receiver as a webhook endpoint",
            [*TRACKER, "webhooks", "add", f"http://127.0.0.1:{receiver_port}/", "--secret", secret],
            env,
        )
        orders = self.workdir / "orders.jsonl"
        with urllib.request.urlopen(f"{sim_url}/_sim/orders?format=jsonl") as answer:  # noqa: S310
            orders.write_bytes(answer.read())
        step(
            f"importing the scenario's orders ({orders})",
            [*TRACKER, "orders", "import", str(orders)],
            env,
        )

        log = self.workdir / "serve.log"
        self.spawn("tracker serve", [*TRACKER, "serve"], env, log)
        print(
            f"demo: tracker serve is running (API on port {env['TRACKER_API_PORT']}, "
            f"log: {log}); alerts appear below as they arrive. Ctrl-C stops.",
            flush=True,
        )
        return self.watch(duration)

    def watch(self, duration: float | None) -> int:
        deadline = None if duration is None else time.monotonic() + duration
        while not self.stopping.wait(0.3):
            if deadline is not None and time.monotonic() >= deadline:
                return 0
            for name, proc in self.children.items():
                if proc.poll() is not None:
                    print(
                        f"demo: {name} exited unexpectedly (code {proc.returncode}); "
                        f"see the logs in {self.workdir}",
                        file=sys.stderr,
                        flush=True,
                    )
                    return 1
        return 0

    def stop(self) -> None:
        # the service first (it stops its worker and beat), then what it talks to
        for name in reversed(list(self.children)):
            proc = self.children[name]
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM if name == "tracker serve" else signal.SIGINT)
                try:
                    proc.wait(timeout=STOP_GRACE)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        help="stop after this many seconds (default: until Ctrl-C)",
    )
    parser.add_argument(
        "--workdir", type=Path, default=None, help="keep the database, logs and alerts.jsonl here"
    )
    for name, default in (("sim", 8765), ("receiver", 8900), ("api", 8000)):
        parser.add_argument(
            f"--{name}-port",
            type=int,
            default=default,
            help=f"preferred port of the {name} (0: any free port)",
        )
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="tracker-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    demo = Demo(workdir)
    signal.signal(signal.SIGTERM, lambda *_: demo.stopping.set())
    signal.signal(signal.SIGINT, lambda *_: demo.stopping.set())
    try:
        ports = {"sim": args.sim_port, "receiver": args.receiver_port, "api": args.api_port}
        return demo.run(args.duration, ports)
    except DemoError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 3
    finally:
        print("demo: stopping", flush=True)
        demo.stop()
        if args.workdir is None and not os.environ.get("DEMO_KEEP"):
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
