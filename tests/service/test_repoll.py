"""Re-polls: one that brings nothing new is rescheduled from stored state without re-analysis;
one that brings a new event is analysed again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tests.service.test_polling import (
    JOURNEY,
    NOW,
    START,
    Destination,
    Order,
    Parcel,
    add_order,
    add_orders,
    batch_scenario,
    run_due,
    scenario,
    settings_for,
)
from tracker.model import NumberResult, Outcome
from tracker.service import orders, repoll
from tracker.sim.server import SimServer
from tracker.store import repo
from workers.guards import Guards


@pytest.fixture
def sim() -> Iterator[SimServer]:
    with SimServer(scenario()) as server:
        server.clock.set(NOW)
        yield server


BOTH = ["cainiao", "17track"]


def make_due(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE parcels SET next_poll_at = :t"), {"t": START})


def test_a_quiet_repoll_only_reschedules(engine: Engine, sim: SimServer, guards: Guards) -> None:
    settings = settings_for(sim)
    (pid,) = add_order(engine)
    run_due(engine, settings, guards, NOW)
    with engine.connect() as conn:
        before = repo.get_order(conn, "A-1")
        verdicts = len(repo.verdict_history(conn, "A-1"))
        stored = (repo.get_parcel(conn, pid).results or {}).values()  # type: ignore[union-attr]
    first_seen = {r["observed_at"] for rs in stored for r in rs}
    later = NOW + timedelta(hours=2)
    make_due(engine)
    run_due(engine, settings, guards, later)
    with engine.connect() as conn:
        after = repo.get_order(conn, "A-1")
        parcel = repo.get_parcel(conn, pid)
        assert len(repo.verdict_history(conn, "A-1")) == verdicts
    assert before is not None and after is not None and parcel is not None
    assert after.updated_at == before.updated_at  # the report was not rewritten
    assert parcel.last_polled_at == later
    assert parcel.poll_failures == 0
    # delivered: the second source's poll of this round is not the confirmation, so one more
    # confirmation poll is scheduled (as a full re-analysis schedules it)
    assert parcel.next_poll_at is not None and parcel.next_poll_at > later
    observed = {r["observed_at"] for rs in (parcel.results or {}).values() for r in rs}
    assert observed and not observed & first_seen  # the answers were stored again


def test_a_repoll_with_a_new_event_is_analysed_again(
    engine: Engine, sim: SimServer, guards: Guards
) -> None:
    settings = settings_for(sim)
    add_order(engine)
    sim.clock.set(START + timedelta(hours=150))  # in transit: not delivered yet
    run_due(engine, settings, guards, NOW)
    with engine.connect() as conn:
        first = repo.get_order(conn, "A-1")
    sim.clock.set(NOW)
    make_due(engine)
    run_due(engine, settings, guards, NOW + timedelta(hours=1))
    with engine.connect() as conn:
        second = repo.get_order(conn, "A-1")
        types = {a.type for a in repo.list_alerts(conn)}
    assert first is not None and second is not None
    assert first.status != "delivered"
    assert (second.status, second.verdict) == ("delivered", "delivered")
    assert "delivery.confirmed" in types


def result(**changes: object) -> NumberResult:
    fields: dict[str, object] = {"source": "cainiao", "requested": "N1", "outcome": Outcome.FOUND}
    fields.update(changes)
    return NumberResult(**fields)  # type: ignore[arg-type]


def test_only_the_observation_time_may_differ_for_unchanged_results() -> None:
    from tracker.store.orders import ParcelRow
    from tracker.store.polling import result_to_data

    def row(stored: list[NumberResult] | None) -> ParcelRow:
        results = None if stored is None else {"cainiao": [result_to_data(r) for r in stored]}
        return ParcelRow(
            1,
            "A",
            "N1",
            [],
            None,
            ["cainiao"],
            "active",
            None,
            None,
            None,
            0,
            "in_transit",
            None,
            results,
        )

    old = [result(observed_at=NOW)]
    assert not repoll.results_changed(row(old), "cainiao", [result(observed_at=NOW + timedelta(1))])
    assert repoll.results_changed(row(old), "cainiao", [result(outcome=Outcome.NOT_FOUND)])
    assert repoll.results_changed(row(None), "cainiao", [result()])


def test_a_repeated_body_is_not_parsed_but_restamped(
    engine: Engine, sim: SimServer, guards: Guards
) -> None:
    settings = settings_for(sim)
    (pid,) = add_order(engine)
    first = run_due(engine, settings, guards, NOW)
    assert first and not any(o.repeated for o in first)
    with engine.connect() as conn:
        links = count_links(conn, pid)
        before = repo.get_order(conn, "A-1")
        stored = (repo.get_parcel(conn, pid).results or {}).values()  # type: ignore[union-attr]
    first_seen = {r["observed_at"] for rs in stored for r in rs}
    later = NOW + timedelta(hours=2)
    make_due(engine)
    second = run_due(engine, settings, guards, later)  # the simulator's clock stayed: same bytes
    assert second and all(o.repeated and o.outcome == "ok" for o in second)
    with engine.connect() as conn:
        parcel = repo.get_parcel(conn, pid)
        after = repo.get_order(conn, "A-1")
        assert count_links(conn, pid) == links
    assert parcel is not None and before is not None and after is not None
    assert after.updated_at == before.updated_at
    assert parcel.last_polled_at == later and parcel.next_poll_at is not None
    observed = {r["observed_at"] for rs in (parcel.results or {}).values() for r in rs}
    assert observed and not observed & first_seen  # re-stamped with the new fetch times


def test_a_known_body_not_recorded_on_the_parcel_is_parsed_linked_and_remembered(
    engine: Engine, sim: SimServer, guards: Guards
) -> None:
    """As after migration 0002 (parcels polled before it have no `bodies`), or a stored body
    newly covering a parcel: parsed once, linked, then recognised."""
    settings = settings_for(sim)
    (pid,) = add_order(engine)
    run_due(engine, settings, guards, NOW)
    with engine.begin() as conn:
        links = count_links(conn, pid)
        remembered = repo.get_parcel(conn, pid).bodies  # type: ignore[union-attr]
        conn.execute(sa.text("DELETE FROM observation_parcels WHERE parcel_id = :p"), {"p": pid})
        conn.execute(sa.text("UPDATE parcels SET bodies = NULL WHERE id = :p"), {"p": pid})
    assert remembered and sorted(remembered) == ["17track", "cainiao"]
    make_due(engine)
    outcomes = run_due(engine, settings, guards, NOW + timedelta(hours=2))
    assert outcomes and not any(o.repeated for o in outcomes)
    with engine.connect() as conn:
        assert count_links(conn, pid) == links  # the stored bodies are linked again
        assert repo.get_parcel(conn, pid).bodies == remembered  # type: ignore[union-attr]
    make_due(engine)
    again = run_due(engine, settings, guards, NOW + timedelta(hours=3))
    assert again and all(o.repeated for o in again)


def test_an_older_body_coming_back_is_parsed(
    engine: Engine, sim: SimServer, guards: Guards
) -> None:
    settings = settings_for(sim)
    add_order(engine)
    sim.clock.set(START + timedelta(hours=150))  # body A: in transit
    run_due(engine, settings, guards, NOW)
    sim.clock.set(NOW)  # body B: delivered
    make_due(engine)
    run_due(engine, settings, guards, NOW + timedelta(hours=1))
    sim.clock.set(START + timedelta(hours=150))  # body A again: not what the answers are from
    make_due(engine)
    outcomes = run_due(engine, settings, guards, NOW + timedelta(hours=2))
    assert outcomes and not any(o.repeated for o in outcomes)


def count_links(conn: sa.Connection, parcel_id: int) -> int:
    query = sa.text("SELECT count(*) FROM observation_parcels WHERE parcel_id = :p")
    return int(conn.execute(query, {"p": parcel_id}).scalar_one())


def test_a_push_between_two_identical_polls_makes_the_second_one_parsed(
    engine: Engine, sim: SimServer, guards: Guards
) -> None:
    """The stored answers of 17TRACK come from the push after it: the polled body, unchanged,
    is no longer the one they were read from, so it is parsed again (not restamped)."""
    import json

    from tracker.service import polling
    from tracker.settings import Settings
    from tracker.sources.push import push_observation

    settings = settings_for(sim)
    (pid,) = add_order(engine)
    run_due(engine, settings, guards, NOW)
    with engine.connect() as conn:
        polled = conn.execute(
            sa.text("SELECT body FROM observations WHERE source = '17track'")
        ).scalar_one()
    accepted = json.loads(polled)["data"]["accepted"][0]
    push = {"event": "TRACKING_UPDATED", "data": {**accepted, "tag": None}}
    observation = push_observation("17track", json.dumps(push).encode(), NOW)
    polling.ingest(engine, observation, NOW, Settings.from_env({}), lambda d, a: None)
    with engine.connect() as conn:
        bodies = repo.get_parcel(conn, pid).bodies  # type: ignore[union-attr]
    assert bodies is not None and bodies["17track"] == observation.sha256
    make_due(engine)
    outcomes = {o.source: o for o in run_due(engine, settings, guards, NOW + timedelta(hours=2))}
    assert outcomes["cainiao"].repeated
    assert not outcomes["17track"].repeated and outcomes["17track"].outcome == "ok"


def test_in_a_batch_only_the_parcel_that_moved_is_parsed(engine: Engine, guards: Guards) -> None:
    """Cainiao and 17TRACK answer three parcels in one body each: when one moves, the other
    two are answered with their very parts of before and are re-stamped unparsed, while the
    one that moved gets its new event, its new state, and a new digest."""
    from tracker.store.tables import events

    later_journey = [{**step, "at": step["at"] + 400} for step in JOURNEY]  # on its way at NOW
    numbers = ["LP00512345678901", "LP00512345678902", "LP00512345678903"]
    journeys = {numbers[2]: later_journey}
    with SimServer(batch_scenario("batch", numbers, BOTH, journeys)) as sim:
        sim.clock.set(NOW)
        settings = settings_for(sim)
        ids = add_orders(engine, numbers, BOTH)
        first = run_due(engine, settings, guards, NOW)
        assert sorted(o.source for o in first) == ["17track", "cainiao"]  # one batch each
        assert all(o.parcels == 3 and o.unchanged == 0 for o in first)
        with engine.connect() as conn:
            parcels = {pid: repo.get_parcel(conn, pid) for pid in ids}
            reports = {o: repo.get_order(conn, o) for o in ("A-0", "A-1", "A-2")}
            stored = conn.execute(sa.select(sa.func.count()).select_from(events)).scalar_one()
            links = {pid: count_links(conn, pid) for pid in ids}
        shown = {o: orders.order_report(engine, o, NOW) for o in ("A-0", "A-1")}
        sim.clock.set(NOW + timedelta(hours=45))  # the third parcel arrives at its destination
        make_due(engine)
        again = run_due(engine, settings, guards, NOW + timedelta(hours=45))
    assert all(o.outcome == "ok" and o.unchanged == 2 and not o.repeated for o in again)
    assert all(o.new_events == 1 for o in again)  # one new scan, reported by each source
    with engine.connect() as conn:
        after = {pid: repo.get_parcel(conn, pid) for pid in ids}
        rewritten = {
            o for o, r in reports.items() if r != repo.get_order(conn, o)
        }  # reports re-analysed
        count = conn.execute(sa.select(sa.func.count()).select_from(events)).scalar_one()
    assert count == stored + 2
    assert rewritten == {"A-2"}
    for pid in ids:
        old, new = parcels[pid], after[pid]
        assert old is not None and new is not None and old.bodies and new.bodies
        assert new.last_polled_at == NOW + timedelta(hours=45)  # every parcel was refreshed
        seen = {r["observed_at"] for rs in (old.results or {}).values() for r in rs}
        observed = {r["observed_at"] for rs in (new.results or {}).values() for r in rs}
        assert len(observed) == 2 and min(observed) > max(seen)  # answers stored again
        assert (new.bodies == old.bodies) is (pid != ids[2])
    # the new batch answers are evidence for the parcel that moved only: the two others keep
    # the answers that first told what these still say (as when a whole answer repeats)
    with engine.connect() as conn:
        assert {pid: count_links(conn, pid) - links[pid] for pid in ids} == {
            ids[0]: 0,
            ids[1]: 0,
            ids[2]: 2,
        }
    assert {o: orders.order_report(engine, o, NOW) for o in shown} == shown


def test_polling_one_parcel_of_an_order_keeps_its_siblings_answers(
    engine: Engine, guards: Guards
) -> None:
    """An order of two parcels, each polled on its own schedule: the poll of one must not
    drop what the sources answered about the other (nor judge the order without it)."""

    numbers = ["LP00512345678901", "LP00512345678902"]
    doc = batch_scenario("two-parcels", numbers, BOTH)
    with SimServer(doc) as sim:
        sim.clock.set(NOW)
        settings = settings_for(sim)
        parcels = tuple(Parcel(n) for n in numbers)
        promised = NOW.date() + timedelta(days=20)
        order = Order("A-1", Destination("DE", "10115", "Berlin"), START, promised, parcels=parcels)
        with engine.begin() as conn:
            first, second = repo.upsert_order(conn, order, ["cainiao", "17track"], now=NOW)
        run_due(engine, settings, guards, NOW)
        with engine.connect() as conn:
            before = repo.get_parcel(conn, second)
            report = repo.get_order(conn, "A-1")
        assert before is not None and sorted(before.results or {}) == ["17track", "cainiao"]
        with engine.begin() as conn:  # only the first parcel is due
            conn.execute(
                sa.text("UPDATE parcels SET next_poll_at = :t WHERE id = :p"),
                {"t": START, "p": first},
            )
        sim.clock.set(NOW + timedelta(hours=1))
        outcomes = run_due(engine, settings, guards, NOW + timedelta(hours=1))
    assert outcomes and all(o.parcels == 1 and o.outcome == "ok" for o in outcomes)
    with engine.connect() as conn:
        after = repo.get_parcel(conn, second)
        again = repo.get_order(conn, "A-1")
    assert after is not None and after.results == before.results
    assert report is not None and again is not None
    assert (again.status, again.verdict) == (report.status, report.verdict)


def test_one_parcel_shipped_for_two_orders_is_repolled_for_both(
    engine: Engine, guards: Guards
) -> None:
    """The same number in two orders (AliExpress ships several orders in one parcel): both
    parcels are covered by the answer, re-stamped when it repeats, and keep their answers."""
    number = "LP00512345678901"
    with SimServer(batch_scenario("shared", [number], BOTH)) as sim:
        sim.clock.set(NOW)
        settings = settings_for(sim)
        ids = add_orders(engine, [number, number], BOTH)
        first = run_due(engine, settings, guards, NOW)
        make_due(engine)
        later = NOW + timedelta(hours=2)
        again = run_due(engine, settings, guards, later)
    assert all(o.outcome == "ok" and o.parcels == 2 for o in first + again)
    assert all(o.repeated and o.unchanged == 2 for o in again)
    with engine.connect() as conn:
        for pid in ids:
            parcel = repo.get_parcel(conn, pid)
            assert parcel is not None and parcel.last_polled_at == later
            assert (
                sorted(parcel.results or {})
                == sorted(parcel.bodies or {})
                == [
                    "17track",
                    "cainiao",
                ]
            )


def test_a_malformed_part_does_not_hold_back_its_batch_neighbours(
    engine: Engine, guards: Guards
) -> None:
    """A's part of a Cainiao answer has an odd item just as B is delivered: B's new events
    are stored at once, and A recovers when its part is well formed again."""
    import json

    from tests.service.test_polling import client
    from tracker import sources
    from tracker.model import Observation
    from tracker.service import polling
    from tracker.store import polling as store_polling
    from tracker.store.tables import events

    numbers = ["LP00512345678901", "LP00512345678902"]
    doc = batch_scenario("batch", numbers, ["cainiao"])
    with SimServer(doc) as sim:
        settings = settings_for(sim)
        sim.clock.set(NOW)
        (answer,) = sources.module("cainiao").fetch(client(settings, "cainiao"), numbers)
        delivered = json.loads(answer.payload)
        sim.clock.set(START + timedelta(hours=150))
        ids = add_orders(engine, numbers, ["cainiao"])
        run_due(engine, settings, guards, NOW)  # both in transit
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT body FROM observations")).scalar_one()
    transit = json.loads(stored)
    a_ok, b_delivered = transit["module"][0], delivered["module"][1]
    a_bad = {**a_ok, "detailList": [*a_ok["detailList"], "glitch"]}

    def poll(modules: list[Any], at: datetime) -> tuple[int, str | None]:
        body = json.dumps({**transit, "module": modules})
        observation = Observation("cainiao", body, at, tuple(numbers), 200, "application/json")
        with engine.connect() as conn:
            targets = store_polling.poll_targets(conn, ids, "cainiao")
        outcome = polling.PollOutcome("cainiao", 2, "ok")
        polling._store(engine, targets, [observation], lambda: at, settings, outcome)
        with engine.connect() as conn:
            query = sa.select(sa.func.count()).where(events.c.parcel_id == ids[1])
            order = repo.get_order(conn, "A-1")
            assert order is not None
            return int(conn.execute(query).scalar_one()), order.status

    before, _ = poll([a_ok, transit["module"][1]], NOW + timedelta(minutes=30))
    after, status = poll([a_bad, b_delivered], NOW + timedelta(hours=1))
    assert after > before and status == "delivered"  # B's scans despite A's odd part
    with engine.connect() as conn:
        a = repo.get_parcel(conn, ids[0])
    assert a is not None and a.results is not None and a.results["cainiao"] == []  # as a bad body


def test_a_push_about_one_number_keeps_the_answer_about_the_parcels_other_number(
    engine: Engine, guards: Guards
) -> None:
    """A parcel tracked under two numbers (the marketplace's and the last-mile carrier's):
    17TRACK pushes about one of them; its answer about the other stays as polled."""
    import json

    from tracker.service import polling
    from tracker.settings import Settings
    from tracker.sources.push import push_observation

    first, second = "LP00512345678901", "LP00512345678902"
    with SimServer(batch_scenario("two-numbers", [first, second], ["17track"])) as sim:
        sim.clock.set(NOW)
        settings = settings_for(sim)
        order = Order(
            "A-1",
            Destination("DE", "10115", "Berlin"),
            START,
            NOW.date() + timedelta(days=20),
            parcels=(Parcel(first, (second,)),),
        )
        with engine.begin() as conn:
            (pid,) = repo.upsert_order(conn, order, ["17track"], now=NOW)
        run_due(engine, settings, guards, NOW)
    with engine.connect() as conn:
        polled_results = repo.get_parcel(conn, pid).results["17track"]  # type: ignore[union-attr]
        body = conn.execute(sa.text("SELECT body FROM observations")).scalar_one()
    assert sorted(r["requested"] for r in polled_results) == [first, second]
    (item,) = [i for i in json.loads(body)["data"]["accepted"] if i["number"] == first]
    pushed_at = NOW + timedelta(hours=1)
    push = {"event": "TRACKING_UPDATED", "data": {**item, "tag": None}}
    observation = push_observation("17track", json.dumps(push).encode(), pushed_at)
    polling.ingest(engine, observation, pushed_at, Settings.from_env({}), lambda d, a: None)
    with engine.connect() as conn:
        after = repo.get_parcel(conn, pid).results["17track"]  # type: ignore[union-attr]
    by_number = {r["requested"]: r for r in after}
    assert sorted(by_number) == [first, second]
    assert by_number[second] == next(r for r in polled_results if r["requested"] == second)
    assert by_number[first]["observed_at"] == pushed_at.isoformat()


def _push_of(engine: Engine, number: str, received: datetime) -> Any:
    """A 17TRACK push of `number`'s item in the newest stored 17TRACK answer."""
    import json

    from tracker.sources.push import push_observation

    with engine.connect() as conn:
        body = conn.execute(
            sa.text(
                "SELECT body FROM observations WHERE source = '17track' "
                "ORDER BY fetched_at DESC, id DESC LIMIT 1"
            )
        ).scalar_one()
    (item,) = [i for i in json.loads(body)["data"]["accepted"] if i["number"] == number]
    push = {"event": "TRACKING_UPDATED", "data": {**item, "tag": None}}
    return push_observation("17track", json.dumps(push).encode(), received)


