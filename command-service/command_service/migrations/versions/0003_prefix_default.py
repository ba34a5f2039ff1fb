"""command: every bot has a command prefix, `!` unless its settings say otherwise.

Before, a bot without a prefix (null) ignored every prefix command. A prefix is now 1 to
5 characters without spaces; a stored one outside that (none could be set from the
console) becomes the default too, so reading the settings never fails.
"""

from services.db.migrate import sql_revision

revision, down_revision, branch_labels, depends_on, upgrade, downgrade = sql_revision(
    __file__,
    upgrade=[
        "update bot_settings set prefix = '!' "
        "where prefix is null or char_length(prefix) > 5 or prefix ~ '\\s'",
        "alter table bot_settings alter column prefix set default '!'",
        "alter table bot_settings alter column prefix set not null",
    ],
    downgrade=[
        "alter table bot_settings alter column prefix drop not null",
        "alter table bot_settings alter column prefix drop default",
    ],
)
