"""tracker: a self-hosted parcel tracking aggregator.

`tracker.lookup(number)` asks the running service (its workers, through Redis) for a fresh
report on one tracking number and waits for the answer; `tracker analyze` and
`tracker.pipeline.run_case` analyse saved payloads offline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from tracker.settings import Settings


def lookup(
    number: str, source: str | None = None, *, wait: float = 30.0, settings: Settings | None = None
) -> dict[str, Any]:
    """Queue an on-demand lookup on the lookups queue (ahead of scheduled polls) and wait for
    the report, as `POST /v1/lookups` and `tracker lookup` do. Raises ValidationError for a
    bad number or source and LookupTimeout if no worker answers within `wait` seconds."""
    import importlib
    import os
    from datetime import UTC, datetime

    import redis

    from tracker.commands import open_engine
    from tracker.service import lookups
    from tracker.settings import Settings as _Settings

    settings = settings or _Settings.from_env(os.environ)
    queue = importlib.import_module("workers.queue").default_queue()  # the Celery shell
    engine = open_engine(settings)  # a fresh database gets its schema first
    cache = redis.Redis.from_url(settings.redis_url)
    try:
        lookup_id = lookups.request_lookup(
            engine, cache, queue, number, source, None, datetime.now(UTC)
        )
        row = lookups.wait_for(engine, lookup_id, wait)
    finally:
        cache.close()
        engine.dispose()
    if row.report is None:
        return {"id": lookup_id, "status": row.status, "error": row.error}
    return {"id": lookup_id, **row.report}
