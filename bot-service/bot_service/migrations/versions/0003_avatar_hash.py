"""bot: the bot user's avatar hash (Discord CDN), for the console's avatar."""

from services.db.migrate import sql_revision

revision, down_revision, branch_labels, depends_on, upgrade, downgrade = sql_revision(
    __file__,
    upgrade=["alter table bots add column avatar_hash varchar(64)"],
    downgrade=["alter table bots drop column avatar_hash"],
)
