"""Teams (#17): workspaces, memberships, custom roles and invitations, `users.access_version`.

Every existing user gets a personal workspace (id = the user's id, name 'Personal') and the
owner membership, so their resources (whose `owner_id` other services rename to
`workspace_id`) land in it unchanged.

Row-level security keys the four tables on the caller's workspaces, `app.ws` (the kernel's
`member_functions`): auth-service sets it in each team transaction from the caller's own
membership rows, which the `user_id = app.user_id` arm of the memberships policy lets it
read first. Sign-in, the invitation look-up by digest and `rpc.auth.access.get` run as
`bc_auth_system` with narrow policies. `outbox` carries AccessChanged events.
"""

from services.db.migrate import sql_revision
from services.db.rls import (
    CURRENT_USER,
    WORKSPACE_MATCH,
    member_functions,
    system_may,
    workspace_scoped,
)
from services.outbox import outbox_table

_SYSTEM = "bc_auth_system"
_OWNER = "bc_owner"
# The permission strings as of this revision (proto/access.py only appends; a later
# revision widens the check).
_KNOWN = (
    "bots.view bots.control bots.edit bots.token bots.delete commands.edit prompts.edit "
    "connections.edit connections.secrets files.edit logs.view members.manage audit.view "
    "workspace.admin"
).split()
_PERMISSIONS = "array[" + ", ".join(f"'{p}'" for p in _KNOWN) + "]::text[]"
_ROLES = ("owner", "admin", "developer", "operator", "viewer")
_GRANTABLE_ROLES = ", ".join(f"'{r}'" for r in _ROLES)
_INVITABLE_ROLES = ", ".join(f"'{r}'" for r in _ROLES if r != "owner")

_TABLES = f"""
alter table users add column access_version bigint not null default 0;

create table workspaces (
    id uuid primary key,
    name varchar(100) not null
        constraint workspaces_name_length check (char_length(btrim(name)) between 1 and 100),
    personal boolean not null default false,
    owner_user_id uuid not null references users(id) on delete cascade,
    avatar_file_id uuid,
    audit_retention_days integer not null default 365
        constraint workspaces_retention check (audit_retention_days between 30 and 3650),
    state text not null default 'active'
        constraint workspaces_state check (state in ('active', 'deleting')),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint workspaces_personal_id check (not personal or id = owner_user_id)
);
create unique index workspaces_one_personal on workspaces (owner_user_id) where personal;

create table roles (
    id uuid primary key,
    workspace_id uuid not null references workspaces(id) on delete cascade,
    name varchar(50) not null,
    permissions text[] not null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint roles_known_permissions check (permissions <@ {_PERMISSIONS})
);
create unique index roles_workspace_name on roles (workspace_id, lower(name));

create table memberships (
    workspace_id uuid not null references workspaces(id) on delete cascade,
    user_id uuid not null references users(id) on delete cascade,
    builtin_role text
        constraint memberships_builtin_role check (builtin_role in ({_GRANTABLE_ROLES})),
    role_id uuid references roles(id),
    bot_ids uuid[] not null default '{{}}'::uuid[],
    invited_by uuid,
    created_at timestamptz not null default now(),
    primary key (workspace_id, user_id),
    constraint memberships_one_role check ((builtin_role is null) <> (role_id is null))
);
create unique index memberships_one_owner on memberships (workspace_id)
    where builtin_role = 'owner';
create index memberships_user on memberships (user_id);
create index memberships_role on memberships (role_id);

create table invitations (
    id uuid primary key,
    workspace_id uuid not null references workspaces(id) on delete cascade,
    token_digest bytea not null unique,
    builtin_role text
        constraint invitations_builtin_role check (builtin_role in ({_INVITABLE_ROLES})),
    role_id uuid references roles(id) on delete cascade,
    bot_ids uuid[] not null default '{{}}'::uuid[],
    email text,
    created_by uuid not null,
    created_at timestamptz not null default now(),
    expires_at timestamptz not null,
    used_at timestamptz,
    used_by uuid,
    revoked_at timestamptz,
    constraint invitations_one_role check ((builtin_role is null) <> (role_id is null))
);
create index invitations_workspace on invitations (workspace_id);

-- A change to a member's access bumps their version, but `users` is owner-only: the caller
-- cannot update another user's row. This function, run as the table owner, can touch
-- `access_version` and nothing else (a bump only makes caches refetch).
create or replace function bump_access_version(ids uuid[])
returns table (user_id uuid, access_version bigint)
language sql security definer set search_path from current as $$
    update users u set access_version = u.access_version + 1
    where u.id = any(ids) returning u.id, u.access_version
$$;
revoke all on function bump_access_version(uuid[]) from public;
grant execute on function bump_access_version(uuid[]) to bc_auth, {_SYSTEM};
"""

