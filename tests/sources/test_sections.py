"""Batch answers cut by number (`sources.sections`): a number's digest changes exactly when its
part of the answer does, and parsing an answer narrowed to some numbers gives them what
parsing the whole answer gives them."""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tracker import sources
from tracker.model import Observation, ParseResult
from tracker.sim.server import SimServer
from tracker.sim.synthetic import generate, number_of
from tracker.sources.http import NO_RETRY, SourceClient

FIXTURES = Path(__file__).parent.parent / "fixtures"
FETCHED = datetime(2026, 11, 12, 10, 0, tzinfo=UTC)
SPLITTABLE = ("cainiao", "17track")


def observe(source: str, body: Any, numbers: Sequence[str]) -> Observation:
    payload = body if isinstance(body, str) else json.dumps(body)
    return Observation(source, payload, FETCHED, numbers=tuple(numbers))


def only(result: ParseResult, numbers: set[str]) -> tuple[list[Any], list[Any]]:
    """The events and number results of `result` about `numbers`."""
    return (
        [e for e in result.events if e.source_number in numbers],
        [r for r in result.results if r.requested in numbers],
    )


def assert_narrowing_keeps_what_parse_says(observation: Observation) -> None:
    cut = sources.sections(observation)
    assert cut is not None
    assert sorted(cut.digests) == sorted(set(observation.numbers))
    whole = sources.parse(observation)
    numbers = list(dict.fromkeys(observation.numbers))
    for size in range(1, len(numbers) + 1):
        for subset in itertools.islice(itertools.combinations(numbers, size), 12):
            narrowed = cut.narrowed(set(subset))
            assert set(narrowed.numbers) == set(subset)
            assert only(sources.parse(narrowed), set(subset)) == only(whole, set(subset))


# ----------------------------------------------------------------------------- fixtures


def batch_fixtures() -> Iterator[tuple[str, Path, list[str]]]:
    for source in SPLITTABLE:
        for path in sorted((FIXTURES / source).glob("*.json")):
            if not path.name.endswith(".expected.json"):
                expected = path.with_name(path.stem + ".expected.json")
                numbers = json.loads(expected.read_text(encoding="utf-8"))["numbers"]
                yield source, path, numbers


def test_every_fixture_that_can_be_cut_parses_the_same_narrowed() -> None:
    cut_some = []
    for source, path, numbers in batch_fixtures():
        observation = observe(source, path.read_text(encoding="utf-8"), numbers)
        if sources.sections(observation) is not None:
            assert_narrowing_keeps_what_parse_says(observation)
            cut_some.append(path.name)
    # the two-number Cainiao answer and the 17TRACK answer with a rejected number among them
    assert "detail-timezone-traps.json" in cut_some
    assert "api-v2.4-gettrackinfo-yanwen-190012.json" in cut_some


def test_answers_that_are_not_one_part_per_number_asked_are_not_cut() -> None:
    other = (FIXTURES / "cainiao" / "detail-other-mailno.json").read_text(encoding="utf-8")
    asked = json.loads(
        (FIXTURES / "cainiao" / "detail-other-mailno.expected.json").read_text(encoding="utf-8")
    )["numbers"]
    assert sources.sections(observe("cainiao", other, asked)) is None  # answered for another
    traps = json.loads((FIXTURES / "cainiao" / "detail-timezone-traps.json").read_text("utf-8"))
    first, second = (m["mailNo"] for m in traps["module"])
    assert sources.sections(observe("cainiao", traps, [first])) is None  # one not asked for
    assert sources.sections(observe("cainiao", traps, [first, second, "LP0"])) is None  # absent
    assert sources.sections(observe("cainiao", {**traps, "success": False}, [first])) is None
    assert sources.sections(observe("cainiao", "not json {", [first])) is None
    assert sources.sections(observe("cainiao", traps, [])) is None  # numbers unknown (a push)
    stopped = (FIXTURES / "17track" / "api-v2.4-webhook-tracking-stopped.json").read_text("utf-8")
    assert sources.sections(observe("17track", stopped, ["X"])) is None  # a push, not a batch
    failed = {"code": -18019909, "data": {"errors": [{"code": -18019909}]}}
    assert sources.sections(observe("17track", failed, ["X"])) is None
    weird = {"code": 0, "data": {"accepted": {"number": "X"}, "rejected": []}}
    assert sources.sections(observe("17track", weird, ["X"])) is None
    # sources whose answers are not cut: a whole body each
    assert sources.sections(observe("aftership", {"data": {}}, ["X"])) is None


