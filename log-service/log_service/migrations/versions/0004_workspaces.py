"""log: events belong to workspaces (#17).

The owner column becomes the workspace column by a rename alone: no row of this (large,
partitioned) table is rewritten, and no `created_by` is added (an event has no author to
record). A member limited to some bots sees those bots' events and the events of no bot
(account and workspace events).
"""

from services.db.migrate import OwnedTable, workspace_revision
from services.db.rls import bot_scoped

revision, down_revision, branch_labels, depends_on, upgrade, downgrade = workspace_revision(
    __file__,
    "log",
    [
        OwnedTable(
            "events",
            bot_scoped("events", "bot_id", nullable=True),
            indexes={
                "events_owner_time_idx": "events_workspace_time_idx",
                "events_owner_seq_idx": "events_workspace_seq_idx",
            },
        )
    ],
)
