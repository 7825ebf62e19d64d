"""Control characters in a URL are refused with a 400 that says so, on both databases (a NUL
in a cursor or an id would otherwise reach PostgreSQL and end as a 500)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient


@pytest.mark.parametrize(
    ("url", "where"),
    [
        ("/v1/orders?cursor=%00", "query"),
        ("/v1/orders?status=in%01transit", "query"),
        ("/v1/orders/A%00-1", "path"),
        ("/v1/lookups/lk_%00", "path"),
        ("/v1/orders/A-1/evidence?format=markdown%0A", "query"),
    ],
)
def test_control_characters_in_urls_are_a_clear_400(
    api: TestClient, auth: dict[str, str], url: str, where: str
) -> None:
    response = api.get(url, headers=auth)
    assert response.status_code == 400
    assert f"not allowed in the {where}" in response.json()["detail"]


def test_ordinary_urls_still_work(api: TestClient, auth: dict[str, str]) -> None:
    assert api.get("/v1/orders?cursor=A-1", headers=auth).status_code == 200
    assert api.get("/v1/orders/does-not-exist", headers=auth).status_code == 404
