"""/v1/orders: create (one, many, all-or-nothing), list with filters, report, evidence."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from tests.api.conftest import NOW
from tracker.casefile import Case
from tracker.pipeline import run_case
from tracker.store import evidence, orders
from tracker.store.tables import parcels

CASE = Path(__file__).parents[1] / "cases" / "clean-delivery-3-sources.json"

ORDER: dict[str, Any] = {
    "id": "A-1001",
    "destination": {"country": "DE", "postal_code": "10115", "city": "Berlin"},
    "timezone": "Europe/Berlin",
    "shipped_at": "2026-10-01T09:00:00+08:00",
    "promised_by": "2026-11-10",
    "parcels": [{"tracking_number": "LP00512345678901"}],
}


def order(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(ORDER)
    body.update(changes)
    return body


def count(engine: Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_one_order_is_stored_and_due_for_a_poll_at_once(
    api: TestClient, auth: dict[str, str], engine: Engine
) -> None:
    response = api.post("/v1/orders", json=order(), headers=auth)
    assert response.status_code == 201, response.text
    assert response.json() == {"ids": ["A-1001"]}
    with engine.connect() as conn:
        stored = orders.parcels_of(conn, "A-1001")
    assert [p.tracking_number for p in stored] == ["LP00512345678901"]
    assert stored[0].next_poll_at == NOW
    assert stored[0].sources == ["cainiao", "17track"]  # the configured default sources


def test_many_orders_share_the_given_sources(
    api: TestClient, auth: dict[str, str], engine: Engine
) -> None:
    body = {"orders": [order(id="A-1"), order(id="A-2")], "sources": ["usps"]}
    response = api.post("/v1/orders", json=body, headers=auth)
    assert response.status_code == 201, response.text
    assert response.json()["ids"] == ["A-1", "A-2"]
    with engine.connect() as conn:
        assert orders.parcels_of(conn, "A-2")[0].sources == ["usps"]


BAD: list[tuple[dict[str, Any], list[Any]]] = [
    (order(shipped_at=12), ["body", "shipped_at"]),
    (order(shipped_at="yesterday"), ["body", "shipped_at"]),
    (order(promised_by="2026-13-45"), ["body", "promised_by"]),
    (order(promised_by="2031-01-01"), ["body", "promised_by"]),  # absurd: 4 years out
    (order(promised_by="2026-09-01"), ["body", "promised_by"]),  # before it shipped
    (order(shipped_at="2099-01-01T00:00:00Z"), ["body", "shipped_at"]),
    (order(timezone="Mars/Olympus"), ["body", "timezone"]),
    (order(destination={"country": "Atlantis"}), ["body", "destination", "country"]),
    (
        order(parcels=[{"tracking_number": "RB12345678@US"}]),
        ["body", "parcels", 0, "tracking_number"],
    ),  # not A-Z 0-9
    (
        order(parcels=[{"tracking_number": "LP0051234567890\u0000"}]),
        ["body", "parcels", 0, "tracking_number"],
    ),
    (
        order(parcels=[{"tracking_number": "LP00512345678901", "source": "pigeon"}]),
        ["body", "parcels", 0, "source"],
    ),
    (order(sources=["pigeon"]), ["body", "sources", 0]),
    (order(parcels=[]), ["body", "parcels"]),
    (order(surprise=True), ["body", "surprise"]),
    (
        {"orders": [order(id="A-1"), order(id="A-2", timezone="Nowhere/Else")]},
        ["body", "orders", 1, "timezone"],
    ),
    (
        {"orders": [order(id="A-1"), order(id="A-2", shipped_at=[1])]},
        ["body", "orders", 1, "shipped_at"],
    ),
]


@pytest.mark.parametrize(("body", "loc"), BAD)
def test_bad_input_is_a_422_naming_the_field_and_nothing_is_stored(
    api: TestClient, auth: dict[str, str], engine: Engine, body: dict[str, Any], loc: list[Any]
) -> None:
    response = api.post("/v1/orders", json=body, headers=auth)
    assert response.status_code == 422, response.text
    locs = [item["loc"] for item in response.json()["detail"]]
    assert loc in locs, locs
    assert count(engine, parcels) == 0


def test_an_oversized_body_is_a_413_and_nothing_is_stored(
    api: TestClient, auth: dict[str, str], engine: Engine
) -> None:
    many = {"orders": [order(id=f"A-{i}", padding="x" * 2000) for i in range(600)]}
    response = api.post(
        "/v1/orders", content=json.dumps(many), headers={**auth, "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert count(engine, parcels) == 0


def _store_case(engine: Engine) -> Case:
    case = Case.from_json(json.loads(CASE.read_text()))
    with engine.begin() as conn:
        ids = orders.upsert_order(conn, case.order, ["cainiao"], now=NOW)
        for observation in case.observations:
            evidence.store_observation(conn, ids, observation)
    return case


def test_the_report_is_the_analyze_report_of_the_stored_order(
    api: TestClient, auth: dict[str, str], engine: Engine
) -> None:
    case = _store_case(engine)
    response = api.get(f"/v1/orders/{case.order.id}", headers=auth)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report == run_case(case, NOW)
    assert report["delivery"]["verdict"] == "delivered"


@pytest.mark.parametrize(
    ("fmt", "media", "marker"),
    [
        ("markdown", "text/markdown", "# Delivery evidence for order"),
        ("html", "text/html", "<table"),
    ],
)
def test_evidence_in_markdown_and_html(
    api: TestClient, auth: dict[str, str], engine: Engine, fmt: str, media: str, marker: str
) -> None:
    case = _store_case(engine)
    response = api.get(f"/v1/orders/{case.order.id}/evidence", params={"format": fmt}, headers=auth)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(media)
    assert marker in response.text


def test_unknown_order_is_a_404(api: TestClient, auth: dict[str, str]) -> None:
    assert api.get("/v1/orders/nope", headers=auth).status_code == 404
    assert api.get("/v1/orders/nope/evidence", headers=auth).status_code == 404


def _add(api: TestClient, auth: dict[str, str], **changes: Any) -> None:
    response = api.post("/v1/orders", json=order(**changes), headers=auth)
    assert response.status_code == 201, response.text


def _ids(api: TestClient, auth: dict[str, str], **params: Any) -> list[str]:
    response = api.get("/v1/orders", params=params, headers=auth)
    assert response.status_code == 200, response.text
    return [o["id"] for o in response.json()["orders"]]


def test_list_filters_use_the_window_at_now_and_the_pollers_verdict(
    api: TestClient, auth: dict[str, str], engine: Engine
) -> None:
    # NOW is 2026-11-12. Overdue: promised 11-10, window open until 11-26.
    _add(api, auth, id="overdue", promised_by="2026-11-10")
    # Not yet due: promised 11-20 (window open, closes 12-06).
    _add(api, auth, id="pending", promised_by="2026-11-20")
    # Window not open yet: shipped 11-10, opens 11-21.
    _add(api, auth, id="fresh", shipped_at="2026-11-10T00:00:00Z", promised_by="2026-12-10")
    # Delivered (the poller wrote its verdict): never at risk.
    _add(api, auth, id="done", promised_by="2026-11-10")
    _add(api, auth, id="fake", promised_by="2026-11-20")
    with engine.begin() as conn:
        for oid, verdict in (("done", "delivered"), ("fake", "suspect")):
            orders.update_order_report(
                conn,
                oid,
                now=NOW,
                status="delivered",
                substatus="delivered.delivered",
                verdict=verdict,
                window_state="open",
                dispute_closes_at=None,
            )
    assert _ids(api, auth) == ["done", "fake", "fresh", "overdue", "pending"]
    assert _ids(api, auth, overdue="true") == ["overdue"]
    assert _ids(api, auth, at_risk="true") == ["fake", "overdue", "pending"]
    assert _ids(api, auth, suspect="true") == ["fake"]
    assert _ids(api, auth, deadline_within_days=15) == ["overdue"]
    assert _ids(api, auth, deadline_within_days=30) == ["fake", "overdue", "pending"]
    assert _ids(api, auth, status="delivered") == ["done", "fake"]
    assert _ids(api, auth, at_risk="true", suspect="true") == ["fake"]


def test_list_pages_with_a_cursor(api: TestClient, auth: dict[str, str]) -> None:
    for i in range(5):
        _add(api, auth, id=f"A-{i}")
    first = api.get("/v1/orders", params={"limit": 2}, headers=auth).json()
    assert [o["id"] for o in first["orders"]] == ["A-0", "A-1"]
    second = api.get(
        "/v1/orders", params={"limit": 2, "cursor": first["next_cursor"]}, headers=auth
    ).json()
    assert [o["id"] for o in second["orders"]] == ["A-2", "A-3"]


def test_list_rejects_bad_filters(api: TestClient, auth: dict[str, str]) -> None:
    for params in (
        {"deadline_within_days": -1},
        {"status": "teleported"},
        {"limit": 0},
        {"at_risk": "perhaps"},
    ):
        assert api.get("/v1/orders", params=params, headers=auth).status_code == 422, params