# The owner role (migrations, and the function above) reads and updates users despite the
# forced owner-only policy: the backfill below and the version bump need every row.
_OWNER_ON_USERS = [
    f"create policy users_owner_role_select on users for select to {_OWNER} using (true)",
    f"create policy users_owner_role_update on users for update to {_OWNER} "
    "using (true) with check (true)",
]

_BACKFILL = [
    "insert into workspaces (id, name, personal, owner_user_id, created_at, updated_at) "
    "select id, 'Personal', true, id, created_at, created_at from users",
    "insert into memberships (workspace_id, user_id, builtin_role, created_at) "
    "select id, id, 'owner', created_at from users",
]


def _forced(table: str) -> list[str]:
    return [
        f"alter table {table} enable row level security",
        f"alter table {table} force row level security",
    ]


_POLICIES = [
    *_forced("workspaces"),
    # A workspace row's own id is its workspace.
    "create policy workspaces_member on workspaces "
    "using (id = any(app_ws())) with check (id = any(app_ws()))",
    *system_may("workspaces", _SYSTEM, "select", "insert"),
    *_forced("memberships"),
    # A user reads their own memberships (to learn their workspaces) and a workspace's
    # members read each other's; writes stay inside the caller's workspaces.
    f"create policy memberships_member on memberships "
    f"using ({WORKSPACE_MATCH} or user_id = {CURRENT_USER}) with check ({WORKSPACE_MATCH})",
    # First sign-in (before anyone is known) makes the personal workspace.
    *system_may("memberships", _SYSTEM, "select", "insert"),
    *workspace_scoped("roles"),
    *system_may("roles", _SYSTEM, "select"),
    *workspace_scoped("invitations"),
    # Accepting starts with a look-up by the token's digest, before the caller is a member.
    *system_may("invitations", _SYSTEM, "select"),
    # Members see each other's names (the member list); the service selects only the
    # display name and avatar.
    "create policy users_co_member on users for select using (id in "
    f"(select m.user_id from memberships m where m.{WORKSPACE_MATCH}))",
]

revision, down_revision, branch_labels, depends_on, upgrade, downgrade = sql_revision(
    __file__,
    upgrade=[
        *member_functions("auth"),
        *(statement for statement in _TABLES.split(";\n") if statement.strip()),
        *_OWNER_ON_USERS,
        *_BACKFILL,
        *_POLICIES,
        # AccessChanged events commit with the change that causes them.
        *outbox_table("auth"),
    ],
    downgrade=[
        "drop table if exists outbox",
        "drop policy if exists users_co_member on users",
        "drop policy if exists users_owner_role_update on users",
        "drop policy if exists users_owner_role_select on users",
        "drop function if exists bump_access_version(uuid[])",
        "drop table if exists invitations",
        "drop table if exists memberships",
        "drop table if exists roles",
        "drop table if exists workspaces",
        "drop function if exists app_bots()",
        "drop function if exists app_ws_all_bots()",
        "drop function if exists app_ws()",
        "alter table users drop column access_version",
    ],
)
