"""storage: files belong to workspaces (#17, docs/design/teams.md §2.2).

A personal workspace's id is its user's id, so every file moves into its owner's personal
workspace by renaming `owner_id` to `workspace_id`: ids, rows and object keys
(`users/<workspace_id>/…`) keep their values. `created_by` (the uploader) starts as that
same user. Rows are visible to the members of their workspace (`workspace_scoped`); the
outbox carries the audit records of uploads and deletes.
"""

from services.db.migrate import sql_revision
from services.db.rls import member_functions, owner_only, workspace_scoped
from services.outbox import outbox_table

SCHEMA = "storage"

revision, down_revision, branch_labels, depends_on, upgrade, downgrade = sql_revision(
    __file__,
    upgrade=[
        "drop policy files_owner on files",
        # RLS is forced on the table's owner too (who runs migrations): lifted while the
        # backfill must see every row, forced again by `workspace_scoped`.
        "alter table files no force row level security",
        "alter table files rename column owner_id to workspace_id",
        "alter table files rename constraint files_owner_sha_key to files_workspace_sha_key",
        "alter index files_owner_created_idx rename to files_workspace_created_idx",
        "alter table files add column created_by uuid",
        "update files set created_by = workspace_id",
        "alter table files alter column created_by set not null",
        *member_functions(SCHEMA),
        *workspace_scoped("files"),
        *outbox_table(SCHEMA),
    ],
    downgrade=[
        f"drop table if exists {SCHEMA}.outbox",
        "drop policy files_member on files",
        "alter table files no force row level security",
        # Only personal workspaces' files go back: a team's have no owner to return to.
        "delete from files where workspace_id <> created_by",
        "alter table files drop column created_by",
        "alter index files_workspace_created_idx rename to files_owner_created_idx",
        "alter table files rename constraint files_workspace_sha_key to files_owner_sha_key",
        "alter table files rename column workspace_id to owner_id",
        *owner_only("files"),
        *(f"drop function {SCHEMA}.{f}()" for f in ("app_ws", "app_ws_all_bots", "app_bots")),
    ],
)