def test_a_push_is_processed_once_and_an_older_one_replayed_changes_nothing(
    engine: Engine, sim: SimServer, guards: Guards
) -> None:
    """17TRACK signs no delivery id nor time: a push's body is its id (SEC-10). Replaying the
    push of an older state after a newer one must not bring the older answers back."""
    from tracker.service import polling
    from tracker.settings import Settings

    number = "LP00512345678901"
    settings = settings_for(sim)
    (pid,) = add_order(engine)
    sim.clock.set(START + timedelta(hours=150))  # on its way
    run_due(engine, settings, guards, NOW)
    older = _push_of(engine, number, NOW + timedelta(hours=1))
    sim.clock.set(NOW)  # delivered
    make_due(engine)
    run_due(engine, settings, guards, NOW + timedelta(hours=2))
    newer = _push_of(engine, number, NOW + timedelta(hours=3))
    plain = Settings.from_env({})
    for push in (older, newer):
        polling.ingest(engine, push, push.fetched_at, plain, lambda d, a: None)
    with engine.connect() as conn:
        parcel = repo.get_parcel(conn, pid)
        report = repo.get_order(conn, "A-1")
    assert parcel is not None and parcel.bodies is not None
    assert parcel.bodies["17track"] == newer.sha256
    later = NOW + timedelta(hours=4)
    for push in (older, newer):  # the older replayed, then the newer sent again
        assert polling.ingest(engine, push, later, plain, lambda d, a: None)[1] == 1
        with engine.connect() as conn:
            assert repo.get_parcel(conn, pid) == parcel  # answers, digest, schedule: as were
            assert repo.get_order(conn, "A-1") == report
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT count(*) FROM observations")).scalar_one()
    assert stored == 6  # two polls of two sources, and each push once
    # a second order shipped under the same number, then the older push replayed: the new
    # parcel takes it in, the first parcel's newer answers stay
    with engine.begin() as conn:
        (other,) = repo.upsert_order(
            conn,
            Order(
                "A-2",
                Destination("DE", "10115", "Berlin"),
                START,
                NOW.date() + timedelta(days=20),
                parcels=(Parcel(number),),
            ),
            ["17track"],
            now=later,
        )
    assert polling.ingest(engine, older, later, plain, lambda d, a: None)[1] == 2
    with engine.connect() as conn:
        assert repo.get_parcel(conn, pid) == parcel
        assert count_links(conn, other) == 1
        taken = repo.get_parcel(conn, other)
    assert taken is not None and taken.bodies == {"17track": older.sha256}


