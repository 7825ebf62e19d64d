"""Structured logs: one JSON object a line, context from bind(), secrets never printed."""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Iterator

import orjson
import pytest
from cryptography.fernet import Fernet

from tracker import logs
from tracker.settings import Settings

SOURCE_KEY = "s3cr3t-17track-key-value"
API_TOKEN = "tok_live_abcdef123456"
SECRET_KEY = Fernet.generate_key().decode()


@pytest.fixture
def settings() -> Settings:
    return Settings.from_env(
        {
            "TRACKER_17TRACK_KEY": SOURCE_KEY,
            "TRACKER_API_TOKENS": f"{API_TOKEN},other-token-xyz",
            "TRACKER_LOG_LEVEL": "DEBUG",
            "TRACKER_SECRET_KEY": SECRET_KEY,
        }
    )


@pytest.fixture
def stream(settings: Settings) -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    out = io.StringIO()
    logs.configure(settings, out)
    yield out
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved:
        root.addHandler(handler)
    root.setLevel(level)
    logs.clear()


def lines(out: io.StringIO) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in out.getvalue().splitlines()]


def test_a_line_is_one_json_object_with_the_required_fields(stream: io.StringIO) -> None:
    logging.getLogger("tracker.test").info("polled %d parcels", 3)
    [doc] = lines(stream)
    assert doc["level"] == "INFO"
    assert doc["logger"] == "tracker.test"
    assert doc["message"] == "polled 3 parcels"
    assert isinstance(doc["ts"], str) and doc["ts"].endswith("Z")


def test_bound_context_and_extra_fields_appear_and_nest(stream: io.StringIO) -> None:
    log = logging.getLogger("tracker.test")
    with logs.bind(task_id="t-1", source="cainiao"), logs.bind(order_id="A-1"):
        log.info("inner", extra={"parcel_ids": [1, 2]})
    with logs.bind(task_id="t-1"):
        pass
    log.info("outside")
    inner, outside = lines(stream)
    assert inner["task_id"] == "t-1"
    assert inner["source"] == "cainiao"
    assert inner["order_id"] == "A-1"
    assert inner["parcel_ids"] == [1, 2]
    assert "task_id" not in outside and "order_id" not in outside


def test_context_does_not_leak_between_threads(stream: io.StringIO) -> None:
    log = logging.getLogger("tracker.test")

    def other() -> None:
        log.info("from the other thread")

    with logs.bind(order_id="A-9"):
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
    [doc] = lines(stream)
    assert "order_id" not in doc


def test_push_and_reset_undo_exactly_what_they_added() -> None:
    with logs.bind(a=1):
        token = logs.push(b=2, c=None)
        assert logs.current() == {"a": 1, "b": 2}
        logs.reset(token)
        assert logs.current() == {"a": 1}
    assert logs.current() == {}


def test_exceptions_are_kept_in_one_line(stream: io.StringIO) -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("tracker.test").exception("failed")
    [doc] = lines(stream)
    assert "ValueError: boom" in str(doc["exc"])


@pytest.mark.parametrize(
    "leak",
    [
        f"calling 17track with key {SOURCE_KEY}",
        f"token {API_TOKEN} accepted",
        "Authorization: Bearer eyJhbGciOi.JIUzI1NiJ9.payload",
        "headers {'17token': 'abcdef0123', 'accept': 'json'}",
        'headers {"as-api-key": "zzz-aftership-999"}',
        "secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw is used",
        "authorization=Basic-dXNlcjpwYXNz",
        f"settings read TRACKER_SECRET_KEY={SECRET_KEY}",
    ],
)
def test_secrets_are_redacted(stream: io.StringIO, leak: str) -> None:
    logging.getLogger("tracker.test").warning(leak)
    text = stream.getvalue()
    for secret in (
        SOURCE_KEY,
        API_TOKEN,
        "eyJhbGciOi",
        "abcdef0123",
        "zzz-aftership-999",
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "dXNlcjpwYXNz",
        SECRET_KEY,
    ):
        assert secret not in text
    assert logs.REDACTED in text


def test_secrets_in_context_extra_and_tracebacks_are_redacted(stream: io.StringIO) -> None:
    log = logging.getLogger("tracker.test")
    with logs.bind(url=f"https://api/?key={SOURCE_KEY}"):
        try:
            raise RuntimeError(f"bad token {API_TOKEN}")
        except RuntimeError:
            log.exception("failed", extra={"headers": {"17token": "abcdef0123"}})
    text = stream.getvalue()
    assert SOURCE_KEY not in text and API_TOKEN not in text and "abcdef0123" not in text
    assert orjson.loads(text)["message"] == "failed"  # still valid JSON after redaction


def test_ordinary_text_is_left_alone() -> None:
    redact = logs.Redactor(["abc"])  # too short to be a secret worth hiding words for
    line = "parcel LP00512345678901 delivered in Berlin; keyboard, tokens and abc are fine"
    assert redact(line) == line


def test_text_format_prints_context_as_pairs() -> None:
    out = io.StringIO()
    root = logging.getLogger()
    saved = list(root.handlers)
    try:
        logs.configure(Settings.from_env({"TRACKER_LOG_FORMAT": "text"}), out)
        with logs.bind(order_id="A-2"):
            logging.getLogger("tracker.test").error("late")
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved:
            root.addHandler(handler)
    assert "ERROR" in out.getvalue()
    assert "tracker.test: late  order_id=A-2" in out.getvalue()


def test_configure_twice_prints_each_line_once(settings: Settings, stream: io.StringIO) -> None:
    logs.configure(settings, stream)
    logging.getLogger("tracker.test").info("once")
    assert len(lines(stream)) == 1


def test_level_comes_from_settings(stream: io.StringIO) -> None:
    logs.configure(Settings.from_env({"TRACKER_LOG_LEVEL": "WARNING"}), stream)
    logging.getLogger("tracker.test").info("hidden")
    logging.getLogger("tracker.test").warning("shown")
    assert [d["message"] for d in lines(stream)] == ["shown"]
