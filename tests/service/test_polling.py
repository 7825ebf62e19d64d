"""The poller against the simulator, on both databases, with real Redis guards: what a poll
stores, that a redelivered poll changes nothing, fakes raise suspect, failures back off."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tracker import sources
from tracker.judge.case import aware
from tracker.model import Destination, Order, Parcel
from tracker.service import polling
from tracker.settings import Settings
from tracker.sim.server import SimServer
from tracker.sources.http import NO_RETRY, SourceClient
from tracker.store import repo
from tracker.store.tables import alerts, events, observations, orders, parcels, webhook_deliveries
from workers.guards import Guards

START = datetime(2026, 10, 1, tzinfo=UTC)
NOW = START + timedelta(days=20)
DE = {"country": "DE", "city": "Berlin", "postal_code": "10115"}
CN = {"country": "CN", "city": "Shenzhen"}
JOURNEY = [
    {"kind": "accepted", "at": 2},
    {"kind": "origin_facility", "at": 10},
    {"kind": "export_customs_cleared", "at": 30},
    {"kind": "departed_origin", "at": 40},
    {"kind": "arrived_destination", "at": 120},
    {"kind": "import_customs_released", "at": 140},
    {"kind": "out_for_delivery", "at": 200},
    {"kind": "delivered", "at": 210},
]


def scenario(**overrides: Any) -> dict[str, Any]:
    parcel = {
        "number": "LP00512345678901",
        "sources": ["cainiao", "17track"],
        "origin": CN,
        "destination": DE,
        "journey": JOURNEY,
        **overrides,
    }
    return {"name": "poll-test", "start": START.isoformat(), "parcels": [parcel]}


@pytest.fixture
def sim() -> Iterator[SimServer]:
    with SimServer(scenario()) as server:
        server.clock.set(NOW)
        yield server


def settings_for(sim: SimServer) -> Settings:
    return Settings.from_env({**sim.env(), "TRACKER_SOURCES": "cainiao,17track"})


def add_order(engine: Engine, *, promised: str = "2026-10-25", now: datetime = NOW) -> list[int]:
    order = Order(
        id="A-1",
        destination=Destination("DE", "10115", "Berlin"),
        shipped_at=START,
        promised_by=datetime.fromisoformat(promised).date(),
        timezone="Europe/Berlin",
        parcels=(Parcel("LP00512345678901"),),
    )
    with engine.begin() as conn:
        return repo.upsert_order(conn, order, ["cainiao", "17track"], now=now)


def batch_scenario(
    name: str,
    numbers: Sequence[str],
    sources: Sequence[str],
    journeys: Mapping[str, list[dict[str, Any]]] | None = None,
    behaviours: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """A simulator scenario of one parcel per number, CN -> DE, on JOURNEY unless given."""
    parcels = [
        {
            "number": n,
            "sources": list(sources),
            "origin": CN,
            "destination": DE,
            "journey": (journeys or {}).get(n, JOURNEY),
        }
        for n in dict.fromkeys(numbers)
    ]
    return {"name": name, "start": START.isoformat(), "parcels": parcels,
            "behaviours": list(behaviours)}  # fmt: skip


def add_orders(
    engine: Engine, numbers: Sequence[str], sources: Sequence[str], promised: date | None = None
) -> list[int]:
    """Orders A-0, A-1, ... of one parcel each (a number may repeat: one parcel shipped for
    two orders); returns their parcel ids."""
    ids = []
    with engine.begin() as conn:
        for i, number in enumerate(numbers):
            order = Order(
                f"A-{i}",
                Destination("DE", "10115", "Berlin"),
                START,
                promised or NOW.date() + timedelta(days=20),
                parcels=(Parcel(number),),
            )
            ids.append(repo.upsert_order(conn, order, list(sources), now=NOW)[0])
    return ids


def client(settings: Settings, source: str) -> SourceClient:
    configured = settings.source(source)
    key = configured.key.reveal() if configured.key else "sim-key"
    return SourceClient(sources.spec(source), base_url=configured.url, key=key, policy=NO_RETRY)


def run_due(engine: Engine, settings: Settings, guards: Guards, now: datetime) -> list[Any]:
    batches: list[tuple[str, list[int]]] = []
    polling.dispatch(engine, now, settings, lambda s, ids: batches.append((s, ids)))
    sent: list[tuple[int, int]] = []
    outcomes = []
    for source, ids in batches:
        outcomes.append(
            polling.poll(
                engine,
                client(settings, source),
                guards[source],
                ids,
                lambda: now,
                settings,
                lambda d, a: sent.append((d, a)),
            )
        )
    return outcomes


def count(engine: Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_dispatch_plans_one_batch_per_source_within_batch_sizes(engine: Engine) -> None:
    rows = []
    with engine.begin() as conn:
        for i in range(25):
            order = Order(
                id=f"A-{i}",
                destination=Destination("DE"),
                shipped_at=START,
                promised_by=NOW.date(),
                parcels=(Parcel(f"LP{i:014d}"),),
            )
            repo.upsert_order(conn, order, ["cainiao", "17track"], now=NOW)
        rows = repo.claim_due_parcels(conn, NOW, 100)
    plan = polling.plan(rows, lambda name: sources.spec(name).batch_size)
    sizes = {s: [len(ids) for src, ids in plan if src == s] for s in ("cainiao", "17track")}
    assert sizes == {"cainiao": [10, 10, 5], "17track": [25]}


def test_a_poll_task_asks_for_as_many_numbers_as_the_quota_allows_at_once() -> None:
    published = Settings.from_env({})
    assert polling.task_size("cainiao", published) == 10  # 1 call per 5 s: one call a task
    assert polling.task_size("17track", published) == 40  # 40 numbers a call
    assert polling.task_size("aftership", published) == 4  # one a call: at most 4 calls
    generous = Settings.from_env({"TRACKER_CAINIAO_RATE": "100/1", "TRACKER_17TRACK_RATE": "1/1"})
    assert polling.task_size("cainiao", generous) == 40  # 4 calls of 10
    assert polling.task_size("17track", generous) == 40
    assert polling.task_size("cainiao", Settings.from_env({"TRACKER_CAINIAO_RATE": "2/1"})) == 20
    # several windows: the smallest one sizes the task
    windows = Settings.from_env({"TRACKER_CAINIAO_RATE": "100/1,3/60"})
    assert polling.task_size("cainiao", windows) == 30
    assert polling.task_size("dhl", published) == 1  # one number a call, one call a second


def test_a_task_of_several_calls_polls_every_parcel_and_keeps_each_answer(
    engine: Engine, guards: Guards
) -> None:
    """25 parcels due with a Cainiao quota of several calls at once: one task, three calls
    of at most 10 numbers, each answer stored and every parcel refreshed."""
    numbers = [f"LP005123456789{i:02d}" for i in range(25)]
    with SimServer(batch_scenario("many", numbers, ["cainiao"])) as server:
        server.clock.set(NOW)
        settings = Settings.from_env(
            {**server.env(), "TRACKER_SOURCES": "cainiao", "TRACKER_CAINIAO_RATE": "100/1"}
        )
        add_orders(engine, numbers, ["cainiao"], promised=NOW.date())
        outcomes = run_due(engine, settings, guards, NOW)
        calls = server.stats["by_source"]["cainiao"]
    assert [(o.source, o.parcels, o.outcome) for o in outcomes] == [("cainiao", 25, "ok")]
    assert calls == 3
    assert count(engine, observations) == 3
    with engine.connect() as conn:
        polled = [r[0] for r in conn.execute(sa.select(parcels.c.last_polled_at))]
    assert polled == [NOW] * 25


def test_a_call_failing_half_way_keeps_the_answers_of_the_calls_before_it(
    engine: Engine, guards: Guards
) -> None:
    """A task of three Cainiao calls whose second call fails: the 10 parcels of the first
    are stored and refreshed, the other 15 are rescheduled as failed, nothing is lost."""
    numbers = [f"LP005123456789{i:02d}" for i in range(25)]
    failing = [{"kind": "error", "source": "cainiao", "status": 503, "after": 1, "count": 1}]
    doc = batch_scenario("half-way", numbers, ["cainiao"], behaviours=failing)
    with SimServer(doc) as server:
        server.clock.set(NOW)
        settings = Settings.from_env(
            {**server.env(), "TRACKER_SOURCES": "cainiao", "TRACKER_CAINIAO_RATE": "100/1"}
        )
        add_orders(engine, numbers, ["cainiao"], promised=NOW.date())
        (outcome,) = run_due(engine, settings, guards, NOW)
        calls = server.stats["by_source"]["cainiao"]
    assert calls == 2  # the third call is not made after the second failed
    assert (outcome.outcome, outcome.parcels, outcome.failed) == ("SourceUnavailable", 25, 15)
    assert outcome.observations == 1 and count(engine, observations) == 1
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(parcels.c.tracking_number, parcels.c.last_polled_at, parcels.c.poll_failures)
        ).all()
    refreshed = {n for n, polled, failures in rows if polled == NOW and failures == 0}
    failed = {n for n, polled, failures in rows if polled is None and failures == 1}
    assert refreshed == set(numbers[:10]) and failed == set(numbers[10:])


def test_a_poll_stores_evidence_verdict_alert_and_next_poll(
    engine: Engine, sim: SimServer, guards: Guards
) -> None:
    settings = settings_for(sim)
    (pid,) = add_order(engine)
    outcomes = run_due(engine, settings, guards, NOW)
    assert sorted(o.source for o in outcomes) == ["17track", "cainiao"]
    assert all(o.outcome == "ok" for o in outcomes), [o.as_dict() for o in outcomes]
    assert count(engine, observations) == 2
    assert count(engine, events) >= 2 * len(JOURNEY) - 2
    with engine.connect() as conn:
        order = repo.get_order(conn, "A-1")
        parcel = repo.get_parcel(conn, pid)
        types = {a.type for a in repo.list_alerts(conn)}
    assert order is not None and parcel is not None
    assert (order.status, order.verdict) == ("delivered", "delivered")
    assert "delivery.confirmed" in types
    assert parcel.next_poll_at is not None and parcel.next_poll_at > NOW  # confirmation poll
    assert parcel.last_polled_at == NOW


def test_polling_again_changes_nothing(engine: Engine, sim: SimServer, guards: Guards) -> None:
    settings = settings_for(sim)
    add_order(engine)
    run_due(engine, settings, guards, NOW)
    before = (count(engine, observations), count(engine, events), count(engine, alerts))
    with engine.begin() as conn:  # a redelivered task: the same batch once more
        conn.execute(sa.text("UPDATE parcels SET next_poll_at = :t"), {"t": NOW})
    run_due(engine, settings, guards, NOW)
    assert (count(engine, observations), count(engine, events), count(engine, alerts)) == before


def test_a_delivery_in_another_country_is_suspect(engine: Engine, guards: Guards) -> None:
    fake = scenario(
        overrides={
            "17track": [
                {
                    "op": "relocate",
                    "kind": "delivered",
                    "location": {"country": "CN", "city": "Shenzhen"},
                }
            ],
            "cainiao": [{"op": "drop", "kinds": ["delivered", "out_for_delivery"]}],
        }
    )
    with SimServer(fake) as server:
        server.clock.set(NOW)
        settings = settings_for(server)
        add_order(engine)
        run_due(engine, settings, guards, NOW)
    with engine.connect() as conn:
        order = repo.get_order(conn, "A-1")
        suspect = [a for a in repo.list_alerts(conn) if a.type == "delivery.suspect"]
    assert order is not None and order.verdict == "suspect"
    assert len(suspect) == 1
    rules = {reason["rule"] for reason in suspect[0].data["evidence"]}
    assert "location_mismatch" in rules


def test_alerts_create_deliveries_for_endpoints(
    engine: Engine, sim: SimServer, guards: Guards
) -> None:
    with engine.begin() as conn:
        repo.create_endpoint(conn, "http://127.0.0.1:9/hook", "whsec_" + "A" * 40, now=NOW)
    add_order(engine)
    run_due(engine, settings_for(sim), guards, NOW)
    assert count(engine, webhook_deliveries) == count(engine, alerts) > 0


def test_an_unavailable_source_backs_off_and_keeps_the_parcel(
    engine: Engine, guards: Guards
) -> None:
    failing = scenario()
    failing["behaviours"] = [{"kind": "error", "source": "cainiao", "status": 503}]
    with SimServer(failing) as server:
        server.clock.set(NOW)
        settings = settings_for(server)
        (pid,) = add_order(engine)
        outcomes = {o.source: o.outcome for o in run_due(engine, settings, guards, NOW)}
    assert outcomes["cainiao"] == "SourceUnavailable"
    assert outcomes["17track"] == "ok"
    with engine.connect() as conn:
        parcel = repo.get_parcel(conn, pid)
    assert parcel is not None and parcel.poll_failures >= 1


def test_overdue_is_raised_by_the_deadline_sweep_without_any_new_event(
    engine: Engine, guards: Guards
) -> None:
    stuck = scenario(journey=JOURNEY[:4])  # left China, then nothing
    with SimServer(stuck) as server:
        server.clock.set(NOW)
        add_order(engine, promised="2026-10-25")
        run_due(engine, settings_for(server), guards, NOW)
    later = datetime(2026, 10, 27, 12, tzinfo=UTC)
    sent: list[tuple[int, int]] = []
    assert (
        polling.sweep_deadlines(
            engine, later, settings_for(server), lambda d, a: sent.append((d, a))
        )
        == 1
    )
    with engine.connect() as conn:
        types = [a.type for a in repo.list_alerts(conn)]
    assert types.count("order.overdue") == 1
    polling.sweep_deadlines(
        engine, later + timedelta(hours=1), settings_for(server), lambda d, a: None
    )
    with engine.connect() as conn:
        assert [a.type for a in repo.list_alerts(conn)].count("order.overdue") == 1


@pytest.mark.parametrize("journey", [JOURNEY[:4], []], ids=["quiet-after-leaving", "never-seen"])
def test_the_sweep_raises_a_stall_after_the_configured_quiet_days(
    engine: Engine, guards: Guards, journey: list[dict[str, Any]]
) -> None:
    """TRACKER_STALLED_DAYS and TRACKER_DEADLINE_NEAR_DAYS decide when the deadline sweep comes
    back, not only whether the alert is due when it does: a parcel quiet since it left China
    (or never scanned at all) is checked again when the configured days have passed."""
    polled_at = START + timedelta(days=2)
    with SimServer(scenario(journey=journey)) as server:
        server.clock.set(polled_at)
        settings = Settings.from_env(
            {**server.env(), "TRACKER_SOURCES": "cainiao,17track",
             "TRACKER_STALLED_DAYS": "5", "TRACKER_DEADLINE_NEAR_DAYS": "7"}
        )  # fmt: skip
        add_order(engine, promised="2026-10-25", now=polled_at)
        run_due(engine, settings, guards, polled_at)
    quiet_since = START + timedelta(hours=journey[-1]["at"]) if journey else START
    with engine.connect() as conn:
        check = conn.execute(sa.select(orders.c.next_check_at)).scalar_one()
    assert aware(check) == quiet_since + timedelta(days=5)
    assert polling.sweep_deadlines(engine, aware(check), settings, lambda d, a: None) == 1
    with engine.connect() as conn:
        stalls = [a for a in repo.list_alerts(conn) if a.type == "tracking.stalled"]
    assert [a.data["quiet_days"] for a in stalls] == [5.0]


def test_a_push_is_analysed_at_once_like_a_poll(engine: Engine) -> None:
    import json
    from pathlib import Path

    from tracker.sources.push import push_observation

    gettrackinfo = json.loads(
        (
            Path(__file__).parents[1]
            / "fixtures"
            / "17track"
            / "api-v2.4-gettrackinfo-correios-2151.json"
        ).read_text()
    )
    accepted = gettrackinfo["data"]["accepted"][0]
    body = json.dumps(
        {
            "event": "TRACKING_UPDATED",
            "data": {
                "number": accepted["number"],
                "carrier": accepted["carrier"],
                "tag": None,
                "track_info": accepted["track_info"],
            },
        }
    ).encode()
    order = Order(
        id="B-1",
        destination=Destination("BR", "50000-000", "Recife"),
        shipped_at=START,
        promised_by=NOW.date(),
        parcels=(Parcel(accepted["number"]),),
    )
    with engine.begin() as conn:
        repo.upsert_order(conn, order, ["17track"], now=NOW)
    sent: list[tuple[int, int]] = []
    observation = push_observation("17track", body, NOW)
    settings = Settings.from_env({})
    observation_id, linked = polling.ingest(
        engine, observation, NOW, settings, lambda d, a: sent.append((d, a))
    )
    assert linked == 1
    assert count(engine, events) > 0
    with engine.connect() as conn:
        stored = repo.get_order(conn, "B-1")
        types = {a.type for a in repo.list_alerts(conn)}
    assert stored is not None and stored.status == "delivered"
    assert types & {"delivery.confirmed", "delivery.suspect"}
    again = polling.ingest(engine, observation, NOW, settings, lambda d, a: sent.append((d, a)))
    assert again == (observation_id, 1)  # a provider's retry changes nothing
    with engine.connect() as conn:
        assert {a.type for a in repo.list_alerts(conn)} == types


def test_a_second_source_confirming_a_delivery_sends_no_second_alert(engine: Engine) -> None:
    """Cainiao's answer, then 17TRACK's with the places Cainiao leaves out: the merged events'
    ids change, the stored alerts (and so the webhooks) do not."""
    import json
    from pathlib import Path

    from tracker.casefile import Case
    from tracker.service.orders import order_report

    path = Path(__file__).parents[1] / "cases" / "clean-delivery-3-sources.json"
    case = Case.from_json(json.loads(path.read_text()))
    now = datetime(2026, 10, 16, 12, tzinfo=UTC)
    with engine.begin() as conn:
        repo.upsert_order(conn, case.order, ["cainiao", "17track"], now=now)
    cainiao, seventeen = (next(o for o in case.observations if o.source == s)
                          for s in ("cainiao", "17track"))  # fmt: skip
    settings = Settings.from_env({})
    seen = []
    for observation in (cainiao, seventeen):
        now += timedelta(hours=1)
        polling.ingest(engine, observation, now, settings, lambda d, a: None)
        with engine.connect() as conn:
            seen.append(sorted((a.type, a.key) for a in repo.list_alerts(conn)))
    timeline = order_report(engine, case.order.id, now)["timeline"]
    number = case.parcels[0].tracking_number
    assert ("delivery.confirmed", f"{case.order.id}:delivery.confirmed:{number}") in seen[0]
    assert seen[1] == seen[0]
    assert timeline[-1]["sources"] == ["17track", "cainiao"]


class _Waiting:
    """A source guard whose quota is used up: the poll must wait, not fetch."""

    def wait_time(self, calls: int = 1) -> float:
        return 5.0

    def call(self, func: Any) -> Any:
        raise AssertionError("a poll that must wait fetched anyway")


def test_a_poll_that_waits_for_its_quota_is_counted(engine: Engine, sim: SimServer) -> None:
    from tracker import metrics

    settings = settings_for(sim)
    ids = add_order(engine)
    waits = metrics.RATE_LIMIT_WAITS.labels(source="cainiao")
    before = waits._value.get()
    outcome = polling.poll(
        engine, client(settings, "cainiao"), _Waiting(), ids, lambda: NOW, settings, print
    )
    assert outcome.outcome == "rate_limited"
    assert waits._value.get() == before + 1


def test_new_alerts_are_counted_by_type(engine: Engine, sim: SimServer, guards: Guards) -> None:
    from tracker import metrics

    def counted(alert_type: str) -> float:
        return float(metrics.ALERTS.labels(type=alert_type)._value.get())

    before = counted("delivery.confirmed")
    add_order(engine)
    run_due(engine, settings_for(sim), guards, NOW)
    with engine.connect() as conn:
        raised = [a for a in repo.list_alerts(conn) if a.type == "delivery.confirmed"]
    assert raised and counted("delivery.confirmed") == before + len(raised)


@pytest.mark.parametrize("source", ["17track", "aftership"])
def test_a_number_the_source_does_not_track_yet_is_registered_and_then_tracked(
    engine: Engine, guards: Guards, source: str
) -> None:
    """17TRACK and AfterShip track a number only once registered (created): the poll that
    meets it unregistered registers it, through the quota, and the next poll brings its
    events."""
    parcel = {**scenario()["parcels"][0], "sources": [source]}
    doc = {**scenario(), "parcels": [parcel], "registration": [source]}
    with SimServer(doc) as server:
        server.clock.set(NOW)
        settings = Settings.from_env({**server.env(), "TRACKER_SOURCES": source})
        order = Order(
            id="R-1",
            destination=Destination("DE", "10115", "Berlin"),
            shipped_at=START,
            promised_by=date(2026, 10, 25),
            parcels=(Parcel(parcel["number"]),),
        )
        with engine.begin() as conn:
            repo.upsert_order(conn, order, [source], now=NOW)
        [first] = run_due(engine, settings, guards, NOW)
        assert (first.outcome, first.registered, first.new_events) == ("ok", 1, 0)
        calls_first = server.requests(source)
        with engine.begin() as conn:  # poll it again now rather than when its cadence says
            conn.execute(sa.update(parcels).values(next_poll_at=NOW))
        [second] = run_due(engine, settings, guards, NOW)
        assert (second.registered, second.new_events > 0) == (0, True)
    assert calls_first == 2  # the poll, then the registration
    with engine.connect() as conn:
        assert repo.get_order(conn, "R-1").status == "delivered"
