"""command: prompts, connections, commands and bot settings belong to a workspace (#17).

Every row moves into its owner's personal workspace, whose id is the owner's id, so the
column is renamed and no value changes (docs/design/teams.md §2.2). Prompts and connections
are visible to the workspace's members; commands and bot settings are rows of one bot, so
a member limited to some bots sees those bots' rows only. Names are unique per workspace.
The outbox carries the audit records of every change, committed with it.
"""

from services.db.migrate import sql_revision
from services.db.rls import OWNER_MATCH, bot_scoped, member_functions, workspace_scoped
from services.outbox import outbox_table

_SCHEMA = "command"
_TABLES = ("prompts", "connections", "commands", "bot_settings")
_NAMED = ("prompts", "connections")

revision, down_revision, branch_labels, depends_on, upgrade, downgrade = sql_revision(
    __file__,
    upgrade=[
        *member_functions(_SCHEMA),
        *(f"drop policy {table}_owner on {table}" for table in _TABLES),
        *(f"alter table {table} rename column owner_id to workspace_id" for table in _TABLES),
        *(
            f"alter table {table} rename constraint {table}_owner_name_key "
            f"to {table}_workspace_name_key"
            for table in _NAMED
        ),
        "alter index commands_owner_idx rename to commands_workspace_idx",
        *workspace_scoped("prompts"),
        *workspace_scoped("connections"),
        *bot_scoped("commands", "bot_id"),
        *bot_scoped("bot_settings", "bot_id"),
        *outbox_table(_SCHEMA),
    ],
    downgrade=[
        "drop table if exists outbox",
        *(f"drop policy {table}_member on {table}" for table in _TABLES),
        "alter index commands_workspace_idx rename to commands_owner_idx",
        *(
            f"alter table {table} rename constraint {table}_workspace_name_key "
            f"to {table}_owner_name_key"
            for table in _NAMED
        ),
        *(f"alter table {table} rename column workspace_id to owner_id" for table in _TABLES),
        *(
            f"create policy {table}_owner on {table} "
            f"using ({OWNER_MATCH}) with check ({OWNER_MATCH})"
            for table in _TABLES
        ),
        *(f"drop function if exists {name}()" for name in ("app_ws", "app_ws_all_bots", "app_bots")),
    ],
)