def test_a_push_received_before_its_order_is_linked_when_it_comes_again(
    engine: Engine, sim: SimServer, guards: Guards
) -> None:
    from tracker.service import polling
    from tracker.settings import Settings

    settings = settings_for(sim)
    (pid,) = add_order(engine)
    run_due(engine, settings, guards, NOW)
    push = _push_of(engine, "LP00512345678901", NOW + timedelta(hours=1))
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM observation_parcels"))
        conn.execute(sa.text("UPDATE parcels SET tracking_number = 'LP-NOT-YET'"))
    plain = Settings.from_env({})
    first = polling.ingest(engine, push, push.fetched_at, plain, lambda d, a: None)
    assert first[1] == 0  # no parcel carries its number yet: kept unlinked
    with engine.begin() as conn:  # the order's number is now known
        conn.execute(sa.text("UPDATE parcels SET tracking_number = 'LP00512345678901'"))
    second = polling.ingest(engine, push, NOW + timedelta(hours=2), plain, lambda d, a: None)
    assert second == (first[0], 1)
    with engine.connect() as conn:
        assert count_links(conn, pid) == 1
        parcel = repo.get_parcel(conn, pid)
    assert parcel is not None and parcel.bodies is not None
    assert parcel.bodies["17track"] == push.sha256  # analysed: its answers are the parcel's


