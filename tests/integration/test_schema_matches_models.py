"""Each service's migrations build exactly the schema its models describe.

For every service with migrations: a fresh database on the real PostgreSQL, the kernel's
bootstrap and the service's migrations (as `botcenter migrate` runs them), then Alembic's
autogenerate comparison against the models' metadata: tables, columns, types, nullability,
indexes, unique constraints and foreign keys must all agree. Row-level security policies,
check constraints and server defaults are the migrations' alone and are not compared.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any
from uuid import uuid4

import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, MetaData
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from services.db.bootstrap import bootstrap
from services.db.engine import async_url, plain_url
from services.db.migrate import upgrade


def _service(name: str) -> Any:
    """pytest param for one service: (schema, package, models module)."""
    package = f"{name}_service"
    models = f"{package}.models"
    return pytest.param(name, package, models, id=name)


SERVICES = [_service(name) for name in ("auth", "bot", "command", "log", "storage")]


def models_metadata(module_name: str) -> MetaData:
    """The one MetaData a models module defines: `metadata` if it names one, else the
    metadata of its declarative base (ORM or SQLModel) or Core tables."""
    module = importlib.import_module(module_name)
    named = getattr(module, "metadata", None)
    if isinstance(named, MetaData):
        return named
    found = {
        id(md): md
        for value in vars(module).values()
        if isinstance(md := getattr(value, "metadata", value), MetaData)
    }
    assert len(found) == 1, f"{module_name}: expected one MetaData, found {len(found)}"
    return next(iter(found.values()))


def in_schema(metadata: MetaData, schema: str) -> MetaData:
    """A copy with every table in SCHEMA, whether the models name the schema (bot) or
    leave it to the role's search_path (the others)."""
    copy = MetaData()
    for table in metadata.tables.values():
        table.to_metadata(copy, schema=schema)
    return copy


def schema_differences(
    conn: Connection, metadata: MetaData, schema: str, service_filter: Any
) -> list[Any]:
    def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
        if type_ == "schema":
            return name == schema
        if type_ == "table" and name == "alembic_version":
            return False
        # A models module may name what the database has beyond its tables on purpose
        # (log-service's daily partitions, made at run time).
        return service_filter is None or bool(service_filter(name, type_, parent_names))

    context = MigrationContext.configure(
        conn,
        opts={
            "include_schemas": True,
            "include_name": include_name,
            "compare_type": True,
        },
    )
    return list(compare_metadata(context, in_schema(metadata, schema)))


@pytest.fixture
async def fresh_database(infra: Any) -> Any:
    """An empty database of its own on the test run's PostgreSQL, dropped afterwards."""
    admin_url = infra.database_url
    assert admin_url is not None
    name = f"bc_schema_{uuid4().hex[:12]}"
    admin = await asyncpg.connect(plain_url(admin_url))
    try:
        await admin.execute(f'create database "{name}"')
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        await admin.execute(f'drop database if exists "{name}" with (force)')
        await admin.close()


@pytest.mark.parametrize(("schema", "package", "models"), SERVICES)
async def test_migrated_schema_matches_the_models(
    infra: Any, fresh_database: str, schema: str, package: str, models: str
) -> None:
    metadata = models_metadata(models)
    migrations = Path(importlib.import_module(package).__file__ or "").parent / "migrations"
    await bootstrap(fresh_database, [schema], infra.role_password)
    await upgrade(fresh_database, schema, migrations)

    engine = create_async_engine(async_url(fresh_database), poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            differences = await conn.run_sync(
                schema_differences,
                metadata,
                schema,
                getattr(importlib.import_module(models), "include_name", None),
            )
    finally:
        await engine.dispose()
    assert differences == [], f"{schema}: migrations and {models} disagree:\n" + "\n".join(
        map(str, differences)
    )
