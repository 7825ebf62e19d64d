"""One contract for every source: each fixture under tests/fixtures/<source>/ is parsed and
compared with its expected output, and the same checks run on every adapter.

Fixture layout: `<name>.<json|xml|txt>` (the payload exactly as the source returned it) beside
`<name>.expected.json`:

    {"provenance": "<where the payload came from>", "numbers": [requested numbers],
     "allowed_unmapped": ["codes the fixture deliberately carries unmapped"],
     "expected": <tracker.sources.result_to_dict(parse(...))>}

Regenerate expected outputs (then read the diff!) with TRACKER_REGEN_FIXTURES=1.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tracker import sources
from tracker.model import SOURCE_NAMES, Observation, is_substatus

FIXTURES = Path(__file__).parent.parent / "fixtures"
PAYLOAD_SUFFIXES = (".json", ".xml", ".txt")
FETCHED_AT = datetime(2026, 11, 12, 10, 0, tzinfo=UTC)


def _fixtures() -> list[tuple[str, Path]]:
    found = []
    for source in SOURCE_NAMES:
        folder = FIXTURES / source
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.suffix in PAYLOAD_SUFFIXES and not path.name.endswith(".expected.json"):
                found.append((source, path))
    return found


FIXTURE_CASES = _fixtures()


def _expected_path(payload: Path) -> Path:
    return payload.with_name(payload.name.rsplit(".", 1)[0] + ".expected.json")


def _observe(source: str, payload: Path, numbers: list[str]) -> Observation:
    return Observation(source=source, payload=payload.read_text(encoding="utf-8"),
                       fetched_at=FETCHED_AT, numbers=tuple(numbers))


def test_every_source_has_fixtures() -> None:
    covered = {source for source, _ in FIXTURE_CASES}
    assert covered == set(SOURCE_NAMES), f"sources without fixtures: {set(SOURCE_NAMES) - covered}"


@pytest.mark.parametrize("name", SOURCE_NAMES)
def test_spec_is_complete(name: str) -> None:
    spec = sources.spec(name)
    assert spec.name == name
    assert spec.batch_size >= 1
    assert spec.quota and all(w.calls >= 1 and w.period > 0 for w in spec.quota)
    assert len({w.period for w in spec.quota}) == len(spec.quota)  # one limit per window
    assert spec.base_url.startswith("https://")
    assert spec.auth


@pytest.mark.parametrize(("source", "payload"), FIXTURE_CASES,
                         ids=[f"{s}/{p.name}" for s, p in FIXTURE_CASES])
def test_fixture_matches_expected(source: str, payload: Path) -> None:
    expected_file = _expected_path(payload)
    meta = json.loads(expected_file.read_text()) if expected_file.exists() else {}
    assert meta.get("provenance") or os.environ.get("TRACKER_REGEN_FIXTURES"), (
        f"{expected_file.name} must carry the payload's provenance"
    )
    result = sources.parse(_observe(source, payload, meta.get("numbers", [])))
    got = sources.result_to_dict(result)
    if os.environ.get("TRACKER_REGEN_FIXTURES"):
        meta.setdefault("provenance", "")
        meta.setdefault("numbers", [])
        meta.setdefault("allowed_unmapped", [])
        meta["expected"] = got
        expected_file.write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
    assert got == meta["expected"]


@pytest.mark.parametrize(("source", "payload"), FIXTURE_CASES,
                         ids=[f"{s}/{p.name}" for s, p in FIXTURE_CASES])
def test_fixture_obeys_the_contract(source: str, payload: Path) -> None:
    expected_file = _expected_path(payload)
    meta = json.loads(expected_file.read_text()) if expected_file.exists() else {}
    result = sources.parse(_observe(source, payload, meta.get("numbers", [])))
    allowed = set(meta.get("allowed_unmapped", []))
    for warning in result.warnings:
        assert warning.source == source
        if warning.message.startswith("unmapped"):
            assert any(code in warning.message for code in allowed), (
                f"code table misses a code its own fixture uses: {warning.message}"
            )
    for event in result.events:
        assert event.source == source
        assert is_substatus(event.substatus), event.substatus
        assert event.substatus.split(".")[0] == event.status.value
        if event.occurred_at is not None:
            assert event.occurred_at.tzinfo is not None
            assert event.occurred_at.utcoffset() == timedelta(0)
        if event.occurred_local is not None:
            assert event.occurred_local.tzinfo is None
        if None not in (event.occurred_at, event.occurred_local, event.utc_offset_minutes):
            assert event.occurred_local is not None and event.occurred_at is not None
            assert event.utc_offset_minutes is not None
            local_as_utc = event.occurred_local - timedelta(minutes=event.utc_offset_minutes)
            assert local_as_utc == event.occurred_at.replace(tzinfo=None), (
                f"wall clock, offset and instant disagree in {event}"
            )
    for r in result.results:
        assert r.source == source
