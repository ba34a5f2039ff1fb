"""command: commands, prompts, API connections and per-bot settings, with row-level security.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

from services.db.rls import owner_only, system_may

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_TABLES = ("prompts", "connections", "commands", "bot_settings")


def upgrade() -> None:
    op.execute(
        """
        create table prompts (
            id uuid primary key,
            owner_id uuid not null,
            name varchar(100) not null,
            spec jsonb not null,
            created_at timestamptz not null default now(),
            updated_at timestamptz not null default now(),
            constraint prompts_owner_name_key unique (owner_id, name)
        )
        """
    )
    op.execute(
        """
        create table connections (
            id uuid primary key,
            owner_id uuid not null,
            name varchar(100) not null,
            spec jsonb not null,
            secret_enc bytea,
            secret_hint varchar(8),
            secret_headers_enc bytea,
            secret_header_names text[] not null default '{}',
            created_at timestamptz not null default now(),
            updated_at timestamptz not null default now(),
            constraint connections_owner_name_key unique (owner_id, name)
        )
        """
    )
    op.execute(
        """
        create table commands (
            id uuid primary key,
            owner_id uuid not null,
            bot_id uuid not null,
            kind varchar(16) not null,
            name varchar(32) not null,
            spec jsonb not null,
            connection_id uuid references connections (id) on delete restrict,
            prompt_id uuid references prompts (id) on delete restrict,
            created_at timestamptz not null default now(),
            updated_at timestamptz not null default now()
        )
        """
    )
    op.execute("create index commands_bot_idx on commands (bot_id, created_at)")
    op.execute("create index commands_owner_idx on commands (owner_id)")
    op.execute("create index commands_connection_idx on commands (connection_id)")
    op.execute("create index commands_prompt_idx on commands (prompt_id)")
    op.execute(
        """
        create table bot_settings (
            bot_id uuid primary key,
            owner_id uuid not null,
            prefix varchar(10),
            synced_hash varchar(64),
            sync_ok boolean,
            sync_error text,
            synced_at timestamptz,
            updated_at timestamptz not null default now()
        )
        """
    )
    for table in _TABLES:
        # The execution cache loads a bot's setup without a user (the invocation comes
        # from Discord through bot-service); it only reads.
        for statement in [*owner_only(table), *system_may(table, "bc_command_system", "select")]:
            op.execute(statement)


def downgrade() -> None:
    for table in reversed(_TABLES):
        op.execute(f"drop table if exists {table}")
