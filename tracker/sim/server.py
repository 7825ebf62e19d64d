"""The simulator's HTTP shell: a threaded stdlib server around the pure routing and rendering.

    /<source>/...        the source's real calls (see routes.py), answered from the scenario
    GET  /_sim/healthz   {"ok": true}
    GET  /_sim/stats     request counters (per source, per number, per status, failures)
    POST /_sim/reset     zero the counters and restart the behaviours' selectors
    GET  /_sim/orders    the scenario's orders with absolute times (JSON; ?format=jsonl)
    GET  /_sim/clock     the simulated now; POST {"now": ISO} or {"advance_hours": h} moves it

`SimServer` runs it on a free port for tests: `with SimServer(scenario) as sim: sim.url("usps")`;
`cli.py` serves it from the command line.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from tracker.sim import render
from tracker.sim import scenario as scenarios
from tracker.sim.behaviour import Action, Behaviours
from tracker.sim.codes import SIM_SOURCES
from tracker.sim.orders import resolve_orders
from tracker.sim.routes import BadRequest, Route, route
from tracker.sim.scenario import Behaviour, Scenario, SimParcel
from tracker.sim.stats import Stats
from tracker.sim.view import SourceView, at, resolve

Lookup = tuple[SimParcel | None, SourceView | None]
# Resolved (source, number) views kept, cleared when full. Resolving one costs ~0.5-1 ms of
# the simulator's CPU and a view ~7 KB: 250,000 holds both sources of the 100,000-parcel
# benchmark (~1.3 GB at most, only if that many are asked for). At 20,000, a poll benchmark
# window past 10,000 parcels emptied the cache every few seconds, and the simulator, not
# the service, set the rate.
CACHE_LIMIT = 250_000

KEYED_SOURCES = ("17track", "aftership", "usps", "dhl")


class SimClock:
    """Simulated now: runs `speed` times real time from an anchor; tests may pin or move it."""

    def __init__(self, speed: float, now: datetime | None = None) -> None:
        self._lock = threading.Lock()
        self.speed = 0.0 if now is not None else speed
        self._real = time.time()
        self._sim = (now or datetime.now(UTC)).astimezone(UTC)

    def now(self) -> datetime:
        with self._lock:
            elapsed = (time.time() - self._real) * self.speed
            return self._sim + timedelta(seconds=elapsed)

    def set(self, moment: datetime) -> None:
        with self._lock:
            self._real, self._sim = time.time(), moment.astimezone(UTC)

    def advance(self, hours: float) -> None:
        self.set(self.now() + timedelta(hours=hours))


class SimHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(
        self, address: tuple[str, int], scenario: Scenario, now: datetime | None = None
    ) -> None:
        super().__init__(address, SimHandler)
        self.scenario = scenario
        self.clock = SimClock(scenario.speed, now)
        start = self.clock.now() + timedelta(hours=scenario.start_offset_hours)
        self.start = scenario.start or start
        self.behaviours = Behaviours(scenario)
        self._registered: set[tuple[str, str]] = set()  # scenario.registration's registrations
        self._registered_lock = threading.Lock()
        self.stats = Stats()
        self.stopping = threading.Event()
        self._views: dict[tuple[str, str], Lookup] = {}

    def lookup(self, source: str, number: str) -> Lookup:
        """The parcel `source` knows as `number`, with all its events resolved (cached: the
        scenario and start never change while serving; only `now` does)."""
        key = (source, number)
        hit = self._views.get(key)
        if hit is None:
            parcel = self.scenario.find(source, number)
            full = resolve(parcel, source, number, self.start) if parcel is not None else None
            if len(self._views) >= CACHE_LIMIT:
                self._views.clear()
            hit = self._views[key] = (parcel, full)
        return hit

    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def register(self, source: str, numbers: Sequence[str]) -> set[str]:
        """Register `numbers` with `source`; the ones that were not registered before."""
        with self._registered_lock:
            fresh = {n for n in numbers if (source, n) not in self._registered}
            self._registered.update((source, n) for n in fresh)
        return fresh

    def is_registered(self, source: str, number: str) -> bool:
        return (source, number) in self._registered

    def reset(self) -> None:
        self.stats.reset()
        self.behaviours.reset()


class SimHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: pollers reuse connections
    # Headers and body leave in one segment, without Nagle: otherwise each keep-alive answer
    # waits out the client's delayed ACK (~40 ms) and the server tops out near 100 req/s.
    disable_nagle_algorithm = True
    wbufsize = 64 * 1024  # flushed by the stdlib after every request
    server: SimHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request would drown a benchmark; /_sim/stats has the counts

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        head, _, tail = url.path.lstrip("/").partition("/")
        query = parse_qs(url.query)
        if head == "_sim":
            self._control(method, tail, query, body)
        else:
            self._source(head, method, tail, query, body)

    # ------------------------------------------------------------------------- sources

    def _source(
        self, source: str, method: str, tail: str, query: Mapping[str, list[str]], body: bytes
    ) -> None:
        try:
            call = route(source, method, tail, query, body)
        except BadRequest as exc:
            self.server.stats.count(source, (), exc.status)
            self._send(exc.status, exc.body)
            return
        sim = self.server
        if source in sim.scenario.registration:
            if call.registers:
                self._register(call, source)
                return
            unknown: Lookup = (None, None)
            parcels = {
                n: sim.lookup(source, n) if sim.is_registered(source, n) else unknown
                for n in call.numbers
            }
        else:
            parcels = {n: sim.lookup(source, n) for n in call.numbers}
        found = (p for p, _ in parcels.values() if p is not None)
        action = sim.behaviours.decide(source, call.numbers, found)
        if action.delay_ms and sim.stopping.wait(action.delay_ms / 1000):
            return
        if action.failure is not None:
            self._fail(source, call.numbers, action, lambda: self._render(call, parcels, source))
            return
        status, payload = self._render(call, parcels, source)
        sim.stats.count(source, call.numbers, status)
        self._send(status, payload)

    def _register(self, call: Route, source: str) -> None:
        """A call that registers numbers where the scenario asks for registration (17TRACK
        `register`, AfterShip's create tracking): a number registered before is refused as
        the source refuses it, the others are tracked from now on."""
        numbers = call.numbers
        fresh = self.server.register(source, numbers)
        if source == "17track":
            _, payload = render.seventeentrack_register([(n, None) for n in numbers if n in fresh])
            payload["data"]["rejected"] = [
                {"number": n, "error": {"code": render.ALREADY_REGISTERED,
                                        "message": f"The tracking number '{n}' has registered."}}
                for n in numbers if n not in fresh
            ]  # fmt: skip
            status = 200
        elif fresh:  # AfterShip creates one tracking per call
            known = {n: self.server.lookup(source, n) for n in numbers}
            status, payload = self._render(call, known, source)
        else:
            status, payload = 400, render.AFTERSHIP_EXISTS
        self.server.stats.count(source, numbers, status)
        self._send(status, payload)

    def _render(self, call: Route, parcels: Mapping[str, Lookup], source: str) -> tuple[int, Any]:
        now = self.server.clock.now()
        batch = [
            (n, at(full, now) if full is not None else None) for n, (_, full) in parcels.items()
        ]
        result: tuple[int, Any] = call.answer(batch)
        return result

    def _fail(self, source: str, numbers: Sequence[str], action: Action, real: Any) -> None:
        failure: Behaviour = action.failure  # type: ignore[assignment]
        stats = self.server.stats
        if failure.kind == "hang":
            stats.count(source, numbers, 0, failure="hang")
            self.server.stopping.wait(failure.seconds)
            self.close_connection = True  # the client has given up: answer nothing
            return
        if failure.kind == "rate_limit":
            stats.count(source, numbers, 429, failure="rate_limit")
            self._send(
                429,
                _RATE_LIMITED.get(source, {"message": "Too Many Requests"}),
                headers={"Retry-After": str(failure.retry_after)},
            )
            return
        if failure.kind == "error":
            stats.count(source, numbers, failure.status, failure="error")
            self._send_raw(failure.status, _error_page(failure.status), "text/html")
            return
        stats.count(source, numbers, 200, failure="malformed")
        self._send_raw(200, *_garble(failure.body, real))

    # ------------------------------------------------------------------------- control

    def _control(self, method: str, tail: str, query: Mapping[str, list[str]], body: bytes) -> None:
        sim = self.server
        if tail == "healthz":
            self._send(200, {"ok": True, "scenario": sim.scenario.name})
        elif tail == "stats" and method == "GET":
            self._send(200, sim.stats.snapshot())
        elif tail == "reset" and method == "POST":
            sim.reset()
            self._send(200, {"ok": True})
        elif tail == "orders" and method == "GET":
            orders = resolve_orders(sim.scenario, sim.start)
            if query.get("format") == ["jsonl"]:
                lines = b"".join(orjson.dumps(o) + b"\n" for o in orders)
                self._send_raw(200, lines, "application/x-ndjson")
            else:
                self._send(200, orders)
        elif tail == "clock":
            self._clock(method, body)
        else:
            self._send(404, {"error": f"no simulator call {method} /_sim/{tail}"})

    def _clock(self, method: str, body: bytes) -> None:
        clock = self.server.clock
        if method == "POST":
            try:
                doc = orjson.loads(body or b"{}")
                if "now" in doc:
                    clock.set(datetime.fromisoformat(doc["now"].replace("Z", "+00:00")))
                else:
                    clock.advance(float(doc["advance_hours"]))
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
                self._send(400, {"error": 'expected {"now": ISO} or {"advance_hours": h}'})
                return
        self._send(
            200,
            {
                "now": clock.now().isoformat().replace("+00:00", "Z"),
                "start": self.server.start.isoformat().replace("+00:00", "Z"),
            },
        )

    # ------------------------------------------------------------------------- output

    def _send(self, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> None:
        self._send_raw(status, orjson.dumps(payload), "application/json; charset=utf-8", headers)

    def _send_raw(
        self, status: int, body: bytes, content_type: str, headers: Mapping[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


_RATE_LIMITED: dict[str, Any] = {
    "17track": {"code": 429, "data": {"errors": [{"code": 429, "message": "Too many requests."}]}},
    "aftership": {
        "meta": {
            "code": 429,
            "type": "TooManyRequests",
            "message": "You have exceeded the API call rate limit. "
            "The default limit is 10 requests per second.",
        },
        "data": {},
    },
    "usps": {"apiVersion": "v3", "error": {"code": "429", "message": "Too Many Requests"}},
    "dhl": {
        "title": "Too many requests",
        "status": 429,
        "detail": "Too many requests. Please try again later.",
    },
}


def _error_page(status: int) -> bytes:
    return (
        f"<html><head><title>{status} Server Error</title></head><body>"
        f"<center><h1>{status} Server Error</h1></center><hr><center>nginx</center>"
        "</body></html>\n"
    ).encode()


def _garble(kind: str, real: Any) -> tuple[bytes, str]:
    """A 200 whose body can't be read: a captcha page, the real body cut short, or nothing."""
    if kind == "html":
        page = (
            "<!DOCTYPE html><html><head><title>Access denied</title></head><body>"
            "<p>We have detected unusual traffic from your network. "
            "Please slide to verify.</p></body></html>"
        )
        return page.encode(), "text/html; charset=utf-8"
    if kind == "truncated":
        _, payload = real()
        full = orjson.dumps(payload)
        return full[: max(1, len(full) // 2)], "application/json; charset=utf-8"
    return b"", "application/json; charset=utf-8"


# ----------------------------------------------------------------------------- programmatic use


class SimServer:
    """The simulator on a free port, in a background thread, for tests and the demo."""

    def __init__(
        self,
        scenario: Scenario | str | Path | Mapping[str, Any] | None = None,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        now: datetime | None = None,
    ) -> None:
        self.scenario = as_scenario(scenario)
        self.httpd = SimHTTPServer((host, port), self.scenario, now)
        self._thread: threading.Thread | None = None

    def __enter__(self) -> SimServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self.httpd.stopping.set()  # wakes hanging and slow answers
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def base_url(self) -> str:
        return self.httpd.base_url()

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def url(self, source: str) -> str:
        if source not in SIM_SOURCES:
            raise ValueError(f"the simulator does not speak {source!r}")
        return f"{self.base_url}/{source}"

    def env(self) -> dict[str, str]:
        """`TRACKER_<SOURCE>_URL` (and a placeholder key) for every simulated source."""
        return env_for(self.base_url)

    @property
    def stats(self) -> dict[str, Any]:
        return self.httpd.stats.snapshot()

    def requests(self, source: str | None = None, number: str | None = None) -> int:
        return self.httpd.stats.requests(source, number)

    def reset(self) -> None:
        self.httpd.reset()

    @property
    def clock(self) -> SimClock:
        return self.httpd.clock


def env_for(base_url: str) -> dict[str, str]:
    env = {f"TRACKER_{s.upper()}_URL": f"{base_url}/{s}" for s in SIM_SOURCES}
    env.update({f"TRACKER_{s.upper()}_KEY": "sim-key" for s in KEYED_SOURCES})
    return env


def as_scenario(value: Scenario | str | Path | Mapping[str, Any] | None) -> Scenario:
    """A scenario from itself, a decoded dict, a file path, `synthetic:N[:SEED]` (a lazy
    benchmark scenario of N parcels), or None (the demo)."""
    if isinstance(value, Scenario):
        return value
    if isinstance(value, Mapping):
        return scenarios.from_dict(dict(value))
    if isinstance(value, str) and value.startswith("synthetic:"):
        return _synthetic(value)
    return scenarios.load(value)


def _synthetic(spec: str) -> Scenario:
    from tracker.sim.synthetic import generate

    parts = spec.split(":")[1:]
    try:
        n, seed = int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
        return generate(n, seed)
    except (ValueError, IndexError) as exc:
        raise scenarios.ScenarioError(
            "scenario", f"expected synthetic:N[:SEED], got {spec!r}"
        ) from exc


def run(port: int, scenario: str | None) -> None:
    """`tracker sim`: serve on `port` until interrupted (see cli.py)."""
    from tracker.sim.cli import serve  # cli imports this module

    serve(port, scenario)
