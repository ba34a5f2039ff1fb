"""bot: bots move into workspaces (#17, docs/design/teams.md §2.2). A personal workspace's
id is its user's id, so renaming `owner_id` to `workspace_id` puts every bot in its
owner's personal workspace with no lookup (ids, tokens and their vault AAD unchanged);
`created_by` starts as that owner. Row-level security now follows membership and the
bot limit of a membership (`bot_scoped` on the bot's own id), and the outbox carries the
audit records written with each change.
"""

from services.db.migrate import sql_revision
from services.db.rls import bot_scoped, member_functions, owner_only
from services.outbox import TABLE as OUTBOX, outbox_table

revision, down_revision, branch_labels, depends_on, upgrade, downgrade = sql_revision(
    __file__,
    upgrade=[
        "alter table bots rename column owner_id to workspace_id",
        "alter index bots_owner_id_idx rename to bots_workspace_idx",
        "alter table bots add column created_by uuid",
        # Forced RLS applies to the table's owner too, and no `app.*` is set here: lift
        # it for the backfill (bot_scoped below forces it again).
        "alter table bots no force row level security",
        "update bots set created_by = workspace_id",
        "alter table bots alter column created_by set not null",
        "drop policy bots_owner on bots",
        *member_functions("bot"),
        *bot_scoped("bots", "id"),
        *outbox_table("bot"),
    ],
    downgrade=[
        f"drop table if exists bot.{OUTBOX}",
        "drop policy bots_member on bots",
        "alter table bots drop column created_by",
        "alter index bots_workspace_idx rename to bots_owner_id_idx",
        "alter table bots rename column workspace_id to owner_id",
        # owner_only also enables and forces RLS again, which they still are.
        *[sql for sql in owner_only("bots") if sql.startswith("create policy")],
        "drop function if exists bot.app_ws()",
        "drop function if exists bot.app_ws_all_bots()",
        "drop function if exists bot.app_bots()",
    ],
)
