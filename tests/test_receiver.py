"""The demo's webhook receiver, over real HTTP on loopback."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import requests

from tracker import webhooks
from tracker.receiver import ReceiverServer, summary

SECRET = webhooks.generate_secret()
OVERDUE = {
    "type": "order.overdue",
    "timestamp": "2026-11-13T09:00:00Z",
    "data": {
        "order_id": "A-1003",
        "promised_end": "2026-11-10T00:00:00Z",
        "dispute_closes_at": "2026-11-25T00:00:00Z",
        "days_left": 12,
    },
}


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[ReceiverServer, io.StringIO, Path]]:
    out, record = io.StringIO(), tmp_path / "got.jsonl"
    server = ReceiverServer(("127.0.0.1", 0), SECRET, out, record)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield server, out, record
    server.shutdown()
    server.server_close()
    thread.join()


def post(
    url: str, doc: object, secret: str = SECRET, msg_id: str = "msg_1", stamp: int | None = None
) -> requests.Response:
    body = orjson.dumps(doc)
    sent_at = int(time.time()) if stamp is None else stamp
    headers = webhooks.headers(secret, msg_id, sent_at, body)
    return requests.post(url, data=body, headers=headers, timeout=5)


def records(path: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_a_signed_webhook_is_accepted_printed_and_recorded(receiver) -> None:  # type: ignore[no-untyped-def]
    server, out, record = receiver
    response = post(server.url, OVERDUE)
    assert response.status_code == 204
    assert out.getvalue() == (
        "✔ verified  order.overdue  A-1003  promised 2026-11-10, 3 days overdue, "
        "dispute closes 2026-11-25\n"
    )
    [entry] = records(record)
    assert entry["verified"] is True
    assert entry["type"] == "order.overdue" and entry["order_id"] == "A-1003"
    assert entry["body"] == OVERDUE


def test_a_wrong_secret_is_rejected_with_401(receiver) -> None:  # type: ignore[no-untyped-def]
    server, out, record = receiver
    response = post(server.url, OVERDUE, secret=webhooks.generate_secret(), msg_id="msg_x")
    assert response.status_code == 401
    assert out.getvalue() == "✘ rejected  (bad signature)  msg_x\n"
    assert records(record)[0]["verified"] is False


def test_a_tampered_body_and_a_stale_timestamp_are_rejected(receiver) -> None:  # type: ignore[no-untyped-def]
    server, _, _ = receiver
    body = orjson.dumps(OVERDUE)
    headers = webhooks.headers(SECRET, "msg_2", int(time.time()), body)
    tampered = body.replace(b"A-1003", b"A-9999")
    assert requests.post(server.url, data=tampered, headers=headers, timeout=5).status_code == 401
    assert post(server.url, OVERDUE, stamp=int(time.time()) - 3600).status_code == 401
    unsigned = requests.post(server.url, data=body, timeout=5)
    assert unsigned.status_code == 401


def test_a_redelivery_keeps_its_id_and_is_marked_again(receiver) -> None:  # type: ignore[no-untyped-def]
    server, out, record = receiver
    assert post(server.url, OVERDUE, msg_id="msg_same").status_code == 204
    assert post(server.url, OVERDUE, msg_id="msg_same").status_code == 204
    assert out.getvalue().splitlines()[1].endswith("(again)")
    assert [e["again"] for e in records(record)] == [False, True]


def test_an_oversized_body_is_refused(receiver) -> None:  # type: ignore[no-untyped-def]
    server, out, _ = receiver
    response = requests.post(server.url, data=b"x" * (1024 * 1024 + 1), timeout=5)
    assert response.status_code == 413
    assert out.getvalue() == ""


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (
            {
                "type": "delivery.suspect",
                "data": {
                    "order_id": "A-7",
                    "parcel": {"tracking_number": "LP1", "delivered_at": "2026-11-02T10:00:00Z"},
                    "evidence": [{"rule": "location_mismatch"}, {"rule": "sequence_impossible"}],
                },
            },
            "delivery.suspect  A-7  LP1 'delivered' 2026-11-02 can't be trusted: "
            "location_mismatch, sequence_impossible; do not confirm",
        ),
        (
            {
                "type": "dispute.deadline_near",
                "data": {
                    "order_id": "A-8",
                    "dispute_closes_at": "2026-12-01T00:00:00Z",
                    "days_left": 2,
                },
            },
            "dispute.deadline_near  A-8  dispute closes 2026-12-01 (2 days left): open it now",
        ),
        (
            {
                "type": "order.delivered_late",
                "data": {
                    "order_id": "A-9",
                    "late_by_days": 4.5,
                    "parcel": {"tracking_number": "LP9", "delivered_at": "2026-11-20T08:00:00Z"},
                },
            },
            "order.delivered_late  A-9  LP9 delivered 2026-11-20, 4.5 days late",
        ),
        (
            {
                "type": "tracking.stalled",
                "data": {
                    "order_id": "A-10",
                    "what": "no new tracking event for 10 days",
                    "parcel": {"tracking_number": "LP10"},
                },
            },
            "tracking.stalled  A-10  LP10: no new tracking event for 10 days",
        ),
        ({"type": "something.new", "data": {"order_id": "A-11"}}, "something.new  A-11"),
        (
            {
                "type": "order.overdue",
                "timestamp": "2026-11-11T01:00:00Z",
                "data": {"order_id": "A-12", "promised_end": "2026-11-10T00:00:00Z"},
            },
            "order.overdue  A-12  promised 2026-11-10, 1 day overdue, dispute closes ?",
        ),
        (
            {
                "type": "delivery.suspect",
                "data": {
                    "order_id": "A-13",
                    "parcel": {"tracking_number": "LP13", "delivered_at": None},
                    "evidence": [{"rule": "source_disagreement"}] * 2,
                },
            },
            "delivery.suspect  A-13  LP13 'delivered' ? can't be trusted: source_disagreement; "
            "do not confirm",
        ),
    ],
)
def test_each_alert_type_reads_as_one_line(doc: dict[str, object], expected: str) -> None:
    assert summary(doc) == expected


@pytest.mark.parametrize(
    "command",
    [["-m", "tracker.receiver"], ["-m", "tracker.cli", "receiver"]],
    ids=["python-m", "tracker-receiver"],
)
def test_it_runs_as_a_command_until_sigint(tmp_path: Path, command: list[str]) -> None:
    record = tmp_path / "got.jsonl"
    proc = subprocess.Popen(
        [
            sys.executable,
            *command,
            "--port",
            "0",
            "--secret",
            SECRET,
            "--record",
            str(record),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("tracker receiver: listening on http://127.0.0.1:")
        url = first.split("listening on ")[1].split(" ")[0]
        assert post(url, OVERDUE).status_code == 204
        assert proc.stdout.readline().startswith("✔ verified  order.overdue  A-1003")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    assert records(record)[0]["verified"] is True


def test_a_malformed_secret_stops_it_with_one_line() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tracker.cli", "receiver", "--port", "0", "--secret", "nope"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == "tracker receiver: --secret: must start with whsec_"