def test_only_answers_about_the_parcels_other_numbers_are_kept(
    engine: Engine, sim: SimServer, guards: Guards
) -> None:
    """An answer kept aside when a source answers again must be about one of the parcel's own
    numbers: an extra answer the source gave once (for a number nobody asked about) or one
    about a number removed from the parcel is replaced, not kept for ever."""
    import dataclasses

    settings = settings_for(sim)
    (pid,) = add_order(engine)
    run_due(engine, settings, guards, NOW)
    with engine.connect() as conn:
        row = repo.get_parcel(conn, pid)
    assert row is not None and row.results is not None
    mine = row.results["17track"][0]
    stray = {**mine, "requested": "LP-NOBODY-ASKED"}
    row = dataclasses.replace(row, results={**row.results, "17track": [mine, stray]})
    assert repoll.other_numbers_results(row, "17track", {row.tracking_number}) == []
    two = dataclasses.replace(row, other_numbers=["LP-SECOND"])
    second = {**mine, "requested": "LP-SECOND"}
    two = dataclasses.replace(two, results={**row.results, "17track": [mine, second, stray]})
    kept = repoll.other_numbers_results(two, "17track", {row.tracking_number})
    assert [r.requested for r in kept] == ["LP-SECOND"]
    # a poll names every number of the parcel: nothing is kept aside
    assert repoll.other_numbers_results(two, "17track", {row.tracking_number, "LP-SECOND"}) == []


