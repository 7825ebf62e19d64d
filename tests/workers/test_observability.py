"""Celery signal hooks: every line a task logs carries its context; results become metrics."""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from celery import Celery
from cryptography.fernet import Fernet
from prometheus_client.parser import text_string_to_metric_families

from tracker import logs, metrics
from tracker.settings import Settings
from workers import observability

app = Celery("observability-test")
app.conf.update(task_always_eager=True, broker_url="memory://", result_backend=None)
seen: list[dict[str, Any]] = []


@app.task(name=observability.POLL_TASK)
def poll_batch(source: str, parcel_ids: list[int]) -> dict[str, Any]:
    logging.getLogger("tracker.polling").info("polling")
    seen.append(logs.current())
    return {"source": source, "outcome": "ok", "parcels": len(parcel_ids)}


@app.task(name=observability.DELIVER_TASK)
def deliver(delivery_id: int, attempts: int) -> str:
    logging.getLogger("tracker.deliveries").info("sent")
    return "succeeded"


@app.task(name="workers.tasks.broken_poll")
def broken() -> None:
    raise RuntimeError("no")


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    out = io.StringIO()
    logs.configure(Settings.from_env({}), out)
    seen.clear()
    yield out
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved:
        root.addHandler(handler)
    root.setLevel(level)
    logs.clear()


def value(name: str, **labels: str) -> float:
    body, _ = metrics.render(None)
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


def test_a_task_logs_with_its_id_name_source_and_parcels(stream: io.StringIO) -> None:
    result = poll_batch.apply(args=("cainiao", [7, 8]), task_id="task-123")
    assert result.successful()
    line = orjson.loads(stream.getvalue().splitlines()[0])
    assert line["message"] == "polling"
    assert line["task_id"] == "task-123"
    assert line["task_name"] == "workers.tasks.poll_batch"
    assert line["source"] == "cainiao"
    assert line["parcel_ids"] == [7, 8]


def test_context_ends_with_the_task(stream: io.StringIO) -> None:
    poll_batch.apply(args=("cainiao", [1]))
    logging.getLogger("tracker.test").info("after")
    after = orjson.loads(stream.getvalue().splitlines()[-1])
    assert "task_id" not in after and "source" not in after
    assert logs.current() == {}


def test_a_finished_poll_counts_by_source_and_outcome(stream: io.StringIO) -> None:
    before = value("tracker_polls_total", source="usps", outcome="ok")
    seconds = value("tracker_poll_seconds_count", source="usps")
    poll_batch.apply(args=("usps", [1, 2, 3]))
    assert value("tracker_polls_total", source="usps", outcome="ok") == before + 1
    assert value("tracker_poll_seconds_count", source="usps") == seconds + 1


def test_a_delivery_counts_its_result_and_binds_its_id(stream: io.StringIO) -> None:
    before = value("tracker_webhook_deliveries_total", result="succeeded")
    deliver.apply(args=(42, 0))
    assert value("tracker_webhook_deliveries_total", result="succeeded") == before + 1
    line = orjson.loads(stream.getvalue().splitlines()[0])
    assert line["delivery_id"] == 42


def test_unknown_tasks_get_id_and_name_only(stream: io.StringIO) -> None:
    result = broken.apply(task_id="t-9")
    assert result.failed()
    assert logs.current() == {}


def test_setup_logging_receiver_installs_json_lines(capfd: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = list(root.handlers)
    try:
        observability.on_setup_logging()
        logging.getLogger("celery.worker").warning("ready")
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved:
            root.addHandler(handler)
    line = orjson.loads(capfd.readouterr().err.strip().splitlines()[-1])
    assert line["logger"] == "celery.worker" and line["message"] == "ready"


@pytest.mark.parametrize(
    ("env", "warned"),
    [
        ({}, 1),
        ({"TRACKER_SECRET_KEY": Fernet.generate_key().decode()}, 0),
        ({"TRACKER_SERVE_CHILD": "1"}, 0),  # `tracker serve` said it already, once
    ],
    ids=["no-key", "key", "under-serve"],
)
def test_a_ready_worker_warns_once_when_secrets_are_stored_unencrypted(
    stream: io.StringIO, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], warned: int
) -> None:
    for name in [n for n in os.environ if n.startswith("TRACKER_") and n != "TRACKER_TEST_REDIS"]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    observability.on_worker_ready()
    found = [
        line
        for line in map(orjson.loads, stream.getvalue().splitlines())
        if "webhook signing secrets are stored unencrypted" in line["message"]
    ]
    assert [line["level"] for line in found] == ["WARNING"] * warned
