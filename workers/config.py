"""Celery configuration, derived from tracker Settings. Each value is traced to
`reliability.md` (CEL-*, SCH-*): at-least-once delivery made safe by idempotent tasks."""

from __future__ import annotations

from typing import Any

from kombu.entity import Queue

from tracker.settings import Settings

MAX_COUNTDOWN = 300  # countdowns beyond this go to the database, swept by beat
DISPATCH_EVERY = 2.0  # seconds between dispatcher ticks
DELIVERY_SWEEP_EVERY = 2.0
LOOKUP_SWEEP_EVERY = 30.0

QUEUES = ("lookups", "polls", "webhooks", "celery")


def celery_config(settings: Settings) -> dict[str, Any]:
    visibility = settings.visibility_timeout  # CEL-4; tests shorten it to see redelivery
    transport = {
        "visibility_timeout": visibility,
        # kombu >= 5.7: put back unacked messages of dead workers promptly (CEL-4, crash tests)
        "unacked_restore_interval": 5,
        "unacked_restore_throttle": 5,
    }
    return {
        "broker_url": settings.redis_url,
        "result_backend": settings.redis_url,
        "broker_transport_options": transport,
        "result_backend_transport_options": {"visibility_timeout": visibility},
        "visibility_timeout": visibility,
        # SEC-4: JSON only on the wire, never pickle
        "accept_content": ["json"],
        "task_serializer": "json",
        "result_serializer": "json",
        # CEL-1/2/5: acknowledged after the work; redelivered if the worker dies; one at a time
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_time_limit": 120,
        "task_soft_time_limit": 90,
        # CEL-9: recycled by memory first; by count rarely, since every recycle leaves a gap
        # in the pool (at 50 lookups/s, 1,000 a child meant a ~0.5 s stall every minute)
        "worker_max_tasks_per_child": 10_000,
        "worker_max_memory_per_child": 300_000,
        # CEL-8: reconnect forever, never give up on the broker
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "worker_soft_shutdown_timeout": 30,
        "task_ignore_result": True,
        "result_expires": 3600,
        # CEL-11: lookups ahead of polls; webhooks on their own queue
        "task_queues": [Queue(name) for name in QUEUES],  # type: ignore[no-untyped-call]
        "task_default_queue": "celery",
        "task_routes": {
            "workers.tasks.lookup": {"queue": "lookups"},
            "workers.tasks.poll_batch": {"queue": "polls"},
            "workers.tasks.deliver": {"queue": "webhooks"},
            "workers.tasks.deliver_batch": {"queue": "webhooks"},
        },
        "timezone": "UTC",
        "enable_utc": True,
        "worker_hijack_root_logger": False,
        "beat_schedule": {
            "dispatch-due-polls": {"task": "workers.tasks.dispatch", "schedule": DISPATCH_EVERY},
            "sweep-deliveries": {
                "task": "workers.tasks.sweep_deliveries",
                "schedule": DELIVERY_SWEEP_EVERY,
            },
            "requeue-stale-lookups": {
                "task": "workers.tasks.requeue_lookups",
                "schedule": LOOKUP_SWEEP_EVERY,
            },
            "sweep-deadlines": {
                "task": "workers.tasks.sweep_deadlines",
                "schedule": float(settings.deadline_sweep_seconds),
            },
        },
        # SCH-1: the schedule lives in Redis and one beat holds the lock (celery-redbeat)
        "beat_scheduler": "redbeat.RedBeatScheduler",
        "redbeat_redis_url": settings.redis_url,
        "redbeat_lock_timeout": 30,
        "beat_max_loop_interval": 5,
    }
