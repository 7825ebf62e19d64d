"""What every request handler needs: settings, the database, Redis, the queue, the clock;
and the cross-cutting checks: bearer tokens, per-token rate limits, "service unavailable".

Tokens (reliability.md SEC-8): those made by `tracker tokens create` live hashed in
`api_tokens`; those listed in TRACKER_API_TOKENS are compared in constant time and get a
revoked row of their own (by hash), so that their lookups have an owner like any other token's
while the row can never authenticate by itself once the token leaves the environment.

A token found in the database is remembered for TOKEN_CACHE_SECONDS (per API process, by
hash), so a request costs no query for it: revoking a token takes effect within that time.

Rate limits (SEC-9) are a moving window per token in Redis (`limits`), shared by every API
process. Redis or the broker being down is a 503 with Retry-After (CEL-14), never a hang.
"""

from __future__ import annotations

import hmac
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import redis
import sqlalchemy as sa
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from limits import parse
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter
from sqlalchemy.engine import Engine

from tracker.secretbox import SecretBox
from tracker.service.queue import Queue
from tracker.settings import Settings
from tracker.store import access
from tracker.store._sql import upsert_insert
from tracker.store.tables import api_tokens

T = TypeVar("T")

DEFAULT_RATE_LIMIT = "20/second"
RETRY_AFTER_UNAVAILABLE = 5  # seconds a client should wait when Redis or the broker is down
TOKEN_CACHE_SECONDS = 5.0  # how long a revoked token may still be accepted by one process
TOKEN_CACHE_SIZE = 10_000  # tokens remembered at most; past that the cache starts over


class Unavailable(Exception):
    """A backing service (database, Redis, the broker) cannot be reached."""

    def __init__(self, service: str) -> None:
        self.service = service
        super().__init__(f"{service} is unavailable; retry shortly")


@dataclass(frozen=True, slots=True)
class Principal:
    token_id: int


@dataclass
class Context:
    settings: Settings
    queue: Queue
    engine: Engine
    redis: redis.Redis
    clock: Callable[[], datetime]
    rate_limit: str = DEFAULT_RATE_LIMIT
    secret_box: SecretBox = field(init=False)  # seals new endpoints' secrets, opens to sign
    _limiter: MovingWindowRateLimiter = field(init=False)
    _item: Any = field(init=False)
    _env_ids: dict[str, int] = field(default_factory=dict, init=False)
    # token hash -> (principal, monotonic expiry); only live tokens, never refusals
    _known: dict[str, tuple[Principal, float]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        storage = RedisStorage(
            self.settings.redis_url,
            socket_connect_timeout=1,
            socket_timeout=1,
            key_prefix="tracker:api:rate",
        )
        self._limiter = MovingWindowRateLimiter(storage)
        self._item = parse(self.rate_limit)
        self.secret_box = SecretBox.from_settings(self.settings)

    def now(self) -> datetime:
        return self.clock()

    # ------------------------------------------------------------------------- tokens

    def authenticate(self, token: str) -> Principal | None:
        digest = access.hash_token(token)
        for secret in self.settings.api_tokens:
            if hmac.compare_digest(secret.reveal().encode(), token.encode()):
                return Principal(self._env_token_id(digest))
        return self._database_token(digest, token)

    def _database_token(self, digest: str, token: str) -> Principal | None:
        known = self._known.get(digest)
        if known is not None and known[1] > time.monotonic():
            return known[0]
        with self.engine.connect() as conn:
            token_id = access.verify_token(conn, token)
        if token_id is None:
            self._known.pop(digest, None)
            return None
        if len(self._known) >= TOKEN_CACHE_SIZE:
            self._known.clear()  # a crude bound: only a flood of distinct tokens gets here
        found = Principal(token_id)
        self._known[digest] = (found, time.monotonic() + TOKEN_CACHE_SECONDS)
        return found

    def _env_token_id(self, digest: str) -> int:
        if digest not in self._env_ids:
            with self.engine.begin() as conn:
                conn.execute(
                    upsert_insert(conn, api_tokens)
                    .values(
                        name="TRACKER_API_TOKENS",
                        token_hash=digest,
                        created_at=self.now(),
                        revoked_at=self.now(),
                    )
                    .on_conflict_do_nothing(index_elements=["token_hash"])
                )
                row_id = conn.execute(
                    sa.select(api_tokens.c.id).where(api_tokens.c.token_hash == digest)
                ).scalar_one()
            self._env_ids[digest] = int(row_id)
        return self._env_ids[digest]

    # ------------------------------------------------------------------------- rate limit

    def retry_after(self, principal: Principal) -> int | None:
        """None if the request may go ahead; else the seconds until it may."""
        key = f"token:{principal.token_id}"
        try:
            if self._limiter.hit(self._item, key):
                return None
            reset, _remaining = self._limiter.get_window_stats(self._item, key)
        except redis.RedisError as exc:
            raise Unavailable("redis") from exc
        return max(1, math.ceil(reset - time.time()))


def unavailable_error(exc: BaseException) -> str | None:
    """Which service a broker or Redis failure means, or None if it is something else.

    Celery's publish gives up after about 0.4 s and raises kombu's OperationalError; the
    library never imports kombu, so that one is recognised by name.
    """
    if isinstance(exc, redis.RedisError | ConnectionError | TimeoutError):
        return "redis"
    if type(exc).__module__.startswith("kombu") and type(exc).__name__ == "OperationalError":
        return "redis"
    if isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError):
        return "database"
    return None


def enqueue(call: Callable[[], T]) -> T:
    """Run a queue call; a broker that cannot be reached becomes `Unavailable`."""
    try:
        return call()
    except Exception as exc:
        service = unavailable_error(exc)
        if service is None:
            raise
        raise Unavailable(service) from exc


async def context(request: Request) -> Context:
    # async: a plain function dependency would cost a trip through the thread pool
    ctx: Context = request.app.state.ctx
    return ctx


_bearer = HTTPBearer(
    auto_error=False, description="A token from `tracker tokens create` or TRACKER_API_TOKENS"
)


def principal(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),  # noqa: B008
) -> Principal:
    """The caller, authenticated and inside its rate limit (401 / 429 otherwise)."""
    ctx: Context = request.app.state.ctx
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(401, "missing bearer token", {"WWW-Authenticate": "Bearer"})
    found = ctx.authenticate(credentials.credentials)
    if found is None:
        raise HTTPException(401, "invalid or revoked token", {"WWW-Authenticate": "Bearer"})
    wait = ctx.retry_after(found)
    if wait is not None:
        raise HTTPException(429, "rate limit exceeded", {"Retry-After": str(wait)})
    return found
