"""command: commands, prompts, API connections and per-bot settings, with row-level security."""

from services.db.migrate import sql_revision
from services.db.rls import owner_only, system_may

_PROMPTS = """
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

_CONNECTIONS = """
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

_COMMANDS = """
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

_BOT_SETTINGS = """
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

_INDEXES = [
    "create index commands_bot_idx on commands (bot_id, created_at)",
    "create index commands_owner_idx on commands (owner_id)",
    "create index commands_connection_idx on commands (connection_id)",
    "create index commands_prompt_idx on commands (prompt_id)",
]
_TABLES = ("prompts", "connections", "commands", "bot_settings")

revision, down_revision, branch_labels, depends_on, upgrade, downgrade = sql_revision(
    __file__,
    upgrade=[
        _PROMPTS,
        _CONNECTIONS,
        _COMMANDS,
        *_INDEXES,
        _BOT_SETTINGS,
        # The execution cache loads a bot's setup without a user (the invocation comes
        # from Discord through bot-service); it only reads.
        *(
            statement
            for table in _TABLES
            for statement in [*owner_only(table), *system_may(table, "bc_command_system", "select")]
        ),
    ],
    downgrade=[f"drop table if exists {table}" for table in reversed(_TABLES)],
)
