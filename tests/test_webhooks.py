"""Webhook signing (Standard Webhooks), the retry policy, and SSRF-safe sending."""

from __future__ import annotations

import random
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from standardwebhooks import Webhook

from tracker import webhooks
from tracker.errors import ValidationError
from tracker.model import Alert, AlertType
from tracker.webhooks import MAX_ATTEMPTS, RETRY_SCHEDULE, Step, next_step

VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TS = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
NOW = datetime(2026, 11, 12, 12, 0, tzinfo=UTC)


def test_signature_matches_the_standard_webhooks_test_vector() -> None:
    assert webhooks.sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TS, VECTOR_BODY) == (
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


def test_the_reference_library_verifies_what_we_sign_and_rejects_a_changed_byte() -> None:
    secret = webhooks.generate_secret()
    body = webhooks.payload(_alert(), NOW)
    stamp = int(datetime.now(UTC).timestamp())
    sent = webhooks.headers(secret, "msg_abc", stamp, body)
    assert Webhook(secret).verify(body, sent)["type"] == "order.overdue"
    assert webhooks.verify(secret, sent, body, now=stamp)
    tampered = body.replace(b"A-1001", b"A-1002")
    assert not webhooks.verify(secret, sent, tampered, now=stamp)
    with pytest.raises(Exception, match=r"(?i)signature"):
        Webhook(secret).verify(tampered, sent)


def test_verify_refuses_stale_timestamps_and_missing_headers() -> None:
    secret = webhooks.generate_secret()
    sent = webhooks.headers(secret, "msg_abc", 1_000_000, b"{}")
    assert not webhooks.verify(secret, sent, b"{}", now=1_000_000 + 301)
    assert webhooks.verify(secret, sent, b"{}", now=1_000_000 + 299)
    assert not webhooks.verify(secret, {}, b"{}", now=1_000_000)


def test_generated_secrets_have_the_prefix_and_a_valid_key_length() -> None:
    secret = webhooks.generate_secret()
    assert secret.startswith("whsec_")
    assert 24 <= len(webhooks.secret_key(secret)) <= 64
    assert webhooks.generate_secret() != secret


@pytest.mark.parametrize(("secret", "problem"), [
    ("nope", "must start with whsec_"), ("whsec_!!!", "base64"), ("whsec_AAAA", "24 to 64"),
])
def test_bad_secrets_are_refused_naming_the_field(secret: str, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem) as caught:
        webhooks.secret_key(secret)
    assert caught.value.field == "secret"


def test_webhook_id_is_stable_per_alert_and_endpoint() -> None:
    first = webhooks.webhook_id("A-1:order.overdue:2026-11-11", "ep_1")
    assert first == webhooks.webhook_id("A-1:order.overdue:2026-11-11", "ep_1")
    assert first != webhooks.webhook_id("A-1:order.overdue:2026-11-11", "ep_2")
    assert first.startswith("msg_") and first[4:].isalnum() and "." not in first


def test_payload_shape_is_type_timestamp_data_with_order_id() -> None:
    import json

    body = json.loads(webhooks.payload(_alert(), NOW))
    assert body["type"] == "order.overdue"
    assert body["timestamp"] == "2026-11-12T12:00:00Z"
    assert body["data"]["order_id"] == "A-1001"
    assert body["data"]["promised_end"] == "2026-11-11T00:00:00Z"


def test_oversized_payload_keeps_only_short_scalars_and_says_so() -> None:
    import json

    alert = Alert(AlertType.DELIVERY_SUSPECT, "k", "A-1",
                  {"evidence": [{"detail": "x" * 1000}] * 40, "days_left": 4,
                   "detail": "y" * 30_000})
    body = webhooks.payload(alert, NOW)
    assert len(body) <= webhooks.MAX_PAYLOAD_BYTES
    data = json.loads(body)["data"]
    assert data["truncated"] is True
    assert data["days_left"] == 4
    assert data["order_id"] == "A-1"
    assert "evidence" not in data
    assert len(data["detail"]) == 200


# ----------------------------------------------------------------------------- retry policy


def test_schedule_spans_days() -> None:
    assert MAX_ATTEMPTS == 10
    assert sum(RETRY_SCHEDULE, timedelta()) == timedelta(hours=75, minutes=35, seconds=5)


@pytest.mark.parametrize("code", [200, 201, 204, 299])
def test_2xx_succeeds(code: int) -> None:
    assert next_step(code, 1, NOW).step is Step.SUCCEEDED


def test_410_disables_the_endpoint() -> None:
    assert next_step(410, 1, NOW).step is Step.DISABLE_ENDPOINT


@pytest.mark.parametrize("code", [None, 302, 400, 404, 500])
def test_failures_retry_on_the_schedule_with_jitter(code: int | None) -> None:
    rng = random.Random(7)
    for attempts_made in range(1, MAX_ATTEMPTS):
        step = next_step(code, attempts_made, NOW, rng=rng)
        assert step.step is Step.RETRY and step.at is not None
        nominal = RETRY_SCHEDULE[attempts_made]
        assert nominal * 0.85 <= step.at - NOW <= nominal * 1.15
    assert next_step(code, MAX_ATTEMPTS, NOW).step is Step.FAILED


@pytest.mark.parametrize("code", [429, 502, 503, 504])
def test_slow_down_answers_honour_retry_after(code: int) -> None:
    step = next_step(code, 1, NOW, retry_after=120, rng=random.Random(1))
    assert step.at == NOW + timedelta(seconds=120)
    capped = next_step(code, 1, NOW, retry_after=10**7, rng=random.Random(1))
    assert capped.at == NOW + timedelta(hours=24)


def test_retry_after_is_ignored_for_other_failures() -> None:
    step = next_step(500, 1, NOW, retry_after=3600, rng=random.Random(1))
    assert step.at is not None and step.at - NOW < timedelta(seconds=6)


def test_endpoint_disabled_after_five_days_of_failure() -> None:
    assert not webhooks.should_disable(None, NOW)
    assert not webhooks.should_disable(NOW - timedelta(days=4, hours=23), NOW)
    assert webhooks.should_disable(NOW - timedelta(days=5), NOW)


# ----------------------------------------------------------------------------- targets


@pytest.mark.parametrize(("url", "problem"), [
    ("http://example.com/hook", "https"),
    ("https://user:pw@example.com/hook", "credentials"),
    ("https://example.com:6379/hook", "port 443"),
    ("https://127.0.0.1/hook", "private"),
    ("https://169.254.169.254/latest", "private"),
    ("https://[::ffff:10.0.0.1]/x", "private"),
    ("https://localhost/hook", "private"),
    ("ftp://example.com", r"http\(s\) URL"),
])
def test_registration_refuses_unsafe_urls(url: str, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        webhooks.check_url(url, allow_private=False)


def test_private_targets_allowed_only_by_the_setting() -> None:
    assert webhooks.check_url("http://127.0.0.1:9000/h", allow_private=True)
    assert webhooks.check_url("https://hooks.example.com/x", allow_private=False)


class _Receiver(BaseHTTPRequestHandler):
    hits: list[tuple[str, dict[str, str], bytes]] = []
    status = 200
    extra: dict[str, str] = {}
    big = False

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", 0))
        type(self).hits.append((self.path, dict(self.headers), self.rfile.read(length)))
        self.send_response(self.status)
        for k, v in self.extra.items():
            self.send_header(k, v)
        if self.big:
            self.send_header("content-length", str(10 * 1024 * 1024))
            self.end_headers()
            try:
                for _ in range(160):
                    self.wfile.write(b"x" * 65536)
            except OSError:
                pass
            return
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[_Receiver]]]:
    handler = type("Receiver", (_Receiver,), {"hits": [], "status": 200, "extra": {},
                                               "big": False})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


