"""How the library hands work to the workers without importing Celery.

`tracker` never imports celery: the API, the CLI and the services take a `Queue` and call it
after their transaction commits. `workers.queue.CeleryQueue` is the real one (task names and
queues); entry points build it and pass it in.
"""

from __future__ import annotations

from typing import Protocol


class Queue(Protocol):
    def poll(self, source: str, parcel_ids: list[int]) -> None:
        """Fetch and process one batch of parcels from one source (queue `polls`)."""

    def lookup(self, lookup_id: str) -> None:
        """Answer a queued on-demand lookup (queue `lookups`, ahead of polls)."""

    def deliver(self, delivery_id: int, attempts: int) -> None:
        """Send attempt `attempts + 1` of a webhook delivery (queue `webhooks`)."""
