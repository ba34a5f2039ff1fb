"""Database access: async engine, row-level-security scopes, roles bootstrap, migrations."""

from services.db.engine import Database

__all__ = ["Database"]