class _MeanwhileGuard:
    """The real guard of a source, running `meanwhile` once as the fetch starts: what another
    process commits while a poll waits on its source."""

    def __init__(self, guard: Any, meanwhile: Any) -> None:
        self.guard, self.meanwhile = guard, meanwhile

    def wait_time(self, calls: int = 1) -> float:
        return float(self.guard.wait_time(calls))

    def call(self, func: Any) -> Any:
        if self.meanwhile is not None:
            self.meanwhile, action = None, self.meanwhile
            action()
        return self.guard.call(func)


def test_an_order_updated_during_a_polls_fetch_is_judged_with_the_update(
    engine: Engine, sim: SimServer, guards: Guards
) -> None:
    """An import adds a second parcel to the order while a poll of its first parcel is
    fetching: the poll's re-analysis judges the order as it is when it writes (the report is
    what a fresh re-analysis gives), not as it was read before the fetch."""
    from tests.service.test_polling import client
    from tracker.service import polling
    from tracker.service.reanalysis import reanalyse_orders

    settings = settings_for(sim)

    def order(*numbers: str) -> Order:
        parcels = tuple(Parcel(n) for n in numbers)
        where = Destination("DE", "10115", "Berlin")
        return Order("A-1", where, START, NOW.date(), parcels=parcels)

    with engine.begin() as conn:
        (pid,) = repo.upsert_order(conn, order("LP00512345678901"), ["17track"], now=NOW)
    sim.clock.set(START + timedelta(hours=50))
    fetch = client(settings, "17track")
    polling.poll(engine, fetch, guards["17track"], [pid], lambda: NOW, settings, lambda d, a: None)
    sim.clock.set(START + timedelta(hours=130))  # a new scan
    later = NOW + timedelta(hours=3)

    def add_parcel() -> None:
        with engine.begin() as conn:
            both = order("LP00512345678901", "LP00599999999999")
            repo.upsert_order(conn, both, ["17track"], now=later)

    meddled = _MeanwhileGuard(guards["17track"], add_parcel)
    outcome = polling.poll(
        engine, fetch, meddled, [pid], lambda: later, settings, lambda d, a: None
    )
    assert outcome.outcome == "ok" and outcome.new_events
    with engine.connect() as conn:
        written = repo.get_order(conn, "A-1")
    with engine.begin() as conn:
        reanalyse_orders(conn, {"A-1"}, later, settings)
    with engine.connect() as conn:
        fresh = repo.get_order(conn, "A-1")
    assert written is not None and fresh is not None
    judged = ("status", "substatus", "verdict", "window_state", "dispute_closes_at")
    assert {k: getattr(written, k) for k in judged} == {k: getattr(fresh, k) for k in judged}
