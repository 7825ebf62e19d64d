"""Keep on each parcel the sha256 of the body each source last answered it with.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04

A poll whose answer is that very body skips parsing (`tracker.service.repoll`). Reading it
from the parcel row replaces a join through every stored observation of the source, whose
cost grew with the evidence kept, not with the batch polled. Existing parcels start empty:
their next poll is parsed once and fills it in.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("parcels") as batch:
        batch.add_column(sa.Column("bodies", sa.JSON))


def downgrade() -> None:
    with op.batch_alter_table("parcels") as batch:
        batch.drop_column("bodies")
