"""storage: the files table, owner-only row-level security."""

from services.db.migrate import sql_revision
from services.db.rls import owner_only

_FILES = """
create table files (
    id uuid primary key,
    owner_id uuid not null,
    kind text not null check (kind in ('avatar', 'config')),
    name text not null,
    content_type text not null,
    sha256 text not null check (length(sha256) = 64),
    size_bytes bigint not null check (size_bytes >= 0),
    stored_bytes bigint not null check (stored_bytes >= 0),
    width integer,
    height integer,
    animated boolean not null default false,
    variants jsonb not null default '[]'::jsonb,
    object_keys text[] not null default '{}',
    created_at timestamptz not null default now(),
    constraint files_owner_sha_key unique (owner_id, sha256)
)
"""

revision, down_revision, branch_labels, depends_on, upgrade, downgrade = sql_revision(
    __file__,
    upgrade=[
        _FILES,
        "create index files_owner_created_idx on files (owner_id, created_at desc)",
        # Every access acts for one user (the purge too: it runs in that user's scope), so
        # the system role gets no policy at all.
        *owner_only("files"),
    ],
    downgrade=["drop table if exists files"],
)
