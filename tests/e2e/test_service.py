"""The service end to end: real Redis, a real Celery worker and beat, the simulator, and a
local webhook receiver. An order added is polled at once; its alerts arrive signed and
verifiable (the endpoint's secret stored encrypted, opened by the worker); a fake delivery
raises delivery.suspect; an overdue order raises order.overdue without any new event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy.engine import Engine
from standardwebhooks import Webhook

from tests.e2e.conftest import CN, JOURNEY, START, parcel, scenario, service_env
from tests.e2e.harness import Receiver, cluster, wait_for
from tracker import webhooks
from tracker.model import Destination, Order, Parcel
from tracker.secretbox import SecretBox
from tracker.sim.server import SimServer
from tracker.store import repo

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

CLEAN, FAKE, LATE = "LP00000000000011", "LP00000000000022", "LP00000000000033"


def add(engine: Engine, order_id: str, number: str, promised: datetime | None = None) -> None:
    promised_by = promised or (START + timedelta(days=40)).date()
    order = Order(
        id=order_id,
        destination=Destination("DE", "10115", "Berlin"),
        shipped_at=START,
        promised_by=promised_by,
        timezone="Europe/Berlin",
        parcels=(Parcel(number),),
    )
    with engine.begin() as conn:
        repo.upsert_order(conn, order, ["cainiao", "17track"], now=datetime.now(UTC))


def test_orders_are_polled_at_once_and_alerts_arrive_signed(
    db: Engine, broker: str, tmp_path: Path
) -> None:
    fake = parcel(
        FAKE,
        overrides={
            "17track": [{"op": "relocate", "kind": "delivered", "location": CN}],
            "cainiao": [{"op": "drop", "kinds": ["out_for_delivery", "delivered"]}],
        },
    )
    stuck = parcel(LATE, journey=JOURNEY[:4])
    secret, key = webhooks.generate_secret(), Fernet.generate_key().decode()
    with SimServer(scenario(parcel(CLEAN), fake, stuck)) as sim, Receiver() as receiver:
        with db.begin() as conn:
            sealed = SecretBox([key]).seal(secret)
            repo.create_endpoint(conn, receiver.url, sealed, now=datetime.now(UTC))
        add(db, "A-clean", CLEAN)
        add(db, "A-fake", FAKE)
        overdue_at = datetime.now(UTC) + timedelta(seconds=8)
        add(db, "A-late", LATE, promised=overdue_at)
        env = service_env(db, broker, sim.env(), TRACKER_SECRET_KEY=key)
        with cluster(env, tmp_path) as running:
            running.worker()
            running.beat()
            confirmed = wait_for(
                lambda: receiver.of_type("delivery.confirmed"),
                60,
                "delivery.confirmed for the clean order",
            )
            suspect = wait_for(
                lambda: receiver.of_type("delivery.suspect"),
                30,
                "delivery.suspect for the fake delivery",
            )
            overdue = wait_for(
                lambda: receiver.of_type("order.overdue"), 40, "order.overdue for the stuck order"
            )
    assert {r.json["data"]["order_id"] for r in confirmed} == {"A-clean"}
    assert {r.json["data"]["order_id"] for r in suspect} == {"A-fake"}
    assert {r.json["data"]["order_id"] for r in overdue} == {"A-late"}
    assert datetime.now(UTC) >= overdue_at
    rules = {e["rule"] for e in suspect[0].json["data"]["evidence"]}
    assert "location_mismatch" in rules
    for received in receiver.received:
        assert Webhook(secret).verify(received.body, received.headers)
        assert received.headers["webhook-id"].startswith("msg_")
    with db.connect() as conn:
        stuck_row = repo.parcels_of(conn, "A-late")[0]
    assert stuck_row.last_polled_at is not None  # polled, and nothing new since
