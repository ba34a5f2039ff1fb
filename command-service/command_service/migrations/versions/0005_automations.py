"""command: automations, their runs, schedules and variables (#18).

Every table holds rows of one bot, so a member limited to some bots sees those bots' rows
only. The executor works for every workspace at once (events from Discord, due schedules):
its system role reads automations and keeps runs, schedules and variables.
A run is unique per (automation, trigger key): the exactly-once half of at-least-once
delivery (docs/design/automations.md §0.4). A variable's `user_id` is '' for a server's own
variable, so the primary key covers both kinds.
"""

from services.db.migrate import sql_revision
from services.db.rls import bot_scoped, system_may

_SYSTEM = "bc_command_system"

_AUTOMATIONS = """
create table automations (
    id uuid primary key,
    workspace_id uuid not null,
    bot_id uuid not null,
    name varchar(100) not null,
    enabled boolean not null default true,
    trigger jsonb not null,
    actions jsonb not null,
    cooldown_user_s integer not null default 0,
    cooldown_guild_s integer not null default 0,
    status_reason text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint automations_bot_name_key unique (bot_id, name)
)
"""

_RUNS = """
create table automation_runs (
    id uuid primary key,
    workspace_id uuid not null,
    bot_id uuid not null,
    automation_id uuid not null references automations (id) on delete cascade,
    trigger_key varchar(200) not null,
    trigger_summary text not null default '',
    outcome varchar(16),
    steps_done integer not null default 0,
    step_state jsonb not null default '{}',
    error text,
    started_at timestamptz not null default now(),
    finished_at timestamptz,
    duration_ms double precision,
    constraint automation_runs_trigger_key unique (automation_id, trigger_key)
)
"""

_SCHEDULES = """
create table schedules (
    automation_id uuid primary key references automations (id) on delete cascade,
    workspace_id uuid not null,
    bot_id uuid not null,
    next_due_at timestamptz,
    last_due_at timestamptz
)
"""

_VARIABLES = """
create table variables (
    bot_id uuid not null,
    guild_id varchar(21) not null,
    user_id varchar(21) not null,
    key varchar(64) not null,
    workspace_id uuid not null,
    value jsonb not null,
    expires_at timestamptz,
    updated_at timestamptz not null default now(),
    primary key (bot_id, guild_id, user_id, key)
)
"""

_TABLES = ("automations", "automation_runs", "schedules", "variables")

revision, down_revision, branch_labels, depends_on, upgrade, downgrade = sql_revision(
    __file__,
    upgrade=[
        _AUTOMATIONS,
        "create index automations_workspace_idx on automations (workspace_id)",
        _RUNS,
        "create index automation_runs_recent_idx on automation_runs (automation_id, started_at desc)",
        _SCHEDULES,
        "create index schedules_due_idx on schedules (next_due_at)",
        _VARIABLES,
        "create index variables_workspace_idx on variables (workspace_id)",
        *(statement for table in _TABLES for statement in bot_scoped(table, "bot_id")),
        *system_may("automations", _SYSTEM, "select", "update"),
        *system_may("automation_runs", _SYSTEM, "select", "insert", "update"),
        *system_may("schedules", _SYSTEM, "select", "update"),
        *system_may("variables", _SYSTEM, "select", "insert", "update", "delete"),
    ],
    downgrade=[f"drop table if exists {table}" for table in reversed(_TABLES)],
)
