"""Database access: async engine, row-level-security scopes, roles bootstrap, migrations."""

from services.db.engine import Database, rows_touched

__all__ = ["Database", "rows_touched"]
