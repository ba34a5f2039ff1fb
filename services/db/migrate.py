"""Runs each service's Alembic migrations into its own schema, as the owner role."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from alembic import command, context, op
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from services.db.bootstrap import OWNER
from services.db.engine import async_url
from services.db.rls import MEMBER_FUNCTIONS, member_functions, member_policy, owner_only


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


class OwnedTable(NamedTuple):
    """A table of `workspace_revision`: its `owner_id` becomes `workspace_id`."""

    name: str
    # Its member policy: `rls.workspace_scoped(name)` or `rls.bot_scoped(name, ...)`.
    policy: list[str]
    # Indexes and constraints named after the owner, old name → new name.
    indexes: Mapping[str, str] = {}
    constraints: Mapping[str, str] = {}
    # A `created_by` column (the row's author), which starts as the owner.
    created_by: bool = False
    # A downgrade deletes the rows of team workspaces (they have no owner to return to)
    # instead of giving them the team's id as their owner.
    drop_team_rows: bool = False


def workspace_revision(
    migration_file: str,
    schema: str,
    tables: Sequence[OwnedTable],
    *,
    outbox: Sequence[str] = (),
) -> Revision:
    """The migration that moves a service's owned tables into workspaces (#17,
    docs/design/teams.md §2.2). A personal workspace's id is its user's id, so renaming
    `owner_id` to `workspace_id` puts every row in its owner's personal workspace with no
    value changed; row-level security goes from the owner's policy to the members' one,
    whose functions (`rls.member_functions`) the schema gets first. OUTBOX is
    `services.outbox.outbox_table(schema)` where the service gets its outbox here, for the
    audit records written with each change (the kernel's db layer is below the outbox)."""
    upgrade: list[str] = [*member_functions(schema)]
    # `outbox` is services.outbox.TABLE.
    downgrade: list[str] = [f"drop table if exists {schema}.outbox"] if outbox else []
    for t in tables:
        renames = [
            *(f"alter index {old} rename to {new}" for old, new in t.indexes.items()),
            *(
                f"alter table {t.name} rename constraint {old} to {new}"
                for old, new in t.constraints.items()
            ),
        ]
        reverted = [
            *(f"alter index {new} rename to {old}" for old, new in t.indexes.items()),
            *(
                f"alter table {t.name} rename constraint {new} to {old}"
                for old, new in t.constraints.items()
            ),
        ]
        backfill = [
            f"alter table {t.name} add column created_by uuid",
            f"update {t.name} set created_by = workspace_id",  # noqa: S608 - names from code
            f"alter table {t.name} alter column created_by set not null",
        ]
        upgrade += [
            f"drop policy {t.name}_owner on {t.name}",
            # Forced RLS applies to the table's owner too, who runs this with no `app.*`
            # set: lifted while the backfill must see every row (the policy forces it again).
            *([f"alter table {t.name} no force row level security"] if t.created_by else []),
            f"alter table {t.name} rename column owner_id to workspace_id",
            *renames,
            *(backfill if t.created_by else []),
            *t.policy,
        ]
        downgrade += [
            f"drop policy {member_policy(t.name)} on {t.name}",
            *(
                [
                    f"alter table {t.name} no force row level security",
                    f"delete from {t.name} where workspace_id <> created_by",  # noqa: S608
                ]
                if t.drop_team_rows
                else []
            ),
            *([f"alter table {t.name} drop column created_by"] if t.created_by else []),
            *reverted,
            f"alter table {t.name} rename column workspace_id to owner_id",
            *owner_only(t.name),
        ]
    upgrade += outbox
    downgrade += [f"drop function if exists {schema}.{name}()" for name in MEMBER_FUNCTIONS]
    return sql_revision(migration_file, upgrade=upgrade, downgrade=downgrade)
