"""Signing keys can be retired at once (a compromised key): `retired_at` set, the key is
no longer loaded, published or used to sign, and verifiers drop it on a signal.
"""

from services.db.migrate import sql_revision
from services.db.rls import system_may

revision, down_revision, branch_labels, depends_on, upgrade, downgrade = sql_revision(
    __file__,
    upgrade=[
        "alter table signing_keys add column retired_at timestamptz",
        *system_may("signing_keys", "bc_auth_system", "update"),
    ],
    downgrade=[
        "drop policy if exists signing_keys_system_update on signing_keys",
        "alter table signing_keys drop column retired_at",
    ],
)
