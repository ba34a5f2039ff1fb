"""log: the schema exists (created by bootstrap); tables arrive with their features.

Revision ID: 0001
Revises:
"""

from services.db.migrate import initial_revision

revision, down_revision, branch_labels, depends_on, upgrade, downgrade = initial_revision("0001")
