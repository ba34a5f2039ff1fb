"""log: the audit trail's store (#17, docs/design/teams.md §6.2).

`audit_events` holds every workspace's records in one hash chain per workspace (`seq` 1, 2,
… and `hash = sha256(prev_hash ‖ canon(row))`, `services.audit`); `audit_heads` is each
chain's last link, locked `for update` by the ingest lane so replicas append to one
workspace one at a time; `audit_checkpoints` is where a chain starts again after old rows
are pruned (what `botcenter audit verify` starts from).

Append-only: the service roles keep SELECT (and the system role INSERT) only, and a
trigger refuses UPDATE, DELETE and TRUNCATE from anyone, the table owner included, unless
the owner's own pruning function set `log.audit_prune` for its transaction. A superuser
can still disable the trigger: the chain then shows the edit (`audit verify`).
"""

from services.db.migrate import sql_revision
from services.db.rls import WORKSPACE_MATCH, system_may

_EVENTS = """
create table audit_events (
    id uuid primary key,
    workspace_id uuid not null,
    seq bigint not null,
    at timestamptz not null,
    actor_user_id uuid,
    actor_token_id uuid,
    action text not null,
    target_type text,
    target_id text,
    changes jsonb not null default '{}'::jsonb,
    ip text,
    user_agent text,
    request_id text,
    prev_hash bytea not null,
    hash bytea not null,
    stored_at timestamptz not null default now(),
    constraint audit_events_chain_key unique (workspace_id, seq)
)
"""
_HEADS = """
create table audit_heads (
    workspace_id uuid primary key,
    seq bigint not null,
    hash bytea not null
)
"""
_CHECKPOINTS = """
create table audit_checkpoints (
    workspace_id uuid primary key,
    seq bigint not null,
    hash bytea not null,
    pruned_at timestamptz not null default now()
)
"""
_APPEND_ONLY = """
create function audit_append_only() returns trigger
language plpgsql set search_path = log, pg_temp as $fn$
begin
    if current_user = 'bc_owner' and current_setting('log.audit_prune', true) = 'on' then
        return null;
    end if;
    raise exception 'log.audit_events is append-only (% refused)', tg_op
        using errcode = 'insufficient_privilege';
end
$fn$
"""

_PRUNE = """
create function audit_prune(p_workspace uuid, p_before timestamptz) returns integer
language plpgsql security definer set search_path = log, pg_temp as $fn$
declare
    cutoff bigint;
    cut_hash bytea;
    removed integer;
begin
    if p_workspace is null or p_before is null or p_before > now() - interval '30 days' then
        raise exception 'audit_prune: records of the last 30 days are kept (before %)', p_before;
    end if;
    -- One workspace at a time, against the ingest lane appending to it.
    perform 1 from audit_heads where workspace_id = p_workspace for update;
    -- Only a prefix of the chain goes (what verify can start again after): up to the row
    -- before the first one at or after p_before.
    select coalesce(
        (select min(seq) - 1 from audit_events where workspace_id = p_workspace and at >= p_before),
        (select max(seq) from audit_events where workspace_id = p_workspace)
    ) into cutoff;
    select hash into cut_hash from audit_events where workspace_id = p_workspace and seq = cutoff;
    if cut_hash is null then
        return 0;
    end if;
    perform set_config('log.audit_prune', 'on', true);
    delete from audit_events where workspace_id = p_workspace and seq <= cutoff;
    get diagnostics removed = row_count;
    perform set_config('log.audit_prune', 'off', true);
    insert into audit_checkpoints (workspace_id, seq, hash) values (p_workspace, cutoff, cut_hash)
    on conflict (workspace_id) do update
        set seq = excluded.seq, hash = excluded.hash, pruned_at = now();
    return removed;
end
$fn$
"""

revision, down_revision, branch_labels, depends_on, upgrade, downgrade = sql_revision(
    __file__,
    upgrade=[
        _EVENTS,
        _HEADS,
        _CHECKPOINTS,
        "create index audit_events_actor_idx on audit_events"
        " (workspace_id, actor_user_id, seq desc)",
        "create index audit_events_action_idx on audit_events (workspace_id, action, seq desc)",
        "create index audit_events_target_idx on audit_events"
        " (workspace_id, target_type, target_id, seq desc)",
        "create index audit_events_at_idx on audit_events (workspace_id, at)",
        # Bootstrap's default privileges grant every role all DML: take back all but reads
        # (and the ingest lane's inserts).
        "revoke insert, update, delete, truncate on audit_events from bc_log",
        "revoke update, delete, truncate on audit_events from bc_log_system",
        "revoke all on audit_heads, audit_checkpoints from bc_log",
        "revoke delete, truncate on audit_heads from bc_log_system",
        "revoke insert, update, delete, truncate on audit_checkpoints from bc_log_system",
        _APPEND_ONLY,
        # Per statement, not per row: refused even when row-level security leaves the
        # statement no rows to touch (the owner has no policy but reading).
        "create trigger audit_events_append_only before update or delete or truncate"
        " on audit_events for each statement execute function audit_append_only()",
        "alter table audit_events enable row level security",
        "alter table audit_events force row level security",
        # Members read their workspaces' records (`audit.view` is checked in the service).
        f"create policy audit_events_member on audit_events for select to bc_log"
        f" using ({WORKSPACE_MATCH})",
        *system_may("audit_events", "bc_log_system", "select", "insert"),
        "alter table audit_heads enable row level security",
        "alter table audit_heads force row level security",
        *system_may("audit_heads", "bc_log_system", "select", "insert", "update"),
        "alter table audit_checkpoints enable row level security",
        "alter table audit_checkpoints force row level security",
        *system_may("audit_checkpoints", "bc_log_system", "select"),
        # Retention: only the owner's pruning function deletes, and records where the
        # chain starts again (`audit_checkpoints`).
        _PRUNE,
        "revoke all on function audit_prune(uuid, timestamptz) from public",
        "grant execute on function audit_prune(uuid, timestamptz) to bc_log_system",
        "create policy audit_events_owner_prune on audit_events for delete to bc_owner"
        " using (true)",
        "create policy audit_heads_owner_lock on audit_heads for update to bc_owner"
        " using (true) with check (false)",
        "create policy audit_checkpoints_owner_write on audit_checkpoints for all to bc_owner"
        " using (true) with check (true)",
        # `botcenter audit verify` may run as the owner login (RLS is forced on it too).
        *(
            f"create policy {t}_owner_read on {t} for select to bc_owner using (true)"
            for t in ("audit_events", "audit_heads", "audit_checkpoints")
        ),
    ],
    downgrade=[
        "drop table if exists audit_checkpoints",
        "drop table if exists audit_heads",
        # The trigger refuses TRUNCATE, not DROP.
        "drop table if exists audit_events",
        "drop function if exists audit_append_only()",
        "drop function if exists audit_prune(uuid, timestamptz)",
    ],
)
