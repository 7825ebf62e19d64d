"""Dead letters: task messages that kept killing the worker that ran them.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05

Tasks are acknowledged late and re-queued when their worker dies (reliability.md CEL-1), so a
message whose task kills its process (a native crash, the OOM killer) would loop for ever.
The worker counts each message's deliveries in Redis; past 1 + 3 it records the message here,
acknowledges it and runs it no more (CEL-3).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "dead_letters",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("task_id", sa.Text, nullable=False, unique=True),
        sa.Column("task_name", sa.Text, nullable=False),
        sa.Column("args", sa.JSON, nullable=False),
        sa.Column("deliveries", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("dead_letters")
