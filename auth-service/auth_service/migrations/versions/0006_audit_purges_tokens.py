"""#17 follow-ups: auth's audit records, workspace purges, scoped personal access tokens.

- `outbox`: the system role may insert too. Sign-in, sign-out and refresh-token reuse
  happen before anyone is authenticated (as `bc_auth_system`), and their audit records
  must commit with them.
- `pending_purges` generalised to `(kind, target_id)`: `kind = 'user'` (an account's data,
  as before; `target_id` is the former `owner_id`) or `'workspace'` (a deleted team
  workspace's data), each retried until every data service answered; then the retrying
  system role deletes the workspace's row.
- `api_tokens.workspace_id`, `api_tokens.permissions`: null = every workspace / all of the
  owner's permissions (tokens made before this revision).
"""

from services.db.migrate import sql_revision
from services.db.rls import CURRENT_USER, OWNER_MATCH, system_may

_SYSTEM = "bc_auth_system"
_PURGE_MATCH = (
    f"(kind = 'user' and target_id = {CURRENT_USER}) "
    "or (kind = 'workspace' and target_id = any(app_ws()))"
)

revision, down_revision, branch_labels, depends_on, upgrade, downgrade = sql_revision(
    __file__,
    upgrade=[
        f"grant insert on outbox to {_SYSTEM}",
        *system_may("outbox", _SYSTEM, "insert"),
        "drop policy pending_purges_own on pending_purges",
        "alter table pending_purges rename column owner_id to target_id",
        "alter table pending_purges add column kind text not null default 'user' "
        "check (kind in ('user', 'workspace'))",
        "alter table pending_purges drop constraint pending_purges_pkey",
        "alter table pending_purges add primary key (kind, target_id, service)",
        "create policy pending_purges_own on pending_purges "
        f"using ({_PURGE_MATCH}) with check ({_PURGE_MATCH})",
        *system_may("workspaces", _SYSTEM, "delete"),
        "alter table api_tokens add column workspace_id uuid",
        "alter table api_tokens add column permissions text[]",
    ],
    downgrade=[
        "alter table api_tokens drop column permissions",
        "alter table api_tokens drop column workspace_id",
        "drop policy if exists workspaces_system_delete on workspaces",
        "drop policy pending_purges_own on pending_purges",
        "delete from pending_purges where kind <> 'user'",
        "alter table pending_purges drop constraint pending_purges_pkey",
        "alter table pending_purges drop column kind",
        "alter table pending_purges rename column target_id to owner_id",
        "alter table pending_purges add primary key (owner_id, service)",
        f"create policy pending_purges_own on pending_purges using ({OWNER_MATCH}) "
        f"with check ({OWNER_MATCH})",
        "drop policy if exists outbox_system_insert on outbox",
        f"revoke insert on outbox from {_SYSTEM}",
    ],
)
