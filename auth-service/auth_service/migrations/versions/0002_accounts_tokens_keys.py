"""auth: users, provider identities, login flows, refresh tokens, personal API tokens,
signing keys, pending purges — with row-level security.

User-owned tables compare `owner_id` with `app.user_id`. Sign-in, refresh and token checks
happen before anyone is known, so the system role `bc_auth_system` gets explicit policies
for exactly those operations (look-ups by provider identity, by token hash, key loading).

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_ME = "nullif(current_setting('app.user_id', true), '')::uuid"
_SYSTEM = "bc_auth_system"

_SQL = f"""
create table users (
    id uuid primary key,
    owner_id uuid generated always as (id) stored not null,
    display_name text not null,
    email text,
    avatar_url text,
    settings jsonb not null default '{{}}'::jsonb,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create table identities (
    id uuid primary key,
    owner_id uuid not null references users(id) on delete cascade,
    provider text not null,
    subject text not null,
    email text,
    display_name text,
    avatar_url text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    constraint identities_provider_subject unique (provider, subject),
    constraint identities_one_per_provider unique (owner_id, provider)
);

create table login_flows (
    state text primary key,
    provider text not null,
    code_verifier text not null,
    nonce text,
    redirect_uri text not null,
    next_path text not null,
    mode text not null,
    link_user_id uuid,
    expires_at timestamptz not null
);

create table refresh_tokens (
    id uuid primary key,
    owner_id uuid not null references users(id) on delete cascade,
    family_id uuid not null,
    token_hash text not null unique,
    created_at timestamptz not null default now(),
    expires_at timestamptz not null,
    used_at timestamptz,
    revoked_at timestamptz
);
create index refresh_tokens_family on refresh_tokens (family_id);
create index refresh_tokens_owner on refresh_tokens (owner_id);

create table api_tokens (
    id uuid primary key,
    owner_id uuid not null references users(id) on delete cascade,
    name text not null,
    token_hash text not null unique,
    last4 text not null,
    scopes text[] not null,
    created_at timestamptz not null default now(),
    last_used_at timestamptz,
    expires_at timestamptz,
    revoked_at timestamptz
);
create index api_tokens_owner on api_tokens (owner_id);

create table signing_keys (
    kid text primary key,
    alg text not null,
    private_key bytea not null,
    public_jwk jsonb not null,
    created_at timestamptz not null default now()
);

create table pending_purges (
    owner_id uuid not null,
    service text not null,
    created_at timestamptz not null default now(),
    attempts int not null default 0,
    last_error text,
    primary key (owner_id, service)
);

alter table users enable row level security;
alter table users force row level security;
create policy users_own on users using (owner_id = {_ME}) with check (owner_id = {_ME});
create policy users_system_select on users for select to {_SYSTEM} using (true);
create policy users_system_insert on users for insert to {_SYSTEM} with check (true);
create policy users_system_update on users for update to {_SYSTEM} using (true) with check (true);

alter table identities enable row level security;
alter table identities force row level security;
create policy identities_own on identities using (owner_id = {_ME}) with check (owner_id = {_ME});
create policy identities_system_select on identities for select to {_SYSTEM} using (true);
create policy identities_system_insert on identities for insert to {_SYSTEM} with check (true);
create policy identities_system_update on identities for update to {_SYSTEM}
    using (true) with check (true);

-- Login flows belong to nobody yet: only the system role touches them.
alter table login_flows enable row level security;
alter table login_flows force row level security;
create policy login_flows_system on login_flows to {_SYSTEM} using (true) with check (true);

alter table refresh_tokens enable row level security;
alter table refresh_tokens force row level security;
create policy refresh_own on refresh_tokens using (owner_id = {_ME}) with check (owner_id = {_ME});
create policy refresh_system_select on refresh_tokens for select to {_SYSTEM} using (true);
create policy refresh_system_insert on refresh_tokens for insert to {_SYSTEM} with check (true);
create policy refresh_system_update on refresh_tokens for update to {_SYSTEM}
    using (true) with check (true);

alter table api_tokens enable row level security;
alter table api_tokens force row level security;
create policy api_tokens_own on api_tokens using (owner_id = {_ME}) with check (owner_id = {_ME});
create policy api_tokens_system_select on api_tokens for select to {_SYSTEM} using (true);
create policy api_tokens_system_update on api_tokens for update to {_SYSTEM}
    using (true) with check (true);

alter table signing_keys enable row level security;
alter table signing_keys force row level security;
create policy signing_keys_system_select on signing_keys for select to {_SYSTEM} using (true);
create policy signing_keys_system_insert on signing_keys for insert to {_SYSTEM} with check (true);

alter table pending_purges enable row level security;
alter table pending_purges force row level security;
create policy pending_purges_own on pending_purges
    using (owner_id = {_ME}) with check (owner_id = {_ME});
create policy pending_purges_system_select on pending_purges for select to {_SYSTEM} using (true);
create policy pending_purges_system_update on pending_purges for update to {_SYSTEM}
    using (true) with check (true);
create policy pending_purges_system_delete on pending_purges for delete to {_SYSTEM} using (true);
"""


def upgrade() -> None:
    # asyncpg prepares each statement: one command per execute.
    for statement in _SQL.split(";"):
        if statement.strip():
            op.execute(statement)


def downgrade() -> None:
    for table in (
        "pending_purges",
        "signing_keys",
        "api_tokens",
        "refresh_tokens",
        "login_flows",
        "identities",
        "users",
    ):
        op.execute(f"drop table if exists {table} cascade")