def test_send_delivers_signed_bytes_to_a_local_receiver(receiver) -> None:  # type: ignore[no-untyped-def]
    base, handler = receiver
    secret = webhooks.generate_secret()
    body = webhooks.payload(_alert(), NOW)
    stamp = int(datetime.now(UTC).timestamp())
    result = webhooks.send(base + "/hook", webhooks.headers(secret, "msg_1", stamp, body), body,
                           allow_private=True)
    assert result.status_code == 200 and result.error is None
    path, got_headers, got_body = handler.hits[0]
    assert path == "/hook" and got_body == body
    assert Webhook(secret).verify(got_body, got_headers)["data"]["order_id"] == "A-1001"


def test_loopback_is_refused_without_the_setting(receiver) -> None:  # type: ignore[no-untyped-def]
    base, handler = receiver
    result = webhooks.send(base + "/hook", {}, b"{}", allow_private=False)
    assert result.status_code is None and result.error
    assert handler.hits == []


def test_private_dns_answers_are_refused_before_connecting(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def resolve(host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", port))]

    def no_connect(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("a connection was attempted")

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    monkeypatch.setattr(socket.socket, "connect", no_connect)
    result = webhooks.send("https://metadata.example.com/x", {}, b"{}", allow_private=False)
    assert result.status_code is None and result.error and "connection" not in result.error


def test_redirects_are_not_followed(receiver) -> None:  # type: ignore[no-untyped-def]
    base, handler = receiver
    handler.status = 302
    handler.extra = {"Location": base + "/elsewhere"}
    result = webhooks.send(base + "/hook", {}, b"{}", allow_private=True)
    assert result.status_code == 302
    assert [hit[0] for hit in handler.hits] == ["/hook"]
    assert next_step(result.status_code, 1, NOW).step is Step.RETRY


def test_huge_answers_are_read_capped(receiver) -> None:  # type: ignore[no-untyped-def]
    base, handler = receiver
    handler.big = True
    result = webhooks.send(base + "/hook", {}, b"{}", allow_private=True)
    assert result.status_code == 200
    assert len(result.response_excerpt) <= webhooks.MAX_RESPONSE_STORED


def test_retry_after_header_is_reported(receiver) -> None:  # type: ignore[no-untyped-def]
    base, handler = receiver
    handler.status = 429
    handler.extra = {"Retry-After": "30"}
    result = webhooks.send(base + "/hook", {}, b"{}", allow_private=True)
    assert (result.status_code, result.retry_after) == (429, 30.0)


def _alert() -> Alert:
    return Alert(AlertType.ORDER_OVERDUE, "A-1001:order.overdue:2026-11-11T00:00:00Z", "A-1001",
                 {"promised_end": datetime(2026, 11, 11, tzinfo=UTC), "days_overdue": 1})
