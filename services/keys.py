"""Re-encrypts every vault-sealed column with the newest key (`botcenter keys rotate`).

Each service declares its encrypted columns on its `ServiceDefinition`; rotation runs as
the admin login, row by row, each row re-sealed with the same AAD (table, row id, column).
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from services.db.engine import plain_url
from services.settings import KernelSettings, Mode, dev_secrets
from services.vault import Vault, aad


@dataclass(frozen=True)
class EncryptedColumn:
    schema: str
    table: str
    column: str
    id_column: str = "id"

    @property
    def aad_table(self) -> str:
        return f"{self.schema}.{self.table}"


async def rotate_column(conn: asyncpg.Connection, vault: Vault, col: EncryptedColumn) -> int:
    rows = await conn.fetch(
        f'select "{col.id_column}" as id, "{col.column}" as blob '  # noqa: S608 - identifiers from code
        f'from "{col.schema}"."{col.table}" where "{col.column}" is not null'
    )
    count = 0
    for row in rows:
        blob = bytes(row["blob"])
        if not vault.needs_rotation(blob):
            continue
        sealed = vault.reencrypt(blob, aad(col.aad_table, row["id"], col.column))
        await conn.execute(
            f'update "{col.schema}"."{col.table}" set "{col.column}" = $1 '  # noqa: S608
            f'where "{col.id_column}" = $2',
            sealed,
            row["id"],
        )
        count += 1
    return count


async def rotate_all(settings: KernelSettings) -> int:
    from services.infra.stack import service_definitions

    if settings.vault_keys is not None:
        spec = settings.vault_keys.get_secret_value()
    elif settings.mode is Mode.DEVELOPMENT:
        spec = str(dev_secrets(settings.data_dir)["vault_keys"])
    else:
        raise SystemExit("VAULT_KEYS must be set in production")
    if not settings.database_url:
        raise SystemExit("DATABASE_URL must be set")
    vault = Vault.from_spec(spec)
    conn = await asyncpg.connect(plain_url(settings.database_url))
    total = 0
    try:
        for definition in service_definitions().values():
            for col in definition.encrypted_columns:
                async with conn.transaction():
                    total += await rotate_column(conn, vault, col)
    finally:
        await conn.close()
    return total
