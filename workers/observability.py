"""Logs and metrics for the Celery processes, through Celery's signals (imported by workers.app).

- `setup_logging`: Celery leaves logging to us when this signal has a receiver; we install
  tracker's JSON (or text) lines with redaction, the same as every other process.
- `worker_process_init`: a pool child re-configures (its handler must write to its own stream
  and start with no context inherited from the parent).
- `task_prerun`/`task_postrun`: bind task id and name, and what the arguments say (source,
  parcel ids, delivery id), to every line the task logs; count polls and webhook deliveries
  from what the task returned, so the tasks themselves stay one call into tracker.service.
- `worker_process_shutdown`: tell Prometheus' multiprocess mode the child is gone.
- `worker_ready`: say once, in the worker's main process, that webhook secrets are stored
  unencrypted when TRACKER_SECRET_KEY is not set (under `tracker serve`, serve says it).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from contextvars import Token
from typing import Any

from celery import signals

from tracker import logs, metrics
from tracker.secretbox import startup_warning
from tracker.settings import Settings

log = logging.getLogger("tracker.workers")

POLL_TASK = "workers.tasks.poll_batch"
DELIVER_TASK = "workers.tasks.deliver"
DELIVER_BATCH_TASK = "workers.tasks.deliver_batch"
LOOKUP_TASK = "workers.tasks.lookup"

# task id -> (context token, start time); a pool child runs one task at a time, but a thread
# or eventlet pool may run several, so keyed by id rather than a single slot.
_running: dict[str, tuple[Token[Mapping[str, Any]], float]] = {}


def _settings() -> Settings:
    return Settings.from_env(os.environ)


@signals.setup_logging.connect
def on_setup_logging(**_: Any) -> None:
    logs.configure(_settings())


@signals.worker_process_init.connect
def on_process_init(**_: Any) -> None:
    logs.clear()
    logs.configure(_settings())


@signals.worker_process_shutdown.connect
def on_process_shutdown(pid: int | None = None, **_: Any) -> None:
    metrics.process_exited(pid or os.getpid())


@signals.worker_ready.connect
def on_worker_ready(**_: Any) -> None:
    settings = _settings()
    warning = None if settings.serve_child else startup_warning(settings)
    if warning is not None:
        log.warning(warning)


# ----------------------------------------------------------------------------- task context


def _args_context(task_name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Context fields named by a task's arguments; the tasks take JSON primitives."""
    reader = _ARG_READERS.get(task_name)
    if reader is None:
        return {}
    try:
        return reader(list(args), dict(kwargs))
    except (IndexError, KeyError, TypeError):
        return {}  # a task called with other arguments than we know: log without them


def _poll_args(args: list[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    source = kwargs.get("source", args[0] if args else None)
    parcels = kwargs.get("parcel_ids", args[1] if len(args) > 1 else None)
    return {"source": source, "parcel_ids": parcels}


def _deliver_args(args: list[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    return {"delivery_id": kwargs.get("delivery_id", args[0] if args else None)}


def _deliver_batch_args(args: list[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    items = kwargs.get("items", args[0] if args else None)
    return {"delivery_ids": [item[0] for item in items] if items else None}


def _lookup_args(args: list[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    return {"lookup_id": kwargs.get("lookup_id", args[0] if args else None)}


_ARG_READERS: dict[str, Callable[[list[Any], dict[str, Any]], dict[str, Any]]] = {
    POLL_TASK: _poll_args,
    DELIVER_TASK: _deliver_args,
    DELIVER_BATCH_TASK: _deliver_batch_args,
    LOOKUP_TASK: _lookup_args,
}


@signals.task_prerun.connect
def on_task_prerun(
    task_id: str | None = None, task: Any = None, args: Any = None, kwargs: Any = None, **_: Any
) -> None:
    name = getattr(task, "name", None)
    fields = _args_context(name or "", args or (), kwargs or {})
    token = logs.push(task_id=task_id, task_name=name, **fields)
    _running[task_id or ""] = (token, time.monotonic())


@signals.task_postrun.connect
def on_task_postrun(
    task_id: str | None = None,
    task: Any = None,
    args: Any = None,
    kwargs: Any = None,
    retval: Any = None,
    state: str | None = None,
    **_: Any,
) -> None:
    token, started = _running.pop(task_id or "", (None, time.monotonic()))
    try:
        _count(
            getattr(task, "name", ""), list(args or ()), retval, state, time.monotonic() - started
        )
    finally:
        if token is not None:
            logs.reset(token)


def _count(name: str, args: list[Any], retval: Any, state: str | None, seconds: float) -> None:
    """Metrics from a finished task's result: PollOutcome.as_dict() and the delivery step."""
    if name == POLL_TASK:
        source = retval.get("source") if isinstance(retval, dict) else None
        outcome = retval.get("outcome") if isinstance(retval, dict) else None
        if source is None and args:
            source = args[0]
        if isinstance(source, str):
            metrics.poll_done(source, str(outcome or (state or "unknown").lower()), seconds)
    elif name == DELIVER_TASK:
        outcome = retval if isinstance(retval, str) and state == "SUCCESS" else "error"
        metrics.webhook_attempted(outcome, seconds)
    elif name == DELIVER_BATCH_TASK:
        steps = retval if isinstance(retval, list) and state == "SUCCESS" else None
        if steps is None:  # the task failed: count its deliveries as errors
            steps = ["error"] * len(args[0]) if args and isinstance(args[0], list) else []
        for step in steps:  # the batch's time shared out: the histogram is per delivery
            metrics.webhook_attempted(str(step), seconds / max(len(steps), 1))
