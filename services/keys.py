"""Operator key work: re-encrypt every vault-sealed column with the newest vault key
(`botcenter keys rotate`), and retire a leaked JWT signing key (`botcenter keys retire`).

Each service declares its encrypted columns on its `ServiceDefinition`; rotation runs as
the admin login, row by row, each row re-sealed with the same AAD (table, row id, column).

Retiring asks auth-service (which owns the signing keys) over NATS with an operator login:
`rpc.auth.keys.retire`, which no service may call. The key stops verifying everywhere at
once (see `auth_service.keys` and `services.authn`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import asyncpg

from proto.auth import KEYS_RETIRE, KeyRetired, RetireKey
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


async def rotate_all(settings: KernelSettings, columns: Iterable[EncryptedColumn]) -> int:
    """Re-seal `columns` (every service's, from `services.installed`) with the newest key.

    Given the columns rather than finding the services itself: `services.runtime` imports
    this module for `EncryptedColumn`, and the definitions import the runtime.
    """
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
        for col in columns:
            async with conn.transaction():
                total += await rotate_column(conn, vault, col)
    finally:
        await conn.close()
    return total


async def retire_signing_key(nats_url: str, kid: str, *, timeout_s: float = 15.0) -> KeyRetired:
    """Ask auth-service to retire signing key `kid` (`current`: the one signing now)."""
    from services.bus.connection import connect
    from services.bus.rpc import RpcClient

    nc = await connect(nats_url, name="botcenter-cli", deadline_s=timeout_s)
    try:
        return await RpcClient(nc, "operator", timeout_s=timeout_s).call(
            KEYS_RETIRE, RetireKey(kid=kid)
        )
    finally:
        await nc.close()
