"""Rotating an endpoint's signing secret with an overlap.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05

reliability.md WH-4: during a rotation, webhooks are signed with the new and the old secret
(two signatures in `webhook-signature`) until the overlap ends, so a receiver holding either
one verifies. The old secret is kept sealed like the current one.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_endpoints") as batch:
        batch.add_column(sa.Column("previous_secret", sa.Text))
        batch.add_column(sa.Column("previous_until", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("webhook_endpoints") as batch:
        batch.drop_column("previous_until")
        batch.drop_column("previous_secret")
