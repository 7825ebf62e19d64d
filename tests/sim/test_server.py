"""The simulator over real HTTP: misbehaviour on demand, counters, control calls, and our own
adapters fetching from it with nothing but a base URL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tracker import sources
from tracker.model import Outcome, Status
from tracker.sim import SimServer
from tracker.sim.server import env_for
from tracker.sources.http import NO_RETRY, SourceClient

from .conftest import NOW, NUMBER, USPS_NUMBER, clean_parcel, scenario_dict

CAINIAO = "/global/detail.json"


def _sim(*behaviours: dict[str, Any], parcel: dict[str, Any] | None = None) -> SimServer:
    return SimServer(scenario_dict(parcel or clean_parcel(), behaviours=list(behaviours)), now=NOW)


def _cainiao(sim: SimServer, numbers: str = NUMBER, timeout: float = 5) -> requests.Response:
    return requests.get(sim.url("cainiao") + CAINIAO, params={"mailNos": numbers}, timeout=timeout)


@pytest.fixture
def sim() -> Iterator[SimServer]:
    with _sim() as server:
        yield server


def test_each_source_answers_on_its_real_path(sim: SimServer) -> None:
    calls = [
        requests.post(
            sim.url("17track") + "/track/v2.4/gettrackinfo",
            json=[{"number": NUMBER}],
            headers={"17token": "k"},
            timeout=5,
        ),
        requests.post(sim.url("17track") + "/gettrackinfo", json=[{"number": NUMBER}], timeout=5),
        _cainiao(sim),
        requests.get(
            sim.url("aftership") + "/trackings", params={"tracking_numbers": NUMBER}, timeout=5
        ),
        requests.get(sim.url("aftership") + f"/v4/trackings/usps/{NUMBER}", timeout=5),
        requests.get(
            sim.url("usps") + f"/tracking/v3/tracking/{USPS_NUMBER}",
            params={"expand": "DETAIL"},
            timeout=5,
        ),
    ]
    assert [r.status_code for r in calls] == [200] * len(calls)
    assert calls[0].json() == calls[1].json()
    assert calls[4].json()["data"]["tracking"]["tracking_number"] == NUMBER
    assert calls[5].json()["trackingNumber"] == USPS_NUMBER
    assert (
        requests.get(
            sim.url("dhl") + "/track/shipments", params={"trackingNumber": "X"}, timeout=5
        ).status_code
        == 404
    )
    assert requests.get(f"{sim.base_url}/fedex/anything", timeout=5).status_code == 404


def test_unknown_number_and_counters(sim: SimServer) -> None:
    body = _cainiao(sim, f"{NUMBER},NOPE1").json()
    assert [m["mailNo"] for m in body["module"]] == [NUMBER, "NOPE1"]
    assert body["module"][1]["detailList"] == []
    _cainiao(sim)
    assert sim.requests("cainiao") == 2
    assert sim.requests("cainiao", NUMBER) == 2
    assert sim.requests(number="NOPE1") == 1
    stats = requests.get(f"{sim.base_url}/_sim/stats", timeout=5).json()
    assert stats["by_source_number"]["cainiao"] == {NUMBER: 2, "NOPE1": 1}
    assert stats["by_status"] == {"200": 2}
    assert requests.post(f"{sim.base_url}/_sim/reset", timeout=5).json() == {"ok": True}
    assert sim.requests() == 0


def test_rate_limit_every_nth_request_with_retry_after() -> None:
    with _sim({"kind": "rate_limit", "source": "cainiao", "every": 3, "retry_after": 7}) as sim:
        codes = [_cainiao(sim).status_code for _ in range(6)]
        assert codes == [200, 200, 429, 200, 200, 429]
        limited = _cainiao(sim)  # 7th
        assert limited.status_code == 200
        assert sim.stats["failures"] == {"cainiao:rate_limit": 2}
        usps = requests.get(sim.url("usps") + f"/tracking/{USPS_NUMBER}", timeout=5)
        assert usps.status_code == 200  # another source is not limited


def test_rate_limit_for_a_time_span_sends_the_sources_own_body() -> None:
    with _sim(
        {"kind": "rate_limit", "source": "17track", "during": [0, 60], "retry_after": 2}
    ) as sim:
        answer = requests.post(
            sim.url("17track") + "/gettrackinfo", json=[{"number": NUMBER}], timeout=5
        )
        assert answer.status_code == 429
        assert answer.headers["Retry-After"] == "2"
        assert answer.json()["code"] == 429


def test_5xx_burst_then_recovery() -> None:
    with _sim({"kind": "error", "source": "cainiao", "after": 1, "count": 3, "status": 502}) as sim:
        codes = [_cainiao(sim).status_code for _ in range(6)]
        assert codes == [200, 502, 502, 502, 200, 200]
        sim.reset()  # the burst starts over
        assert [_cainiao(sim).status_code for _ in range(2)] == [200, 502]


def test_slow_answer_for_one_number_only() -> None:
    parcel = clean_parcel(behaviours=[{"kind": "delay", "ms": 300}])
    with _sim(parcel=parcel) as sim:
        began = time.perf_counter()
        assert _cainiao(sim).status_code == 200
        slow = time.perf_counter() - began
        began = time.perf_counter()
        assert _cainiao(sim, "NOPE1").status_code == 200
        fast = time.perf_counter() - began
        assert slow >= 0.3 > fast


def test_hang_longer_than_the_client_timeout() -> None:
    with _sim({"kind": "hang", "source": "cainiao", "count": 1, "seconds": 5}) as sim:
        began = time.perf_counter()
        with pytest.raises(requests.Timeout):
            _cainiao(sim, timeout=0.3)
        assert time.perf_counter() - began < 2
        assert _cainiao(sim).status_code == 200  # only the first request hangs
        assert sim.stats["by_status"]["0"] == 1


@pytest.mark.parametrize("body", ["html", "truncated", "empty"])
def test_malformed_bodies(body: str) -> None:
    with _sim({"kind": "malformed", "source": "cainiao", "body": body}) as sim:
        answer = _cainiao(sim)
        assert answer.status_code == 200
        with pytest.raises(requests.JSONDecodeError):
            answer.json()
        if body == "html":
            assert answer.headers["Content-Type"].startswith("text/html")
        if body == "truncated":
            assert answer.text.startswith('{"module":')


def test_control_calls(sim: SimServer) -> None:
    base = sim.base_url
    assert requests.get(f"{base}/_sim/healthz", timeout=5).json()["ok"] is True
    clock = requests.post(f"{base}/_sim/clock", json={"advance_hours": 2}, timeout=5).json()
    assert clock["now"] == "2026-12-01T02:00:00Z"
    assert requests.post(f"{base}/_sim/clock", json={"when": 1}, timeout=5).status_code == 400
    assert requests.get(f"{base}/_sim/nope", timeout=5).status_code == 404


def test_the_clock_decides_what_is_visible(sim: SimServer) -> None:
    requests.post(f"{sim.base_url}/_sim/clock", json={"now": "2026-10-02T00:00:00Z"}, timeout=5)
    details = _cainiao(sim).json()["module"][0]["detailList"]
    assert 0 < len(details) < 12
    assert details[0]["actionCode"] != "GTMS_SIGNED"


def test_orders_endpoint_lists_the_demo_orders() -> None:
    with SimServer() as sim:
        orders = requests.get(f"{sim.base_url}/_sim/orders", timeout=5).json()
        assert len(orders) == len(sim.scenario.orders) >= 30
        lines = requests.get(
            f"{sim.base_url}/_sim/orders", params={"format": "jsonl"}, timeout=5
        ).text.splitlines()
        assert len(lines) == len(orders)


def test_env_names_every_source_url() -> None:
    env = env_for("http://127.0.0.1:9")
    assert env["TRACKER_CAINIAO_URL"] == "http://127.0.0.1:9/cainiao"
    assert env["TRACKER_17TRACK_URL"] == "http://127.0.0.1:9/17track"


@pytest.mark.parametrize(
    ("source", "number"),
    [("17track", NUMBER), ("cainiao", NUMBER), ("aftership", NUMBER), ("usps", USPS_NUMBER)],
)
def test_our_adapters_fetch_from_the_sim_with_only_a_base_url(
    sim: SimServer, source: str, number: str
) -> None:
    module = sources.module(source)
    client = SourceClient(module.SPEC, base_url=sim.url(source), key="sim-key", policy=NO_RETRY)
    (observation,) = module.fetch(client, [number, "NOPE1"][: module.SPEC.batch_size])
    result = sources.parse(observation)
    found = [r for r in result.results if r.requested == number]
    assert found and found[0].outcome is Outcome.FOUND
    assert max(result.events, key=lambda e: e.occurred_at or NOW).status is Status.DELIVERED
    assert sim.requests(source, number) == 1


def test_an_adapter_sees_429_as_rate_limited() -> None:
    from tracker.errors import RateLimited

    with _sim({"kind": "rate_limit", "source": "cainiao", "retry_after": 30}) as sim:
        module = sources.module("cainiao")
        client = SourceClient(module.SPEC, base_url=sim.url("cainiao"), policy=NO_RETRY)
        with pytest.raises(RateLimited) as info:
            module.fetch(client, [NUMBER])
        assert info.value.retry_after == 30


def test_cli_rejects_a_bad_scenario_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from tracker.sim.cli import main

    assert main(["--scenario", "/no/such/scenario.json", "--port", "0"]) == 2
    assert capsys.readouterr().err.strip() == ("tracker sim: /no/such/scenario.json: no such file")
    assert main(["--scenario", "synthetic:many", "--port", "0"]) == 2
    assert "synthetic:N[:SEED]" in capsys.readouterr().err


def test_a_synthetic_scenario_is_served_by_name() -> None:
    with SimServer("synthetic:50:4", now=NOW) as sim:
        assert sim.scenario.name == "synthetic-50-4"
        number = next(iter(sim.scenario.parcels))
        module = _cainiao(sim, f"{number},LP04999999999999CN").json()["module"]
        assert module[0]["detailList"] and module[1]["detailList"] == []


def test_aftership_create_then_get_by_id(sim: SimServer) -> None:
    base = sim.url("aftership") + "/tracking/2024-04/trackings"
    created = requests.post(base, json={"tracking_number": NUMBER, "slug": "usps"}, timeout=5)
    assert created.status_code == 201
    tracking = created.json()["data"]
    fetched = requests.get(f"{base}/{tracking['id']}", timeout=5).json()["data"]
    assert fetched["tracking_number"] == NUMBER
    assert fetched["checkpoints"][-1]["tag"] == "Delivered"
    pending = requests.post(base, json={"tracking_number": "NOPE1"}, timeout=5).json()["data"]
    assert pending["tag"] == "Pending"
    missing = requests.post(base, json={"slug": "usps"}, timeout=5)
    assert missing.status_code == 400 and missing.json()["meta"]["code"] == 4005


def test_seventeentrack_refuses_bad_bodies_and_big_batches(sim: SimServer) -> None:
    url = sim.url("17track") + "/gettrackinfo"
    assert requests.post(url, data=b"[{", timeout=5).status_code == 400
    assert requests.post(url, json={"number": NUMBER}, timeout=5).status_code == 400
    big = requests.post(url, json=[{"number": f"N{i}"} for i in range(41)], timeout=5).json()
    assert big["data"]["errors"][0]["code"] == -18010014


def test_17track_tracks_a_number_only_once_registered_where_the_scenario_says() -> None:
    doc = {**scenario_dict(clean_parcel()), "registration": ["17track"]}
    with SimServer(doc, now=NOW) as server:
        client = SourceClient(sources.spec("17track"), base_url=server.url("17track"), key="k",
                              policy=NO_RETRY)  # fmt: skip
        seventeen = sources.module("17track")
        first = seventeen.fetch(client, [NUMBER])
        assert seventeen.unregistered(first) == [NUMBER]
        [result] = seventeen.parse(first[0]).results
        assert (result.outcome, result.tracking_state.value) == (Outcome.NOT_FOUND, "pending")
        assert seventeen.register(client, [NUMBER]) == [NUMBER]
        assert seventeen.register(client, [NUMBER]) == [NUMBER]  # rejected: registered already
        again = requests.post(server.url("17track") + "/register", json=[{"number": NUMBER}],
                              timeout=5).json()  # fmt: skip
        assert again["data"]["rejected"][0]["error"]["code"] == -18019901
        tracked = seventeen.fetch(client, [NUMBER])
        assert seventeen.unregistered(tracked) == []
        assert seventeen.parse(tracked[0]).events
    with SimServer(scenario_dict(clean_parcel()), now=NOW) as server:  # registered from the start
        client = SourceClient(sources.spec("17track"), base_url=server.url("17track"), key="k",
                              policy=NO_RETRY)  # fmt: skip
        assert seventeen.unregistered(seventeen.fetch(client, [NUMBER])) == []


def test_registration_names_only_sources_that_register() -> None:
    from tracker.sim.scenario import ScenarioError, from_dict

    with pytest.raises(ScenarioError, match=r"registration\[0\].*unknown value 'cainiao'"):
        from_dict({**scenario_dict(clean_parcel()), "registration": ["cainiao"]})


def test_aftership_lists_a_number_only_once_a_tracking_was_created() -> None:
    doc = {**scenario_dict(clean_parcel()), "registration": ["aftership"]}
    with SimServer(doc, now=NOW) as server:
        client = SourceClient(sources.spec("aftership"), base_url=server.url("aftership"),
                              key="k", policy=NO_RETRY)  # fmt: skip
        aftership = sources.module("aftership")
        first = aftership.fetch(client, [NUMBER])
        assert aftership.unregistered(first) == [NUMBER]
        assert aftership.register(client, [NUMBER]) == [NUMBER]
        assert aftership.register(client, [NUMBER]) == [NUMBER]  # 4003: exists already
        tracked = aftership.fetch(client, [NUMBER])
        assert aftership.unregistered(tracked) == []
        assert aftership.parse(tracked[0]).events
