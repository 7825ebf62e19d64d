"""The Celery application: `celery -A workers.app worker|beat`.

Configuration comes from tracker Settings read from the environment once, at import; a bad
setting stops the process with one line naming the variable.
"""

from __future__ import annotations

import os
import sys

from celery import Celery

from tracker.errors import ConfigurationError
from tracker.settings import Settings
from workers.config import celery_config

try:
    settings = Settings.from_env(os.environ)
except ConfigurationError as exc:  # pragma: no cover - exercised through the CLI tests
    sys.stderr.write(f"tracker worker: {exc}\n")
    raise SystemExit(2) from None

app = Celery("tracker")
app.conf.update(celery_config(settings))
app.autodiscover_tasks(["workers"], related_name="tasks", force=True)

import workers.observability  # noqa: E402, F401 - JSON logs, task context and metrics (signals)
