"""API tokens (stored as hashes only) and on-demand lookups (readable by their owner)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tracker.store._sql import from_row
from tracker.store.tables import api_tokens, lookups

# Recognisable, so secret scanners can spot a leaked token (SEC-8); a prefix, not a secret.
TOKEN_PREFIX = "trk_"  # noqa: S105
TOKEN_BYTES = 32


@dataclass(frozen=True, slots=True)
class LookupRow:
    id: str
    tracking_number: str
    source: str | None
    token_id: int | None
    status: str
    report: dict[str, Any] | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None


def hash_token(token: str) -> str:
    # A plain SHA-256 is enough: tokens are 256 random bits, so there is nothing to brute-force.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(conn: Connection, name: str, *, now: datetime) -> tuple[int, str]:
    """A new token; returns (id, token). The token is shown once and never stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
    token_id = conn.execute(
        sa.insert(api_tokens)
        .values(name=name, token_hash=hash_token(token), created_at=now)
        .returning(api_tokens.c.id)
    ).scalar_one()
    return int(token_id), token


def verify_token(conn: Connection, token: str) -> int | None:
    """The id of the live token `token`, or None (unknown or revoked)."""
    digest = hash_token(token)
    row = conn.execute(
        sa.select(api_tokens.c.id, api_tokens.c.token_hash, api_tokens.c.revoked_at).where(
            api_tokens.c.token_hash == digest
        )
    ).first()
    if row is None or row.revoked_at is not None:
        return None
    # The index lookup already matched; compare again in constant time as defence in depth.
    return int(row.id) if hmac.compare_digest(row.token_hash, digest) else None


def revoke_token(conn: Connection, token_id: int, *, now: datetime) -> bool:
    result = conn.execute(
        sa.update(api_tokens)
        .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return result.rowcount > 0


def create_lookup(
    conn: Connection,
    tracking_number: str,
    *,
    now: datetime,
    source: str | None = None,
    token_id: int | None = None,
) -> str:
    """Queue a lookup; returns its id (unguessable, as the API hands it out)."""
    lookup_id = "lk_" + secrets.token_hex(12)
    conn.execute(
        sa.insert(lookups).values(
            id=lookup_id,
            tracking_number=tracking_number,
            source=source,
            token_id=token_id,
            status="queued",
            created_at=now,
        )
    )
    return lookup_id


def finish_lookup(
    conn: Connection,
    lookup_id: str,
    *,
    now: datetime,
    report: dict[str, Any] | None = None,
    error: str | None = None,
) -> bool:
    """Mark the lookup done (with a report) or failed (with an error).

    Only a queued lookup changes, so a redelivered task cannot overwrite the first answer;
    returns whether this call finished it.
    """
    if (report is None) == (error is None):
        raise ValueError("finish_lookup needs exactly one of report or error")
    status = "done" if report is not None else "failed"
    result = conn.execute(
        sa.update(lookups)
        .where(lookups.c.id == lookup_id, lookups.c.status == "queued")
        .values(status=status, report=report, error=error, finished_at=now)
    )
    return result.rowcount > 0


def get_lookup(
    conn: Connection, lookup_id: str, *, token_id: int | None = None
) -> LookupRow | None:
    """The lookup, or None; with `token_id`, only that token's own lookups (API1:2023)."""
    query = sa.select(lookups).where(lookups.c.id == lookup_id)
    if token_id is not None:
        query = query.where(lookups.c.token_id == token_id)
    row = conn.execute(query).first()
    return None if row is None else from_row(LookupRow, row)


def stale_lookups(conn: Connection, older_than: datetime, limit: int = 500) -> list[str]:
    """Ids of lookups still queued since before `older_than` (their message may be lost)."""
    query = (
        sa.select(lookups.c.id)
        .where(lookups.c.status == "queued", lookups.c.created_at < older_than)
        .order_by(lookups.c.created_at)
        .limit(limit)
    )
    return [row.id for row in conn.execute(query)]
