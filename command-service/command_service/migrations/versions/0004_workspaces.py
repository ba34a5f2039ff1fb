"""command: prompts, connections, commands and bot settings belong to a workspace (#17).

Prompts and connections are visible to the workspace's members; commands and bot settings
are rows of one bot, so a member limited to some bots sees those bots' rows only. Names
are unique per workspace. The outbox carries the audit records of every change.
"""

from services.db.migrate import OwnedTable, workspace_revision
from services.db.rls import bot_scoped, workspace_scoped
from services.outbox import outbox_table

revision, down_revision, branch_labels, depends_on, upgrade, downgrade = workspace_revision(
    __file__,
    "command",
    [
        *(
            OwnedTable(
                named,
                workspace_scoped(named),
                constraints={f"{named}_owner_name_key": f"{named}_workspace_name_key"},
            )
            for named in ("prompts", "connections")
        ),
        OwnedTable(
            "commands",
            bot_scoped("commands", "bot_id"),
            indexes={"commands_owner_idx": "commands_workspace_idx"},
        ),
        OwnedTable("bot_settings", bot_scoped("bot_settings", "bot_id")),
    ],
    outbox=outbox_table("command"),
)
