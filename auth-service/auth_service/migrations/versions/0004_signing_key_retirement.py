"""Signing keys can be retired at once (a compromised key): `retired_at` set, the key is
no longer loaded, published or used to sign, and verifiers drop it on a signal.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("alter table signing_keys add column retired_at timestamptz")
    op.execute(
        "create policy signing_keys_system_update on signing_keys for update "
        "to bc_auth_system using (true) with check (true)"
    )


def downgrade() -> None:
    op.execute("drop policy if exists signing_keys_system_update on signing_keys")
    op.execute("alter table signing_keys drop column retired_at")
