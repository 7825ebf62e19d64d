"""A small local webhook receiver, for the demo and the end-to-end tests.

    tracker receiver --port 8900 --secret whsec_... [--record alerts.jsonl]
    python -m tracker.receiver ...

Each POST is checked with `tracker.webhooks.verify` (signature and a 5-minute timestamp
tolerance), exactly as a real consumer should, and printed as one line:

    ✔ verified  order.overdue  A-1003  promised 2026-11-10, 3 days overdue, dispute closes ...
    ✘ rejected  (bad signature)  msg_abc...

A good signature is answered 204, a bad one 401. `--record FILE` appends one JSON object per
request (verified or not) to FILE, for tests to read. A webhook-id seen before is marked
"(again)": retries keep their id, so that is how a consumer spots a redelivery.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any, Final

import orjson

from tracker.errors import ValidationError
from tracker.webhooks import generate_secret, secret_key, verify

DEFAULT_PORT: Final = 8900
MAX_BODY: Final = 1024 * 1024


# ----------------------------------------------------------------------------- one line a webhook


def _day(value: Any) -> str:
    return str(value)[:10] if value else "?"


def _days_between(start: Any, end: Any) -> int | None:
    try:
        first = datetime.fromisoformat(str(start).replace("Z", "+00:00"))
        last = datetime.fromisoformat(str(end).replace("Z", "+00:00"))
    except ValueError:
        return None
    return (last - first).days


def _plural(count: Any, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count if count is not None else '?'} {noun}s"


def _parcel(data: Mapping[str, Any]) -> Mapping[str, Any]:
    parcel = data.get("parcel")
    if isinstance(parcel, dict):
        return parcel
    parcels = data.get("parcels")
    return parcels[0] if isinstance(parcels, list) and parcels else {}


def _overdue(data: Mapping[str, Any], sent: Any) -> str:
    late = _days_between(data.get("promised_end"), sent)
    late_text = f"{_plural(late, 'day')} overdue" if late is not None else "overdue"
    return (
        f"promised {_day(data.get('promised_end'))}, {late_text}, dispute closes "
        f"{_day(data.get('dispute_closes_at'))}"
    )


def _deadline(data: Mapping[str, Any], _sent: Any) -> str:
    return (
        f"dispute closes {_day(data.get('dispute_closes_at'))} "
        f"({_plural(data.get('days_left'), 'day')} left): open it now"
    )


def _suspect(data: Mapping[str, Any], _sent: Any) -> str:
    parcel = _parcel(data)
    reasons = data.get("evidence") or parcel.get("reasons") or []
    rules = list(dict.fromkeys(r.get("rule", "?") for r in reasons))  # a rule may fire twice
    return (
        f"{parcel.get('tracking_number', '?')} 'delivered' {_day(parcel.get('delivered_at'))}"
        f" can't be trusted: {', '.join(rules) or 'see the evidence'}; do not confirm"
    )


def _delivered(data: Mapping[str, Any], _sent: Any) -> str:
    parcel = _parcel(data)
    late = data.get("late_by_days")
    suffix = f", {late} days late" if late is not None else ""
    return (
        f"{parcel.get('tracking_number', '?')} delivered {_day(parcel.get('delivered_at'))}{suffix}"
    )


def _parcel_state(data: Mapping[str, Any], _sent: Any) -> str:
    parcel = _parcel(data)
    what = data.get("what") or parcel.get("substatus") or ""
    return f"{parcel.get('tracking_number', '?')}: {what}"


SUMMARIES: Final[dict[str, Callable[[Mapping[str, Any], Any], str]]] = {
    "order.overdue": _overdue,
    "dispute.deadline_near": _deadline,
    "delivery.suspect": _suspect,
    "delivery.confirmed": _delivered,
    "order.delivered_late": _delivered,
    "tracking.stalled": _parcel_state,
    "tracking.exception": _parcel_state,
}


def summary(doc: Mapping[str, Any]) -> str:
    """`order.overdue  A-1003  promised 2026-11-10, 3 days overdue, ...` for one body."""
    kind = str(doc.get("type", "?"))
    data = doc.get("data") if isinstance(doc.get("data"), dict) else {}
    assert isinstance(data, dict)
    describe = SUMMARIES.get(kind)
    detail = describe(data, doc.get("timestamp")) if describe else str(data.get("what", ""))
    return f"{kind}  {data.get('order_id', '?')}  {detail}".rstrip()


# ----------------------------------------------------------------------------- the server


class ReceiverServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        secret: str,
        out: IO[str],
        record: Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        secret_key(secret, "--secret")  # a malformed secret stops us before we listen
        super().__init__(address, ReceiverHandler)
        self.secret, self.out, self.record, self.clock = secret, out, record, clock
        self.seen: set[str] = set()
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}/"

    def accept(self, headers: Mapping[str, str], body: bytes) -> bool:
        """Verify, print and record one webhook; True if its signature holds."""
        ok = verify(self.secret, headers, body, self.clock())
        msg_id = headers.get("webhook-id", "")
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            doc = None
        with self.lock:
            again = ok and msg_id in self.seen
            if ok:
                self.seen.add(msg_id)
            self._print(ok, again, msg_id, doc)
            self._record(ok, again, msg_id, doc, body)
        return ok

    def _print(self, ok: bool, again: bool, msg_id: str, doc: Any) -> None:
        if ok and isinstance(doc, dict):
            line = f"✔ verified  {summary(doc)}{'  (again)' if again else ''}"
        else:
            line = f"✘ rejected  (bad signature)  {msg_id or 'no webhook-id'}"
        self.out.write(line + "\n")
        self.out.flush()

    def _record(self, ok: bool, again: bool, msg_id: str, doc: Any, body: bytes) -> None:
        if self.record is None:
            return
        entry = {
            "verified": ok,
            "again": again,
            "webhook_id": msg_id,
            "received_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "type": doc.get("type") if isinstance(doc, dict) else None,
            "order_id": (doc.get("data") or {}).get("order_id") if isinstance(doc, dict) else None,
            "body": doc if doc is not None else body.decode("utf-8", errors="replace"),
        }
        with self.record.open("ab") as handle:
            handle.write(orjson.dumps(entry) + b"\n")


class ReceiverHandler(BaseHTTPRequestHandler):
    server: ReceiverServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per webhook is printed by the server; access logs would double it

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._answer(413)
            self.close_connection = True
            return
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        self._answer(204 if self.server.accept(headers, body) else 401)

    def do_GET(self) -> None:
        self._answer(200, b"tracker receiver: POST signed webhooks here\n")

    def _answer(self, status: int, body: bytes = b"") -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)


# ----------------------------------------------------------------------------- command line


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="tracker receiver", description="Print and verify incoming tracker webhooks."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--secret", default=None, help="whsec_... (generated if omitted)")
    parser.add_argument(
        "--record",
        type=Path,
        default=None,
        help="append each webhook received to this JSON Lines file",
    )
    return parser.parse_args(argv)


def run(
    host: str, port: int, secret: str | None, record: Path | None, out: IO[str] | None = None
) -> int:
    out = out or sys.stdout
    chosen = secret or generate_secret()
    try:
        server = ReceiverServer((host, port), chosen, out, record)
    except ValidationError as exc:
        sys.stderr.write(f"tracker receiver: {exc}\n")
        return 2
    except OSError as exc:
        sys.stderr.write(f"tracker receiver: can't listen on {host}:{port}: {exc.strerror}\n")
        return 3
    shown = f"secret {chosen}" if secret is None else "secret from --secret"
    out.write(f"tracker receiver: listening on {server.url} ({shown})\n")
    out.flush()
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return run(args.host, args.port, args.secret, args.record)


if __name__ == "__main__":
    sys.exit(main())
