"""What one worker process holds for its lifetime: settings, a database engine, a Redis
client, the webhook secret box, the source guards and one HTTP session per source. Built lazily
after the fork, so pool children never share sockets with their parent."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property

import redis
from redis import Redis
from sqlalchemy.engine import Engine

from tracker import sources
from tracker.secretbox import SecretBox
from tracker.settings import Settings
from tracker.sources.http import SourceClient, make_session
from tracker.store.db import make_engine
from workers.guards import Guards


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Context:
    settings: Settings
    _clients: dict[str, SourceClient] = field(default_factory=dict)

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.settings.database_url)

    @cached_property
    def secret_box(self) -> SecretBox:
        """Opens the endpoints' signing secrets (TRACKER_SECRET_KEY)."""
        return SecretBox.from_settings(self.settings)

    @cached_property
    def redis(self) -> Redis:
        return redis.Redis.from_url(self.settings.redis_url, decode_responses=True)

    @cached_property
    def redis_bytes(self) -> Redis:
        """A client that returns bytes (caches of JSON bodies, redis-py locks)."""
        return redis.Redis.from_url(self.settings.redis_url)

    @cached_property
    def guards(self) -> Guards:
        limits = {name: sources.spec(name).quota for name in _all_sources()}
        limits.update(self.settings.rate_limits)
        return Guards(self.settings.redis_url, limits)

    def client(self, source: str) -> SourceClient:
        if source not in self._clients:
            configured = self.settings.source(source)
            self._clients[source] = SourceClient(
                sources.spec(source),
                base_url=configured.url,
                key=configured.key.reveal() if configured.key else None,
                session=make_session(),
            )
        return self._clients[source]

    @contextmanager
    def lock(self, name: str, seconds: float) -> Iterator[bool]:
        """A non-blocking Redis lock (token + compare-and-delete, by redis-py); yields whether
        it was acquired."""
        lock = self.redis.lock(f"tracker:lock:{name}", timeout=seconds, blocking=False)
        acquired = bool(lock.acquire(blocking=False))
        try:
            yield acquired
        finally:
            if acquired:
                # expired meanwhile: another holder may own it now, and keeps it
                with contextlib.suppress(redis.exceptions.LockError):
                    lock.release()


def _all_sources() -> tuple[str, ...]:
    from tracker.model import SOURCE_NAMES

    return SOURCE_NAMES


_context: Context | None = None
_pid: int | None = None


def context() -> Context:
    """This process's context (rebuilt after a fork)."""
    global _context, _pid
    if _context is None or _pid != os.getpid():
        _context = Context(Settings.from_env(os.environ))
        _pid = os.getpid()
    return _context
