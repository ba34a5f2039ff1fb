"""Operator key work: re-encrypt every vault-sealed column with the newest vault key
(`botcenter keys rotate`), and retire a leaked JWT signing key (`botcenter keys retire`).

Each service declares its encrypted columns on its `ServiceDefinition`; rotation runs as
the admin login, row by row, each row re-sealed with the same AAD (table, row id, column).

Retiring asks auth-service (which owns the signing keys) over NATS with an operator login:
`rpc.auth.keys.retire`, which no service may call. The key stops verifying everywhere at
once (see `auth_service.keys` and `services.authn`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

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


def operator_nats_url(settings: KernelSettings) -> str:
    """NATS_URL with an operator login when set; in development, the running stack's
    NATS with its admin login (from the data folder)."""
    explicit = os.environ.get("NATS_URL")
    if explicit:
        return explicit
    if settings.mode is not Mode.DEVELOPMENT:
        raise SystemExit("NATS_URL must name the NATS server, with an operator login")
    from services.infra.stack import running_env

    try:
        url = running_env(settings.data_dir.resolve(), "auth")["NATS_URL"]
    except (FileNotFoundError, KeyError):
        raise SystemExit("botcenter is not running here; set NATS_URL") from None
    passwords = dev_secrets(settings.data_dir).get("nats_passwords")
    if not isinstance(passwords, dict) or "admin" not in passwords or "@" in url:
        return url
    parts = urlsplit(url)
    secret = quote(str(passwords["admin"]), safe="")
    return parts._replace(netloc=f"bc_admin:{secret}@{parts.netloc}").geturl()


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
