"""Signing keys get an activation time: a new key is published at once and signs only
from `active_from` on (publish-then-use rotation).

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("alter table signing_keys add column active_from timestamptz")
    op.execute("update signing_keys set active_from = created_at")
    op.execute("alter table signing_keys alter column active_from set not null")
    op.execute("alter table signing_keys alter column active_from set default now()")


def downgrade() -> None:
    op.execute("alter table signing_keys drop column active_from")
