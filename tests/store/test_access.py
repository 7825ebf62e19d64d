"""API tokens (hashes only) and on-demand lookups, on both databases."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tracker.store import repo
from tracker.store.tables import api_tokens

from ._helpers import NOW, minutes


def test_token_round_trip(conn: Connection) -> None:
    token_id, token = repo.create_token(conn, "shop", now=NOW)
    assert token.startswith("trk_") and len(token) > 40
    assert repo.verify_token(conn, token) == token_id
    assert repo.verify_token(conn, token + "x") is None
    assert repo.verify_token(conn, "") is None
    row = conn.execute(sa.select(api_tokens)).one()
    assert (row.name, row.created_at, row.revoked_at) == ("shop", NOW, None)
    assert row.token_hash == repo.hash_token(token) and token not in row.token_hash


def test_revoked_token_no_longer_verifies(conn: Connection) -> None:
    token_id, token = repo.create_token(conn, "shop", now=NOW)
    other_id, other = repo.create_token(conn, "other", now=NOW)
    assert repo.revoke_token(conn, token_id, now=NOW + minutes(1)) is True
    assert repo.revoke_token(conn, token_id, now=NOW + minutes(2)) is False
    assert repo.verify_token(conn, token) is None
    assert repo.verify_token(conn, other) == other_id


def test_lookup_round_trip(conn: Connection) -> None:
    token_id, _ = repo.create_token(conn, "shop", now=NOW)
    lookup_id = repo.create_lookup(conn, "LP1", now=NOW, source="cainiao", token_id=token_id)
    queued = repo.get_lookup(conn, lookup_id)
    assert queued == repo.LookupRow(
        lookup_id, "LP1", "cainiao", token_id, "queued", None, None, NOW, None
    )
    report = {"status": "in_transit", "timeline": [{"id": "e1"}]}
    assert repo.finish_lookup(conn, lookup_id, now=NOW + minutes(1), report=report) is True
    done = repo.get_lookup(conn, lookup_id)
    assert done is not None
    assert (done.status, done.report, done.finished_at) == ("done", report, NOW + minutes(1))


def test_a_finished_lookup_keeps_its_first_answer(conn: Connection) -> None:
    lookup_id = repo.create_lookup(conn, "LP1", now=NOW)
    assert repo.finish_lookup(conn, lookup_id, now=NOW, error="cainiao: timeout") is True
    assert repo.finish_lookup(conn, lookup_id, now=NOW, report={"late": True}) is False
    row = repo.get_lookup(conn, lookup_id)
    assert row is not None and (row.status, row.error, row.report) == (
        "failed",
        "cainiao: timeout",
        None,
    )


def test_finish_needs_exactly_one_outcome(conn: Connection) -> None:
    lookup_id = repo.create_lookup(conn, "LP1", now=NOW)
    with pytest.raises(ValueError, match="exactly one"):
        repo.finish_lookup(conn, lookup_id, now=NOW)
    with pytest.raises(ValueError, match="exactly one"):
        repo.finish_lookup(conn, lookup_id, now=NOW, report={}, error="x")


def test_lookups_are_scoped_to_their_token(conn: Connection) -> None:
    mine, _ = repo.create_token(conn, "a", now=NOW)
    theirs, _ = repo.create_token(conn, "b", now=NOW)
    lookup_id = repo.create_lookup(conn, "LP1", now=NOW, token_id=mine)
    assert repo.get_lookup(conn, lookup_id, token_id=mine) is not None
    assert repo.get_lookup(conn, lookup_id, token_id=theirs) is None
    assert repo.get_lookup(conn, "lk_missing") is None
