"""log: events belong to workspaces (#17, docs/design/teams.md §2.2).

A personal workspace's id is its user's id, so the owner column becomes the workspace
column by a rename alone: no row of this (large, partitioned) table is rewritten, and no
`created_by` is added (an event has no author to record). Rows stay where they were, now
in their owner's personal workspace.

Row-level security goes from "my rows" to "rows of my workspaces": a member limited to
some bots sees those bots' events and the events of no bot (account and workspace events).
"""

from services.db.migrate import sql_revision
from services.db.rls import OWNER_MATCH, bot_scoped, member_functions

revision, down_revision, branch_labels, depends_on, upgrade, downgrade = sql_revision(
    __file__,
    upgrade=[
        "alter table events rename column owner_id to workspace_id",
        "alter index events_owner_time_idx rename to events_workspace_time_idx",
        "alter index events_owner_seq_idx rename to events_workspace_seq_idx",
        "drop policy events_owner on events",
        *member_functions("log"),
        *bot_scoped("events", "bot_id", nullable=True),
    ],
    downgrade=[
        "drop policy events_member on events",
        "alter index events_workspace_seq_idx rename to events_owner_seq_idx",
        "alter index events_workspace_time_idx rename to events_owner_time_idx",
        "alter table events rename column workspace_id to owner_id",
        f"create policy events_owner on events using ({OWNER_MATCH}) with check ({OWNER_MATCH})",
    ],
)
