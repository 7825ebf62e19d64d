"""The HTTP API: `create_app(settings, queue)` returns the FastAPI application.

Errors have two shapes, both in the OpenAPI document: a 422 lists its problems, each with the
field in `loc` (pydantic's own and ours alike), and every other error is `{"detail": "..."}`.
Bodies are capped before they are read (1 MiB for orders, 256 KiB for pushes, 16 KiB
elsewhere; reliability.md SEC-9) and a larger one is a 413.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import unquote_to_bytes

import redis as redis_lib
import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tracker import __version__
from tracker.api import routes_lookups, routes_ops, routes_orders, routes_webhooks
from tracker.api.context import (
    RETRY_AFTER_UNAVAILABLE,
    Context,
    Unavailable,
    unavailable_error,
)
from tracker.api.routes_orders import UNION_TAGS
from tracker.errors import NotFoundError, SecretUnreadable, ValidationError
from tracker.service.queue import Queue
from tracker.settings import Settings

log = logging.getLogger("tracker.api")

KIB = 1024
BODY_LIMITS: tuple[tuple[str, int], ...] = (
    ("/v1/orders", 1024 * KIB),
    ("/v1/inbound/", 256 * KIB),
)
DEFAULT_BODY_LIMIT = 16 * KIB
# Connections kept open by the API's own engine. SQLAlchemy's default (5 kept, 10 more opened
# and closed on demand) made the API open and close a PostgreSQL connection per few requests
# at 50 lookups/s: a new connection costs far more CPU, here and in the server, than a query.
API_POOL_SIZE = 20
API_POOL_OVERFLOW = 20
# No ping before each checkout (a round trip and its CPU, twice per lookup): a connection the
# server dropped fails its request as a 503 with Retry-After instead, and that failure makes
# SQLAlchemy discard every pooled connection, so the retry gets fresh ones. Recycling bounds
# how long an idle connection is trusted.
API_POOL_RECYCLE = 1800
_INDEX = re.compile(r"^(?P<name>[^\[]*)\[(?P<index>\d+)\]$")


def _utcnow() -> datetime:
    return datetime.now(UTC)


def body_limit(path: str) -> int:
    for prefix, limit in BODY_LIMITS:
        if path == prefix or (prefix.endswith("/") and path.startswith(prefix)):
            return limit
    return DEFAULT_BODY_LIMIT


class BodyLimit:
    """Refuse a body over the path's cap: by Content-Length at once, else while it streams.

    The body is read here, up to the cap, and handed on whole: an error raised inside the
    app's own read would be turned into a 400 by FastAPI before we could answer 413.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _too_large(limit)(scope, receive, send)
            return
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break  # the client went away: let the app see it
            chunks.append(message.get("body", b""))
            seen += len(chunks[-1])
            if seen > limit:
                await _too_large(limit)(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class PlainURL:
    """Refuse control characters (NUL above all) in the path or the query with a 400 naming
    the problem: no id, cursor or filter may carry one, and PostgreSQL cannot even compare
    text holding a NUL, so such a request would otherwise end as a 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            query = unquote_to_bytes(scope.get("query_string", b""))
            path = scope["path"].encode("utf-8", "surrogateescape")
            if _CONTROL.search(path) or _CONTROL.search(query):
                where = "path" if _CONTROL.search(path) else "query"
                await JSONResponse(
                    {"detail": f"control characters (such as NUL) are not allowed in the {where}"},
                    status_code=400,
                )(scope, receive, send)
                return
        await self.app(scope, receive, send)


_CONTROL = re.compile(rb"[\x00-\x1f\x7f]")


def _too_large(limit: int) -> JSONResponse:
    return JSONResponse({"detail": f"request body larger than {limit} bytes"}, status_code=413)


def field_loc(field: str, root: str = "body") -> list[str | int]:
    """`orders[3].parcels[0].tracking_number` -> ["body", "orders", 3, "parcels", 0, ...]."""
    loc: list[str | int] = [root]
    for part in field.split("."):
        match = _INDEX.match(part)
        if match is None:
            loc.append(part)
            continue
        if match["name"]:
            loc.append(match["name"])
        loc.append(int(match["index"]))
    return loc


def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ValidationError)
    root = getattr(request.state, "error_root", "body")
    item = {"loc": field_loc(exc.field, root), "msg": exc.problem, "type": "value_error"}
    return JSONResponse({"detail": [item]}, status_code=422)


def _request_validation(_request: Request, exc: Exception) -> JSONResponse:
    """pydantic's 422, without the internal tags of the one-or-many orders body."""
    assert isinstance(exc, RequestValidationError)
    items = [
        {
            "loc": [part for part in error["loc"] if part not in UNION_TAGS],
            "msg": error["msg"],
            "type": error["type"],
        }
        for error in exc.errors()
    ]
    return JSONResponse({"detail": items}, status_code=422)


def _not_found(_request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=404)


def _unreadable_secret(_request: Request, exc: Exception) -> JSONResponse:
    """An endpoint's secret that our key cannot open: the server's configuration is at fault,
    so a 500 that says what to fix, never a traceback."""
    log.error("%s", exc)
    return JSONResponse({"detail": str(exc)}, status_code=500)


def _unavailable(_request: Request, exc: Exception) -> JSONResponse:
    service = exc.service if isinstance(exc, Unavailable) else unavailable_error(exc)
    return JSONResponse(
        {"detail": f"{service or 'a backing service'} is unavailable; retry shortly"},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_UNAVAILABLE)},
    )


def create_app(
    settings: Settings,
    queue: Queue,
    engine: Engine | None = None,
    redis: redis_lib.Redis | None = None,
    clock: Callable[[], datetime] = _utcnow,
    *,
    rate_limit: str | None = None,
) -> FastAPI:
    """The API on `settings`' database and Redis (or the `engine` and Redis client given).

    `rate_limit` is per token, in `limits` notation ("20/second", "600/minute"); by default
    TRACKER_API_RATE_LIMIT.
    """
    from tracker.store.db import make_engine

    app = FastAPI(
        title="tracker",
        version=__version__,
        description="Parcel tracking aggregator: orders, reports, lookups, alerts, webhooks.",
    )
    app.state.ctx = Context(
        settings=settings,
        queue=queue,
        engine=engine
        if engine is not None
        else make_engine(
            settings.database_url,
            pool_size=API_POOL_SIZE,
            max_overflow=API_POOL_OVERFLOW,
            pool_pre_ping=False,
            pool_recycle=API_POOL_RECYCLE,
        ),
        redis=redis
        if redis is not None
        else redis_lib.Redis.from_url(
            settings.redis_url, socket_connect_timeout=1, socket_timeout=2
        ),
        clock=clock,
        rate_limit=rate_limit or settings.api_rate_limit,
    )
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(ValidationError, _validation)
    app.add_exception_handler(NotFoundError, _not_found)
    app.add_exception_handler(SecretUnreadable, _unreadable_secret)
    app.add_exception_handler(Unavailable, _unavailable)
    app.add_exception_handler(redis_lib.RedisError, _unavailable)
    for lost in (sa.exc.OperationalError, sa.exc.InterfaceError):  # see API_POOL_RECYCLE
        app.add_exception_handler(lost, _unavailable)
    for router in (
        routes_orders.router,
        routes_lookups.router,
        routes_webhooks.router,
        routes_ops.router,
    ):
        app.include_router(router)
    app.add_middleware(BodyLimit)
    app.add_middleware(PlainURL)
    return app
