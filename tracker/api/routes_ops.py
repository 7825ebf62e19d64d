"""Open endpoints: /healthz, /metrics, and signed pushes from sources (/v1/inbound/{source})."""

from __future__ import annotations

from typing import Annotated, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool

from tracker import metrics
from tracker.api.context import Context, context
from tracker.api.schemas import ErrorOut, Health, InboundAccepted
from tracker.metrics import INBOUND
from tracker.model import Observation
from tracker.service import polling
from tracker.sources import push

router = APIRouter()


def _check(probe: object) -> str:
    try:
        probe()  # type: ignore[operator]
    except Exception as exc:
        return f"unavailable: {type(exc).__name__}"
    return "ok"


@router.get(
    "/healthz",
    response_model=Health,
    tags=["operations"],
    responses={503: {"model": Health, "description": "a dependency is down"}},
)
def healthz(ctx: Annotated[Context, Depends(context)]) -> JSONResponse:
    """Can we reach the database and Redis? 503 names the one that is down."""

    def database() -> None:
        with ctx.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    checks = {"database": _check(database), "redis": _check(ctx.redis.ping)}
    healthy = all(v == "ok" for v in checks.values())
    body = Health(status="ok" if healthy else "unavailable", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if healthy else 503)


@router.get(
    "/metrics",
    tags=["operations"],
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}
    },
)
def get_metrics(ctx: Annotated[Context, Depends(context)]) -> Response:
    """Prometheus metrics; queue depths are read from Redis now."""
    body, content_type = metrics.render(ctx.redis)
    return Response(body, media_type=content_type)


@router.post(
    "/v1/inbound/{source}",
    status_code=202,
    response_model=InboundAccepted,
    tags=["inbound"],
    responses={
        401: {"model": ErrorOut, "description": "bad or missing signature"},
        413: {"model": ErrorOut, "description": "body too large"},
        503: {"model": ErrorOut, "description": "database unavailable"},
    },
)
async def inbound(
    source: Literal["17track", "aftership"],
    request: Request,
    ctx: Annotated[Context, Depends(context)],
) -> InboundAccepted:
    """A push from 17TRACK or AfterShip. The signature is checked on the raw bytes with the
    source's key (TRACKER_17TRACK_KEY, TRACKER_AFTERSHIP_KEY); the body is kept as received,
    linked to the parcels it names, and analysed at once like a poll's answer (its alerts are
    queued for delivery)."""
    raw = await request.body()
    key = ctx.settings.source(source).key
    header = request.headers.get(push.SIGNATURE_HEADERS[source], "")
    if key is None or not push.verify(source, raw, header, key.reveal()):
        INBOUND.labels(source=source, result="bad_signature").inc()
        raise HTTPException(401, f"bad or missing {push.SIGNATURE_HEADERS[source]} signature")
    observation = push.push_observation(source, raw, ctx.now())
    accepted = await run_in_threadpool(_store_push, ctx, observation)
    INBOUND.labels(source=source, result="accepted").inc()
    return accepted


def _store_push(ctx: Context, observation: Observation) -> InboundAccepted:
    observation_id, linked = polling.ingest(
        ctx.engine, observation, ctx.now(), ctx.settings, ctx.queue.deliver
    )
    return InboundAccepted(observation_id=observation_id, parcels=linked)
