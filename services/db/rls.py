"""Row-level security statements for migrations, written once.

Every user-owned table is owner-only for the service's user role (`app.user_id`, set per
request by the kernel), forced so that even the table owner obeys it; background work gets
explicit, narrow policies for the `bc_<service>_system` role.

Tables of a workspace (#17) are member-only instead: `workspace_scoped` (and `bot_scoped`
for rows of one bot) read the caller's memberships that `Database.access_scope` sets per
transaction, through the functions `member_functions` creates in the schema. RLS enforces
membership and bot limits; permissions are the service layer's (`services.access.require`).
"""

from __future__ import annotations

from typing import Literal

CURRENT_USER = "nullif(current_setting('app.user_id', true), '')::uuid"
OWNER_MATCH = f"owner_id = {CURRENT_USER}"

Operation = Literal["select", "insert", "update", "delete"]


def owner_only(table: str, policy: str | None = None) -> list[str]:
    """Force RLS on TABLE with the policy POLICY (default `<table>_owner`): a user sees and
    writes only rows whose `owner_id` is theirs."""
    return [
        f"alter table {table} enable row level security",
        f"alter table {table} force row level security",
        f"create policy {policy or f'{table}_owner'} on {table} "
        f"using ({OWNER_MATCH}) with check ({OWNER_MATCH})",
    ]


def system_may(
    table: str, role: str, *operations: Operation, prefix: str | None = None
) -> list[str]:
    """Policies `<prefix>_system_<op>` (PREFIX defaults to TABLE) letting ROLE (a
    `bc_<service>_system` role) do exactly these operations on every row."""
    clause: dict[Operation, str] = {
        "select": "using (true)",
        "insert": "with check (true)",
        "update": "using (true) with check (true)",
        "delete": "using (true)",
    }
    return [
        f"create policy {prefix or table}_system_{op} on {table} for {op} to {role} {clause[op]}"
        for op in operations
    ]


# --- workspaces (#17): membership from `Database.access_scope` ---------------------------

# The three settings `access_scope` writes, as the functions that read them return them.
_MEMBER_SETTINGS = {
    "app_ws": "app.ws",
    "app_ws_all_bots": "app.ws_all_bots",
    "app_bots": "app.bots",
}
MEMBER_FUNCTIONS = tuple(_MEMBER_SETTINGS)


def member_functions(schema: str) -> list[str]:
    """`<schema>.app_ws()`, `app_ws_all_bots()` and `app_bots()`: the caller's workspaces,
    those without a bot limit, and the bots of the limited ones, as uuid arrays (empty
    when unset, e.g. in the next transaction of a pooled connection).

    `language sql stable` with a single select, so the planner inlines them and
    `workspace_id = any(app_ws())` can use an index. Run once per schema, before the
    policies that call them (a policy binds the function of the migration's search_path).
    """
    return [
        f"create or replace function {schema}.{name}() returns uuid[] language sql stable "
        f"as $$ select coalesce(nullif(current_setting('{setting}', true), ''), '{{}}')"
        "::uuid[] $$"
        for name, setting in _MEMBER_SETTINGS.items()
    ]


WORKSPACE_MATCH = "workspace_id = any(app_ws())"


def member_policy(table: str) -> str:
    """`<table>_member`, the default name of a member policy (never schema-qualified, as
    a policy name is; the table may be)."""
    return f"{table.rpartition('.')[2]}_member"


def workspace_scoped(table: str, policy: str | None = None) -> list[str]:
    """Force RLS on TABLE with the policy POLICY (default `<table>_member`): a caller sees
    and writes only rows of a workspace they are a member of (its `workspace_id`)."""
    return [
        f"alter table {table} enable row level security",
        f"alter table {table} force row level security",
        f"create policy {policy or member_policy(table)} on {table} "
        f"using ({WORKSPACE_MATCH}) with check ({WORKSPACE_MATCH})",
    ]


def bot_match(col: str, *, nullable: bool = False) -> str:
    """The condition of `bot_scoped`: a member without a bot limit sees every row of the
    workspace; a limited member the rows of their bots (and, for a NULLABLE bot column,
    the rows of no bot)."""
    allowed = f"{col} = any(app_bots())"
    if nullable:
        allowed = f"({allowed} or {col} is null)"
    return (
        f"(workspace_id = any(app_ws_all_bots()) or (workspace_id = any(app_ws()) and {allowed}))"
    )


def bot_scoped(
    table: str, col: str, nullable: bool = False, policy: str | None = None
) -> list[str]:
    """Force RLS on TABLE with the policy POLICY (default `<table>_member`): a caller sees
    and writes rows of their workspaces, only those of the bots in COL they may see when
    their membership is limited to some bots."""
    match = bot_match(col, nullable=nullable)
    return [
        f"alter table {table} enable row level security",
        f"alter table {table} force row level security",
        f"create policy {policy or member_policy(table)} on {table} "
        f"using ({match}) with check ({match})",
    ]
