"""Shared pieces for the simulator tests: one parcel that visits every kind of event."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tracker.sim.codes import KINDS

START = datetime(2026, 10, 1, tzinfo=UTC)
NOW = datetime(2026, 12, 1, tzinfo=UTC)
NUMBER = "LP00512345678901"
USPS_NUMBER = "9261290300000000000001"
DHL_NUMBER = "00340434161234567890"


def clean_parcel(number: str = NUMBER, **extra: Any) -> dict[str, Any]:
    """A parcel CN -> US with the standard journey, known to every simulated source."""
    kinds = [
        "info_received",
        "accepted",
        "origin_facility",
        "export_customs_cleared",
        "departed_origin",
        "arrived_destination",
        "import_customs_processing",
        "import_customs_released",
        "handed_to_last_mile",
        "facility_arrival",
        "out_for_delivery",
        "delivered",
    ]
    parcel: dict[str, Any] = {
        "number": number,
        "sources": ["17track", "cainiao", "aftership", "usps"],
        "numbers": {"usps": USPS_NUMBER},
        "carrier": "usps",
        "origin": {"country": "CN", "city": "Shenzhen"},
        "destination": {"country": "US", "city": "Hernando", "state": "FL", "postal_code": "34442"},
        "journey": [{"kind": k, "at": 6.0 + 20.0 * i} for i, k in enumerate(kinds)],
    }
    parcel.update(extra)
    return parcel


def scenario_dict(*parcels: dict[str, Any], **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "start": "2026-10-01T00:00:00Z",
        "parcels": list(parcels) or [clean_parcel()],
    }
    doc.update(extra)
    return doc


@pytest.fixture
def every_kind() -> list[str]:
    return list(KINDS)
