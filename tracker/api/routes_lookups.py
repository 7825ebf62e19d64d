"""/v1/lookups (queued on-demand lookups) and /v1/alerts (read since a cursor)."""

from __future__ import annotations

import dataclasses
import threading
import time
from functools import partial
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from tracker.api.context import Context, Principal, context, enqueue, principal
from tracker.api.routes_orders import COMMON, NOT_FOUND
from tracker.api.schemas import AlertList, AlertOut, LookupIn, LookupOut, LookupQueued
from tracker.metrics import LOOKUPS
from tracker.store import access, outbox

if TYPE_CHECKING:
    from tracker.service.lookups import Announcements

MAX_WAIT = 10.0
# A waiting GET is woken when the worker announces the answer (Redis pub/sub); it also re-reads
# the lookup this often, for an answer stored without an announcement.
POLL_EVERY = 0.25

router = APIRouter(tags=["lookups"], responses=COMMON)


@router.post("/v1/lookups", status_code=202, response_model=LookupQueued)
def create_lookup(
    body: LookupIn,
    ctx: Annotated[Context, Depends(context)],
    who: Annotated[Principal, Depends(principal)],
) -> LookupQueued:
    """Queue a lookup ahead of scheduled polls; read the answer with GET /v1/lookups/{id}."""
    from tracker.service.lookups import request_lookup

    lookup_id = enqueue(
        lambda: request_lookup(
            ctx.engine,
            ctx.redis,
            ctx.queue,
            body.tracking_number,
            body.source,
            who.token_id,
            ctx.now(),
        )
    )
    LOOKUPS.inc()
    return LookupQueued(id=lookup_id)


_STATE_LOCK = threading.Lock()


def _announcements(request: Request, ctx: Context) -> Announcements:
    """The app's one listener for answered lookups, made on first use."""
    from tracker.service.lookups import Announcements

    state = request.app.state
    with _STATE_LOCK:
        if getattr(state, "lookup_announcements", None) is None:
            state.lookup_announcements = Announcements(ctx.redis)
        found: Announcements = state.lookup_announcements
    return found


def _read(ctx: Context, lookup_id: str, token_id: int) -> access.LookupRow | None:
    # one SELECT: autocommit spares the BEGIN and the ROLLBACK round trips around it
    with ctx.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        return access.get_lookup(conn, lookup_id, token_id=token_id)


@router.get("/v1/lookups/{lookup_id}", response_model=LookupOut, responses=NOT_FOUND)
async def get_lookup(
    request: Request,
    lookup_id: Annotated[str, Path(min_length=1, max_length=64)],
    ctx: Annotated[Context, Depends(context)],
    who: Annotated[Principal, Depends(principal)],
    wait: Annotated[float, Query(ge=0, le=MAX_WAIT, description="seconds to wait")] = 0,
) -> LookupOut:
    """The lookup and, once done, its report. Only the token that asked can read it (404 for
    anyone else, as for an unknown id). With `wait`, answers as soon as it is done.

    Async so that a waiting GET holds no thread of the pool; each database read takes one."""
    from tracker.service.lookups import await_answer_async

    read = partial(run_in_threadpool, _read, ctx, lookup_id, who.token_id)
    deadline = time.monotonic() + wait
    watcher = _announcements(request, ctx)
    row = await await_answer_async(watcher, lookup_id, read, deadline, POLL_EVERY)
    if row is None:
        raise HTTPException(404, f"lookup {lookup_id!r} not found")
    # shallow: asdict would deep-copy the report only for pydantic to copy it again
    fields = {f.name: getattr(row, f.name) for f in dataclasses.fields(row)}
    return LookupOut.model_validate(fields)


@router.get("/v1/alerts", response_model=AlertList, tags=["alerts"])
def list_alerts(
    ctx: Annotated[Context, Depends(context)],
    _who: Annotated[Principal, Depends(principal)],
    since: Annotated[int, Query(ge=0, le=2**62, description="the last alert id seen")] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AlertList:
    """Alerts newer than `since`, oldest first; pass `next_since` back to read on."""
    with ctx.engine.connect() as conn:
        rows = outbox.list_alerts(conn, since, limit)
    return AlertList(
        alerts=[
            AlertOut(
                id=r.id,
                order_id=r.order_id,
                type=r.type,
                key=r.key,
                data=r.data,
                created_at=r.created_at,
            )
            for r in rows
        ],
        next_since=rows[-1].id if rows else since,
    )
