"""bot: the SHA-256 of the image bytes that made the current avatar hash, so re-applying
the same image is a no-op that does not spend Discord's avatar-change budget.
"""

from services.db.migrate import sql_revision

revision, down_revision, branch_labels, depends_on, upgrade, downgrade = sql_revision(
    __file__,
    upgrade=["alter table bots add column avatar_sha256 varchar(64)"],
    downgrade=["alter table bots drop column avatar_sha256"],
)
