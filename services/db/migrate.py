"""Runs each service's Alembic migrations into its own schema, as the owner role."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NamedTuple

from alembic import command, context, op
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from services.db.bootstrap import OWNER
from services.db.engine import async_url


def _config(script_location: Path, schema: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.attributes["schema"] = schema
    return cfg


async def upgrade(
    admin_url: str, schema: str, script_location: Path, revision: str = "head"
) -> None:
    """Upgrade one service's schema to `revision`."""
    engine = create_async_engine(async_url(admin_url), poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f'set local role "{OWNER}"'))
            await conn.execute(text(f'set local search_path to "{schema}"'))
            await conn.run_sync(_run, _config(script_location, schema), revision)
    finally:
        await engine.dispose()


def _run(sync_conn: Connection, cfg: Config, revision: str) -> None:
    cfg.attributes["connection"] = sync_conn
    command.upgrade(cfg, revision)


def run_env(target_metadata: Any = None) -> None:
    """The body of every service's `migrations/env.py`."""
    cfg = context.config
    connection = cfg.attributes["connection"]
    schema = cfg.attributes["schema"]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table_schema=schema,
        include_schemas=True,
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        context.run_migrations()


class Revision(NamedTuple):
    """The module attributes Alembic reads from a migration."""

    revision: str
    down_revision: str | None
    branch_labels: None
    depends_on: None
    upgrade: Callable[[], None]
    downgrade: Callable[[], None]


def _schema_exists() -> None:
    """Bootstrap creates each service's schema with its grants, so there is nothing to do."""


def initial_revision(revision: str) -> Revision:
    """The body of every service's `0001_initial.py`: the root its later revisions hang on,
    changing nothing (tables arrive with the features that need them)."""
    return Revision(revision, None, None, None, _schema_exists, _schema_exists)


def _executes(statements: Iterable[str]) -> Callable[[], None]:
    frozen = tuple(statements)

    def run() -> None:
        # asyncpg prepares what it is given: one SQL command per execute.
        for statement in frozen:
            op.execute(statement)

    return run


def revision_ids(migration_file: str) -> tuple[str, str | None]:
    """A migration's revision and the one it revises, from its file name: revisions are a
    line numbered by the file names, so `0003_x.py` is "0003" and revises "0002" (and
    `0001_*.py` revises nothing). The file name is the one place the number is written."""
    number = Path(migration_file).name.split("_", 1)[0]
    if not number.isdigit():
        raise ValueError(f"a migration file is named NNNN_what.py, not {migration_file!r}")
    previous = int(number) - 1
    return number, f"{previous:0{len(number)}d}" if previous > 0 else None


def sql_revision(
    migration_file: str,
    down_revision: str | None = None,
    *,
    upgrade: Iterable[str],
    downgrade: Iterable[str],
) -> Revision:
    """The body of a migration written as SQL: `sql_revision(__file__, upgrade=[...],
    downgrade=[...])`; the revision ids come from the file name (`revision_ids`).
    `upgrade` and `downgrade` run their statements in order, each on its own.

    The older form `sql_revision("0003", "0002", ...)` (ids written out) still works."""
    if down_revision is None:
        revision, down_revision = revision_ids(migration_file)
    else:
        revision = migration_file
    return Revision(revision, down_revision, None, None, _executes(upgrade), _executes(downgrade))