# ----------------------------------------------------------------------------- digests


def yanwen() -> tuple[dict[str, Any], list[str]]:
    path = FIXTURES / "17track" / "api-v2.4-gettrackinfo-yanwen-190012.json"
    body = json.loads(path.read_text(encoding="utf-8"))
    numbers = [i["number"] for i in body["data"]["accepted"] + body["data"]["rejected"]]
    return body, numbers


def digests(source: str, body: Any, numbers: Sequence[str]) -> dict[str, str]:
    cut = sources.sections(observe(source, body, numbers))
    assert cut is not None
    return dict(cut.digests)


def test_a_digest_changes_with_its_own_part_only() -> None:
    body, numbers = yanwen()
    accepted, rejected = numbers
    before = digests("17track", body, numbers)
    moved = copy.deepcopy(body)
    events = moved["data"]["accepted"][0]["track_info"]["tracking"]["providers"][0]["events"]
    events.insert(0, {**events[0], "description": "Arrived at the sorting centre"})
    after = digests("17track", moved, numbers)
    assert after[accepted] != before[accepted] and after[rejected] == before[rejected]
    # a number that moves from rejected to accepted is new even with the same fields
    swapped = copy.deepcopy(body)
    swapped["data"]["accepted"].append(swapped["data"]["rejected"].pop())
    assert digests("17track", swapped, numbers)[rejected] != before[rejected]


def test_a_digest_ignores_key_order_and_the_17track_day_counters() -> None:
    body, numbers = yanwen()
    before = digests("17track", body, numbers)
    reordered = json.loads(json.dumps(body, sort_keys=True))
    assert digests("17track", reordered, numbers) == before
    # 17TRACK's day counters grow every day with nothing new; parse never reads them
    later = copy.deepcopy(body)
    info = later["data"]["accepted"][0]["track_info"]
    assert "time_metrics" in info
    info["time_metrics"] = {**(info["time_metrics"] or {}), "days_after_last_update": 9}
    assert digests("17track", later, numbers) == before
    assert sources.parse(observe("17track", later, numbers)) == sources.parse(
        observe("17track", body, numbers)
    )


def test_the_same_part_under_another_number_or_source_is_another_digest() -> None:
    traps = json.loads((FIXTURES / "cainiao" / "detail-timezone-traps.json").read_text("utf-8"))
    first = traps["module"][0]
    body = {**traps, "module": [first, {**first, "mailNo": "LP00599999999999"}]}
    found = digests("cainiao", body, [first["mailNo"], "LP00599999999999"])
    assert len(set(found.values())) == 2


# ----------------------------------------------------------------------------- real batches


@pytest.fixture
def synthetic() -> Iterator[SimServer]:
    with SimServer(generate(60, seed=4)) as server:
        server.clock.advance(-800)  # 640 h into the journeys: most parcels on their way
        yield server


@pytest.mark.parametrize("source", SPLITTABLE)
def test_full_simulated_batches_parse_the_same_narrowed(synthetic: SimServer, source: str) -> None:
    """Batches of the source's size as the simulator answers them (journeys at every stage,
    fake deliveries, numbers it does not know)."""
    spec = sources.spec(source)
    client = SourceClient(spec, base_url=synthetic.url(source), key="k", policy=NO_RETRY)
    numbers = [number_of(i, 4) for i in range(spec.batch_size - 1)] + ["LP04999999999999CN"]
    (observation,) = sources.module(source).fetch(client, numbers)
    assert sources.sections(observation) is not None  # the unknown number has its part too
    assert_narrowing_keeps_what_parse_says(observation)
    # and two days later only the parcels that moved have another digest
    synthetic.clock.advance(48)
    (later,) = sources.module(source).fetch(client, list(observation.numbers))
    before, after = sources.sections(observation), sources.sections(later)
    assert before is not None and after is not None
    moved = {n for n in before.digests if before.digests[n] != after.digests[n]}
    whole_before, whole_after = sources.parse(observation), sources.parse(later)
    changed = {n for n in before.digests if only(whole_before, {n}) != only(whole_after, {n})}
    assert moved == changed and 0 < len(moved) < len(before.digests)
