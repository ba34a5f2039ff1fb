"""bot: the bots table (encrypted token, desired state) with row-level security.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

from services.db.rls import owner_only, system_may

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        create table bots (
            id uuid primary key,
            owner_id uuid not null,
            name varchar(100) not null,
            description text not null default '',
            intents bigint not null,
            presence jsonb not null,
            shard_count integer check (shard_count is null or shard_count between 1 and 1024),
            auto_start boolean not null default false,
            tags text[] not null default '{}',
            running boolean not null default false,
            generation integer not null default 0,
            token_enc bytea not null,
            token_last4 varchar(4) not null,
            application_id varchar(32) not null,
            discord_user_id varchar(32) not null,
            username varchar(100) not null,
            application_flags bigint not null default 0,
            created_at timestamptz not null default now(),
            updated_at timestamptz not null default now(),
            constraint bots_application_id_key unique (application_id)
        )
        """
    )
    op.execute("create index bots_owner_id_idx on bots (owner_id, created_at)")
    # System work (the fleet loading a token, mirroring desired state at start-up) reads
    # every bot; it never writes through this role.
    for statement in [*owner_only("bots"), *system_may("bots", "bc_bot_system", "select")]:
        op.execute(statement)


def downgrade() -> None:
    op.execute("drop table if exists bots")
