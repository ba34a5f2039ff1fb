"""The only place a bot token is sealed or opened.

The token is sealed with the kernel vault (AES-256-GCM) with AAD bound to its row
(`bot.bots`, bot id, `token_enc`), so a ciphertext copied to another bot does not open.
`load_token` is what the fleet calls to connect a bot; every opened token is registered
with the log redactor before it is returned.
"""

from __future__ import annotations

from uuid import UUID

from bot_service import repository
from services.db.engine import Database
from services.keys import EncryptedColumn
from services.telemetry.redaction import register_secret
from services.vault import Vault, aad

TOKEN_COLUMN = EncryptedColumn(schema="bot", table="bots", column="token_enc")


class TokenNotFoundError(LookupError):
    """The bot does not exist (any more)."""


def token_aad(bot_id: UUID) -> bytes:
    return aad(TOKEN_COLUMN.aad_table, bot_id, TOKEN_COLUMN.column)


def seal_token(vault: Vault, bot_id: UUID, token: str) -> bytes:
    register_secret(token)
    return vault.encrypt(token, token_aad(bot_id))


def open_token(vault: Vault, bot_id: UUID, blob: bytes) -> str:
    token = vault.decrypt_str(blob, token_aad(bot_id))
    register_secret(token)
    return token


def last4(token: str) -> str:
    return token[-4:]


def hint(token_last4: str) -> str:
    """What the API shows instead of the token."""
    return f"…{token_last4}"


async def load_token(db: Database, vault: Vault, bot_id: UUID) -> str:
    """The decrypted token of a bot, read as the system role (for the fleet).

    Raises `TokenNotFoundError` when the bot does not exist and `services.vault.VaultError`
    when the ciphertext does not open (wrong key, or copied from another row).
    """
    async with db.system_scope() as session:
        blob = await repository.token_ciphertext(session, bot_id)
    if blob is None:
        raise TokenNotFoundError(f"bot {bot_id} not found")
    return open_token(vault, bot_id, blob)
