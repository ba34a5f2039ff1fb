"""bot: the SHA-256 of the image bytes that made the current avatar hash, so re-applying
the same image is a no-op that does not spend Discord's avatar-change budget.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("alter table bots add column avatar_sha256 varchar(64)")


def downgrade() -> None:
    op.execute("alter table bots drop column avatar_sha256")
