"""/v1/webhooks (endpoints: create, list, delete, enable, send a test) and delivery replays."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response

from tracker import webhooks
from tracker.api.context import Context, Principal, context, enqueue, principal
from tracker.api.routes_orders import COMMON, NOT_FOUND
from tracker.api.schemas import (
    DeliveryList,
    DeliveryOut,
    ErrorOut,
    Recovered,
    RecoverIn,
    Replayed,
    RotateIn,
    SecretRotated,
    TestSent,
    WebhookCreated,
    WebhookIn,
    WebhookList,
    WebhookOut,
)
from tracker.secretbox import is_sealed
from tracker.service import deliveries, secrets
from tracker.store import endpoints
from tracker.store.endpoints import EndpointRow

TEST_TYPE = "test.ping"

router = APIRouter(tags=["webhooks"], responses=COMMON)
EndpointId = Annotated[str, Path(min_length=1, max_length=64)]


def _out(row: EndpointRow) -> WebhookOut:
    return WebhookOut(
        id=row.id,
        url=row.url,
        types=row.types,
        enabled=row.enabled,
        disabled_reason=row.disabled_reason,
        secret_encrypted=is_sealed(row.secret),
        created_at=row.created_at,
    )


def _endpoint(ctx: Context, endpoint_id: str) -> EndpointRow:
    with ctx.engine.connect() as conn:
        row = endpoints.get_endpoint(conn, endpoint_id)
    if row is None:
        raise HTTPException(404, f"webhook endpoint {endpoint_id!r} not found")
    return row


@router.post("/v1/webhooks", status_code=201, response_model=WebhookCreated)
def create_webhook(
    body: WebhookIn,
    ctx: Annotated[Context, Depends(context)],
    _who: Annotated[Principal, Depends(principal)],
) -> WebhookCreated:
    """Register an endpoint. The `whsec_` secret is returned once; keep it to verify."""
    url = webhooks.check_url(body.url, ctx.settings.webhook_allow_private)
    secret = body.secret or webhooks.generate_secret()
    webhooks.secret_key(secret)  # a malformed secret is a 422 naming `secret`
    stored = ctx.secret_box.seal(secret)  # encrypted at rest when TRACKER_SECRET_KEY is set
    with ctx.engine.begin() as conn:
        row = endpoints.create_endpoint(
            conn, url, stored, [t.value for t in body.types], now=ctx.now()
        )
    return WebhookCreated(**_out(row).model_dump(), secret=secret)


@router.get("/v1/webhooks", response_model=WebhookList)
def list_webhooks(
    ctx: Annotated[Context, Depends(context)],
    _who: Annotated[Principal, Depends(principal)],
) -> WebhookList:
    with ctx.engine.connect() as conn:
        rows = endpoints.list_endpoints(conn)
    return WebhookList(webhooks=[_out(r) for r in rows])


@router.delete("/v1/webhooks/{endpoint_id}", status_code=204, responses=NOT_FOUND)
def delete_webhook(
    endpoint_id: EndpointId,
    ctx: Annotated[Context, Depends(context)],
    _who: Annotated[Principal, Depends(principal)],
) -> Response:
    """Remove the endpoint, with its deliveries and their attempts."""
    with ctx.engine.begin() as conn:
        if not endpoints.delete_endpoint(conn, endpoint_id):
            raise HTTPException(404, f"webhook endpoint {endpoint_id!r} not found")
    return Response(status_code=204)


@router.post("/v1/webhooks/{endpoint_id}/enable", response_model=WebhookOut, responses=NOT_FOUND)
def enable_webhook(
    endpoint_id: EndpointId,
    ctx: Annotated[Context, Depends(context)],
    _who: Annotated[Principal, Depends(principal)],
) -> WebhookOut:
    """Send to a disabled endpoint again (it was disabled after 410 or days of failures)."""
    _endpoint(ctx, endpoint_id)
    with ctx.engine.begin() as conn:
        endpoints.enable_endpoint(conn, endpoint_id)
    return _out(_endpoint(ctx, endpoint_id))


UNREADABLE_SECRET: dict[int | str, dict[str, Any]] = {
    500: {
        "model": ErrorOut,
        "description": "the endpoint's secret is encrypted and TRACKER_SECRET_KEY cannot open it",
    }
}


@router.post(
    "/v1/webhooks/{endpoint_id}/test",
    response_model=TestSent,
    responses={**NOT_FOUND, **UNREADABLE_SECRET},
)
def send_test_ping(
    endpoint_id: EndpointId,
    ctx: Annotated[Context, Depends(context)],
    _who: Annotated[Principal, Depends(principal)],
) -> TestSent:
    """Send one signed `test.ping` now and say how the endpoint answered.

    Sent from the API process, not queued: deliveries belong to alerts, and alerts to orders,
    so a ping has no delivery row to queue. It goes through the same SSRF-safe sender.
    """
    row = _endpoint(ctx, endpoint_id)
    secret = ctx.secret_box.open(row.secret, row.id)  # SecretUnreadable: a 500 naming it
    now = ctx.now()
    msg_id = webhooks.webhook_id(f"test:{time.time_ns()}", row.id)
    body = webhooks.body(TEST_TYPE, "", "test", {"endpoint_id": row.id}, now)
    previous = deliveries.previous_secrets(row, ctx.secret_box, now)
    headers = webhooks.headers(secret, msg_id, int(now.timestamp()), body, *previous)
    result = webhooks.send(row.url, headers, body, ctx.settings.webhook_allow_private)
    return TestSent(
        webhook_id=msg_id,
        status_code=result.status_code,
        error=result.error,
        duration_ms=result.duration_ms,
    )


@router.post(
    "/v1/deliveries/{delivery_id}/replay",
    status_code=202,
    response_model=Replayed,
    responses=NOT_FOUND,
    tags=["webhooks"],
)
def replay_delivery(
    delivery_id: Annotated[int, Path(ge=1, le=2**62)],
    ctx: Annotated[Context, Depends(context)],
    _who: Annotated[Principal, Depends(principal)],
) -> Replayed:
    """Send a delivery again: same webhook-id, same bytes (the consumer can dedupe)."""
    attempts = deliveries.replay(ctx.engine, delivery_id, ctx.now())
    enqueue(lambda: ctx.queue.deliver(delivery_id, attempts))
    return Replayed(delivery_id=delivery_id, attempts=attempts)


@router.post(
    "/v1/webhooks/{endpoint_id}/rotate-secret",
    response_model=SecretRotated,
    responses={**NOT_FOUND, **UNREADABLE_SECRET},
)
def rotate_webhook_secret(
    endpoint_id: EndpointId,
    body: RotateIn,
    ctx: Annotated[Context, Depends(context)],
    _who: Annotated[Principal, Depends(principal)],
) -> SecretRotated:
    """Give the endpoint a new secret, returned once. Until the overlap ends, webhooks carry
    signatures by both the new and the old secret, so the receiver can switch at any time."""
    _endpoint(ctx, endpoint_id)
    now = ctx.now()
    overlap = timedelta(hours=body.overlap_hours)
    secret = secrets.rotate(ctx.engine, ctx.secret_box, endpoint_id, now, body.secret, overlap)
    row = _endpoint(ctx, endpoint_id)
    return SecretRotated(**_out(row).model_dump(), secret=secret, previous_until=now + overlap)


@router.get("/v1/deliveries", response_model=DeliveryList, tags=["webhooks"])
def list_deliveries(
    ctx: Annotated[Context, Depends(context)],
    _who: Annotated[Principal, Depends(principal)],
    endpoint_id: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[str | None, Query(pattern="^(pending|succeeded|failed)$")] = None,
    cursor: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> DeliveryList:
    """Webhook deliveries, newest first, to find what to replay; page on with `cursor`."""
    found, next_cursor = deliveries.listing(
        ctx.engine, endpoint_id=endpoint_id, status=status, before_id=cursor, limit=limit
    )
    return DeliveryList(deliveries=[DeliveryOut(**d) for d in found], next_cursor=next_cursor)


@router.post("/v1/webhooks/{endpoint_id}/recover", response_model=Recovered, responses=NOT_FOUND)
def recover_webhook(
    endpoint_id: EndpointId,
    body: RecoverIn,
    ctx: Annotated[Context, Depends(context)],
    _who: Annotated[Principal, Depends(principal)],
) -> Recovered:
    """Send again every delivery to this endpoint that failed, created since `since` (after
    an outage, once the endpoint is fixed and enabled): same webhook-ids, same bytes."""
    return Recovered(reopened=deliveries.recover(ctx.engine, endpoint_id, body.since, ctx.now()))
