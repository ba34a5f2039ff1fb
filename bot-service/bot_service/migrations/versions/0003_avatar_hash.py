"""bot: the bot user's avatar hash (Discord CDN), for the console's avatar.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("alter table bots add column avatar_hash varchar(64)")


def downgrade() -> None:
    op.execute("alter table bots drop column avatar_hash")
