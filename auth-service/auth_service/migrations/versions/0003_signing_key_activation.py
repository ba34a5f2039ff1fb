"""Signing keys get an activation time: a new key is published at once and signs only
from `active_from` on (publish-then-use rotation).
"""

from services.db.migrate import sql_revision

revision, down_revision, branch_labels, depends_on, upgrade, downgrade = sql_revision(
    __file__,
    upgrade=[
        "alter table signing_keys add column active_from timestamptz",
        "update signing_keys set active_from = created_at",
        "alter table signing_keys alter column active_from set not null",
        "alter table signing_keys alter column active_from set default now()",
    ],
    downgrade=["alter table signing_keys drop column active_from"],
)
