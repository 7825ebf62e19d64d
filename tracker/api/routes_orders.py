"""/v1/orders: create one or many, list with filters, the report, the evidence summary."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from pydantic import Discriminator, Tag

from tracker.api.context import Context, Principal, context, principal
from tracker.api.schemas import (
    ErrorOut,
    OrderIn,
    OrderList,
    OrdersCreated,
    OrdersIn,
    OrderSummary,
    Report,
    ValidationErrorOut,
)
from tracker.errors import ValidationError
from tracker.model import Order, Status
from tracker.service import orders as service
from tracker.service.importing import order_from_mapping

# Tags of the one-or-many body; the 422 handler drops them from `loc` (see app.py).
ONE, MANY = "_one", "_many"
UNION_TAGS = frozenset({ONE, MANY})


def _which(value: Any) -> str:
    return MANY if isinstance(value, dict) and "orders" in value else ONE


OrdersBody = Annotated[
    Annotated[OrderIn, Tag(ONE)] | Annotated[OrdersIn, Tag(MANY)], Discriminator(_which)
]

COMMON: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "missing, invalid or revoked token"},
    413: {"model": ErrorOut, "description": "request body too large"},
    422: {"model": ValidationErrorOut, "description": "invalid input; `loc` names the field"},
    429: {"model": ErrorOut, "description": "rate limit exceeded (see Retry-After)"},
    503: {"model": ErrorOut, "description": "database or Redis unavailable (see Retry-After)"},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut, "description": "unknown id"}}

router = APIRouter(prefix="/v1/orders", tags=["orders"], responses=COMMON)
OrderId = Annotated[str, Path(min_length=1, max_length=100)]


def _order(item: OrderIn, prefix: str) -> Order:
    try:
        return order_from_mapping(item.model_dump(exclude={"sources"}))
    except ValidationError as exc:
        raise ValidationError(prefix + exc.field, exc.problem) from exc


def _orders(body: OrderIn | OrdersIn) -> tuple[list[Order], list[str] | None]:
    if isinstance(body, OrderIn):
        return [_order(body, "")], list(body.sources) if body.sources else None
    for i, item in enumerate(body.orders):
        if item.sources is not None:
            raise ValidationError(f"orders[{i}].sources", "give sources once, beside `orders`")
    found = [_order(item, f"orders[{i}].") for i, item in enumerate(body.orders)]
    return found, list(body.sources) if body.sources else None


@router.post("", status_code=201, response_model=OrdersCreated)
def create_orders(
    body: OrdersBody,
    ctx: Annotated[Context, Depends(context)],
    _who: Annotated[Principal, Depends(principal)],
) -> OrdersCreated:
    """Add one order, or `{"orders": [...]}` many: all are stored, or none (a 422 names the
    first bad field). Their parcels are due for a poll at once."""
    found, sources = _orders(body)
    chosen = sources if sources is not None else list(ctx.settings.enabled_sources)
    ids = service.add_orders(ctx.engine, found, chosen, ctx.now(), policies=ctx.settings.policies)
    return OrdersCreated(ids=ids)


@router.get("", response_model=OrderList)
def list_orders(
    ctx: Annotated[Context, Depends(context)],
    _who: Annotated[Principal, Depends(principal)],
    at_risk: Annotated[bool, Query(description="window open and not delivered")] = False,
    overdue: Annotated[bool, Query(description="promised time over, not delivered")] = False,
    suspect: Annotated[bool, Query(description="the delivery verdict is suspect")] = False,
    deadline_within_days: Annotated[int | None, Query(ge=0, le=365)] = None,
    status: Status | None = None,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> OrderList:
    """Orders by id; every filter given must hold. Page on with `cursor`."""
    filters = service.OrderFilters(
        at_risk=at_risk,
        overdue=overdue,
        suspect=suspect,
        deadline_within_days=deadline_within_days,
        status=status.value if status is not None else None,
        after=cursor,
        limit=limit,
    )
    found, next_cursor = service.list_orders(ctx.engine, filters, ctx.now(), ctx.settings.policies)
    return OrderList(orders=[OrderSummary(**o) for o in found], next_cursor=next_cursor)


@router.get(
    "/{order_id}",
    response_model=None,
    responses={**NOT_FOUND, 200: {"model": Report, "description": "the report"}},
)
def get_report(
    order_id: OrderId,
    ctx: Annotated[Context, Depends(context)],
    _who: Annotated[Principal, Depends(principal)],
) -> JSONResponse:
    """The order's report (the same as `tracker analyze`), from its stored observations."""
    # Returned as built, not through the model: the report may carry more keys (DESIGN.md).
    return JSONResponse(
        service.order_report(ctx.engine, order_id, ctx.now(), ctx.settings.policies)
    )


@router.get(
    "/{order_id}/evidence",
    response_class=PlainTextResponse,
    responses={
        **NOT_FOUND,
        200: {
            "content": {"text/markdown": {}, "text/html": {}},
            "description": "the dispute summary",
        },
    },
)
def get_evidence(
    order_id: OrderId,
    ctx: Annotated[Context, Depends(context)],
    _who: Annotated[Principal, Depends(principal)],
    format: Literal["markdown", "html"] = "markdown",
) -> Response:
    """A dispute summary to attach: verdict, reasons, conflicting records, the timeline."""
    text = service.evidence(ctx.engine, order_id, ctx.now(), format, ctx.settings.policies)
    if format == "html":
        return HTMLResponse(text)
    return PlainTextResponse(text, media_type="text/markdown; charset=utf-8")
