"""bot: the bots table (encrypted token, desired state) with row-level security."""

from services.db.migrate import sql_revision
from services.db.rls import owner_only, system_may

_BOTS = """
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

revision, down_revision, branch_labels, depends_on, upgrade, downgrade = sql_revision(
    __file__,
    upgrade=[
        _BOTS,
        "create index bots_owner_id_idx on bots (owner_id, created_at)",
        *owner_only("bots"),
        # System work (the fleet loading a token, mirroring desired state at start-up)
        # reads every bot; it never writes through this role.
        *system_may("bots", "bc_bot_system", "select"),
    ],
    downgrade=["drop table if exists bots"],
)
