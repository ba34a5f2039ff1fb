"""bot: bots move into workspaces (#17): `owner_id` becomes `workspace_id`, `created_by`
starts as that owner (ids, tokens and their vault AAD unchanged). Row-level security
follows membership and the bot limit of a membership (`bot_scoped` on the bot's own id),
and the outbox carries the audit records written with each change.
"""

from services.db.migrate import OwnedTable, workspace_revision
from services.db.rls import bot_scoped
from services.outbox import outbox_table

revision, down_revision, branch_labels, depends_on, upgrade, downgrade = workspace_revision(
    __file__,
    "bot",
    [
        OwnedTable(
            "bots",
            bot_scoped("bots", "id"),
            indexes={"bots_owner_id_idx": "bots_workspace_idx"},
            created_by=True,
        )
    ],
    outbox=outbox_table("bot"),
)
