"""auth: users, provider identities, login flows, refresh tokens, personal API tokens,
signing keys, pending purges — with row-level security.

User-owned tables compare `owner_id` with `app.user_id`. Sign-in, refresh and token checks
happen before anyone is known, so the system role `bc_auth_system` gets explicit policies
for exactly those operations (look-ups by provider identity, by token hash, key loading).
"""

from services.db.migrate import sql_revision
from services.db.rls import owner_only, system_may

_SYSTEM = "bc_auth_system"

_TABLES = """
create table users (
    id uuid primary key,
    owner_id uuid generated always as (id) stored not null,
    display_name text not null,
    email text,
    avatar_url text,
    settings jsonb not null default '{}'::jsonb,
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
"""

revision, down_revision, branch_labels, depends_on, upgrade, downgrade = sql_revision(
    __file__,
    upgrade=[
        *(statement for statement in _TABLES.split(";") if statement.strip()),
        *owner_only("users", "users_own"),
        *system_may("users", _SYSTEM, "select", "insert", "update"),
        *owner_only("identities", "identities_own"),
        *system_may("identities", _SYSTEM, "select", "insert", "update"),
        # Login flows belong to nobody yet: only the system role touches them.
        "alter table login_flows enable row level security",
        "alter table login_flows force row level security",
        f"create policy login_flows_system on login_flows to {_SYSTEM} "
        "using (true) with check (true)",
        *owner_only("refresh_tokens", "refresh_own"),
        *system_may("refresh_tokens", _SYSTEM, "select", "insert", "update", prefix="refresh"),
        *owner_only("api_tokens", "api_tokens_own"),
        *system_may("api_tokens", _SYSTEM, "select", "update"),
        "alter table signing_keys enable row level security",
        "alter table signing_keys force row level security",
        *system_may("signing_keys", _SYSTEM, "select", "insert"),
        *owner_only("pending_purges", "pending_purges_own"),
        *system_may("pending_purges", _SYSTEM, "select", "update", "delete"),
    ],
    downgrade=[
        f"drop table if exists {table} cascade"
        for table in (
            "pending_purges",
            "signing_keys",
            "api_tokens",
            "refresh_tokens",
            "login_flows",
            "identities",
            "users",
        )
    ],
)
