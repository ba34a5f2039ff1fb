"""Row-level security statements for migrations, written once.

Every user-owned table is owner-only for the service's user role (`app.user_id`, set per
request by the kernel), forced so that even the table owner obeys it; background work gets
explicit, narrow policies for the `bc_<service>_system` role.
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
