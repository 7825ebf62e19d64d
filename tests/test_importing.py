"""Flat rows into orders: column aliases, time formats, nested rows, merged rows, files."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from tracker.errors import ValidationError
from tracker.model import Parcel
from tracker.service import importing


def test_aliexpress_export_columns_are_understood() -> None:
    order = importing.order_from_mapping(
        {
            "Order ID": 8190001,  # a spreadsheet turned it into a number
            "Tracking Number": "LP00512345678901; LP00512345678902",
            "Ship To Country": "Germany",
            "Zip Code": "10115",
            "Shipping Time": "2026/11/01 09:00",
            "Delivery Deadline": "2026-12-10",
            "Time Zone": "Asia/Shanghai",
            "Product Name": "ignored",
        }
    )
    assert order.id == "8190001"
    assert [p.tracking_number for p in order.parcels] == ["LP00512345678901", "LP00512345678902"]
    assert order.destination.country == "Germany"  # the service turns names into ISO codes
    assert order.destination.postal_code == "10115"
    assert order.shipped_at == datetime(2026, 11, 1, 1, 0, tzinfo=UTC)  # read in Shanghai time
    assert order.promised_by == date(2026, 12, 10)


def test_a_case_shaped_row_is_understood() -> None:
    order = importing.order_from_mapping(
        {
            "id": "A-1",
            "destination": {"country": "DE", "city": "Berlin"},
            "shipped_at": "2026-11-01T09:00:00+08:00",
            "promised_by": "2026-12-10T18:00:00Z",
            "parcels": [
                {"tracking_number": "LP00512345678901", "other_numbers": ["9400100000000000000000"]}
            ],
        }
    )
    assert order.destination.city == "Berlin"
    assert order.parcels == (Parcel("LP00512345678901", ("9400100000000000000000",)),)
    assert order.promised_by == datetime(2026, 12, 10, 18, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("row", "field"),
    [
        (
            {
                "tracking_number": "X",
                "country": "DE",
                "shipped_at": "2026-11-01",
                "promised_by": "2026-12-01",
            },
            "id",
        ),
        (
            {"id": "A", "country": "DE", "shipped_at": "2026-11-01", "promised_by": "2026-12-01"},
            "tracking_number",
        ),
        (
            {
                "id": "A",
                "tracking_number": "X",
                "country": "DE",
                "shipped_at": "later",
                "promised_by": "2026-12-01",
            },
            "shipped_at",
        ),
        (
            {
                "id": "A",
                "tracking_number": "X",
                "country": "DE",
                "shipped_at": "2026-11-01",
                "promised_by": "2026-02-30",
            },
            "promised_by",
        ),
        (
            {
                "id": "A",
                "tracking_number": "X",
                "country": "DE",
                "shipped_at": "2026-11-01",
                "promised_by": "2026-12-01",
                "timezone": "Nowhere",
            },
            "timezone",
        ),
    ],
)
def test_problems_name_the_field(row: dict[str, str], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        importing.order_from_mapping(row)
    assert caught.value.field == field


def test_rows_of_one_order_are_merged_into_one_with_every_parcel() -> None:
    base = {
        "id": "A",
        "country": "DE",
        "shipped_at": "2026-11-01T00:00:00Z",
        "promised_by": "2026-12-01",
    }
    rows = [
        (2, importing.order_from_mapping({**base, "tracking_number": n}))
        for n in ("LP00512345678901", "LP00512345678902", "LP00512345678901")
    ]
    [(line, order)] = importing.merge_rows(rows)
    assert line == 2
    assert [p.tracking_number for p in order.parcels] == ["LP00512345678901", "LP00512345678902"]


def test_json_lines_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "orders.jsonl"
    path.write_text('{"id": "A"}\n\n[1, 2]\n')
    with pytest.raises(ValidationError) as caught:
        list(importing.read_rows(path))
    assert caught.value.field == "line 3"


def test_the_format_is_guessed_from_the_content(tmp_path: Path) -> None:
    path = tmp_path / "orders.txt"
    path.write_text('{"id": "A"}\n')
    assert importing.file_format(path) == "jsonl"
    path.write_text("id,tracking_number\nA,LP00512345678901\n")
    assert importing.file_format(path) == "csv"
    assert list(importing.read_rows(path)) == [
        (2, {"id": "A", "tracking_number": "LP00512345678901"})
    ]
