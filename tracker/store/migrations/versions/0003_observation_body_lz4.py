"""Compress stored answers with lz4 on PostgreSQL.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04

Every answer is kept whole (it is the evidence), and a batch answer is large (17TRACK: ~300 KB
for 40 numbers). PostgreSQL compresses large values with pglz by default; lz4 compresses these
answers about 4x faster and ~30% smaller (measured on simulated 17TRACK batch answers:
backend CPU 0.30 s -> 0.08 s for 30 MB, 5.3 -> 3.6 MiB; docs/benchmarks.md). Rows stored
before keep their pglz compression; both read back the same. PostgreSQL 14+ built with lz4
(every Debian and official build) takes it; elsewhere, and on SQLite, nothing changes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _lz4_available() -> bool:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return False
    query = sa.text(
        "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
    )
    return bool(bind.execute(query).scalar())


def upgrade() -> None:
    if _lz4_available():
        op.execute("ALTER TABLE observations ALTER COLUMN body SET COMPRESSION lz4")


def downgrade() -> None:
    if _lz4_available():
        op.execute("ALTER TABLE observations ALTER COLUMN body SET COMPRESSION default")
