"""storage: files belong to workspaces (#17).

Object keys (`users/<workspace_id>/…`) keep their values; `created_by` (the uploader)
starts as the owner. Rows are visible to the members of their workspace; the outbox
carries the audit records of uploads and deletes. A downgrade keeps personal workspaces'
files only: a team's have no owner to return to.
"""

from services.db.migrate import OwnedTable, workspace_revision
from services.db.rls import workspace_scoped
from services.outbox import outbox_table

revision, down_revision, branch_labels, depends_on, upgrade, downgrade = workspace_revision(
    __file__,
    "storage",
    [
        OwnedTable(
            "files",
            workspace_scoped("files"),
            indexes={"files_owner_created_idx": "files_workspace_created_idx"},
            constraints={"files_owner_sha_key": "files_workspace_sha_key"},
            created_by=True,
            drop_team_rows=True,
        )
    ],
    outbox=outbox_table("storage"),
)
