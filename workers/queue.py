"""The real `tracker.service.queue.Queue`: Celery messages by task name, on their queues."""

from __future__ import annotations

from celery import Celery


class CeleryQueue:
    def __init__(self, app: Celery) -> None:
        self.app = app

    def poll(self, source: str, parcel_ids: list[int]) -> None:
        self.app.send_task("workers.tasks.poll_batch", (source, parcel_ids), queue="polls")

    def lookup(self, lookup_id: str) -> None:
        self.app.send_task("workers.tasks.lookup", (lookup_id,), queue="lookups")

    def deliver(self, delivery_id: int, attempts: int) -> None:
        self.app.send_task("workers.tasks.deliver", (delivery_id, attempts), queue="webhooks")


def default_queue() -> CeleryQueue:
    from workers.app import app

    return CeleryQueue(app)
