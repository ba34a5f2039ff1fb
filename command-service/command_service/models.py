"""Tables of the command schema (SQLAlchemy Core; queries live in repository.py).

Commands, prompts and connections keep their validated definition as `spec` (JSON of the
proto model), with the columns needed for lookups, uniqueness and references beside it.
Connection secrets are vault ciphertexts bound to (table, row id, column).
"""

from __future__ import annotations

from sqlalchemy import (
    ARRAY,
    Boolean,
    Column,
    DateTime,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
)
from sqlalchemy.dialects.postgresql import JSONB

SCHEMA = "command"
metadata = MetaData(schema=SCHEMA)

prompts = Table(
    "prompts",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("owner_id", Uuid, nullable=False),
    Column("name", String(100), nullable=False),
    Column("spec", JSONB, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

connections = Table(
    "connections",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("owner_id", Uuid, nullable=False),
    Column("name", String(100), nullable=False),
    Column("spec", JSONB, nullable=False),
    Column("secret_enc", LargeBinary),
    Column("secret_hint", String(8)),
    Column("secret_headers_enc", LargeBinary),
    Column("secret_header_names", ARRAY(Text), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

commands = Table(
    "commands",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("owner_id", Uuid, nullable=False),
    Column("bot_id", Uuid, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("name", String(32), nullable=False),
    Column("spec", JSONB, nullable=False),
    Column("connection_id", Uuid),
    Column("prompt_id", Uuid),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

bot_settings = Table(
    "bot_settings",
    metadata,
    Column("bot_id", Uuid, primary_key=True),
    Column("owner_id", Uuid, nullable=False),
    Column("prefix", String(10)),
    Column("synced_hash", String(64)),
    Column("sync_ok", Boolean),
    Column("sync_error", Text),
    Column("synced_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# AAD table names for the vault (schema.table), as `botcenter keys rotate` uses them.
CONNECTIONS_AAD = f"{SCHEMA}.connections"
