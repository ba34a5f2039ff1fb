"""bot-service's data at rest: row-level security on `bot.bots` (each user sees only their
rows; the system role only reads), the token sealed to its row, `load_token` for the
fleet, and the start-up mirror of desired state (Postgres wins over a stale KV bucket)."""

from __future__ import annotations

import uuid

import asyncpg
import pytest
from nats.aio.client import Client as NATS
from nats.js.errors import NoKeysError
from pydantic import SecretStr

from bot_service.tokens import TokenNotFoundError, load_token
from proto import bots as P
from services.bus.rpc import RpcClient
from services.db.engine import Database, plain_url
from services.devstack.stack import Infra, ServiceProcess
from services.settings import with_credentials
from services.vault import Vault, VaultError
from tests.fixtures.infra import ServiceStarter, apoll
from tests.fixtures.sandbox import SandboxControl, SandboxProcess


def role_url(infra: Infra, role: str) -> str:
    assert infra.database_url
    return plain_url(with_credentials(infra.database_url, role, infra.role_password))


@pytest.fixture
async def two_bots(
    nc: NATS, bot_service: ServiceProcess, sandbox_control: SandboxControl
) -> tuple[tuple[uuid.UUID, P.BotView, str], tuple[uuid.UUID, P.BotView, str]]:
    client = RpcClient(nc, "gateway", timeout_s=15)
    made = []
    for name in ("Alice bot", "Bob bot"):
        app = await sandbox_control.create_application(name)
        user = uuid.uuid4()
        bot = await client.call(P.CREATE_BOT, P.CreateBot(token=SecretStr(app.token)), user_id=user)
        made.append((user, bot, app.token))
    return made[0], made[1]


async def test_row_level_security_scopes_every_query(infra: Infra, two_bots) -> None:
    (alice, a_bot, a_token), (bob, b_bot, _) = two_bots
    conn = await asyncpg.connect(role_url(infra, "bc_bot"))
    try:
        # Without a workspace: nothing, even with a query that forgets its WHERE.
        assert await conn.fetchval("select count(*) from bot.bots") == 0
        async with conn.transaction():
            # As Database.user_scope sets it (#17): alice's personal workspace.
            for setting in ("app.user_id", "app.ws", "app.ws_all_bots"):
                value = str(alice) if setting == "app.user_id" else "{" + str(alice) + "}"
                await conn.execute("select set_config($1, $2, true)", setting, value)
            ids = [r["id"] for r in await conn.fetch("select id from bot.bots")]
            assert ids == [a_bot.id]
            assert await conn.execute("update bot.bots set name = 'x'") == "UPDATE 1"
            assert await conn.execute("delete from bot.bots where id = $1", b_bot.id) == "DELETE 0"
            with pytest.raises(asyncpg.InsufficientPrivilegeError):  # WITH CHECK
                await conn.execute("update bot.bots set workspace_id = $1", bob)
        blob = await conn.fetchval("select 1 from bot.bots")
        assert blob is None
    finally:
        await conn.close()

    system = await asyncpg.connect(role_url(infra, "bc_bot_system"))
    try:
        assert (
            await system.fetchval(
                "select count(*) from bot.bots where id = any($1)", [a_bot.id, b_bot.id]
            )
            == 2
        )
        # The system role reads (the fleet loads tokens) but never writes.
        assert await system.execute("update bot.bots set name = 'x'") == "UPDATE 0"
        assert await system.execute("delete from bot.bots") == "DELETE 0"
        sealed = bytes(
            await system.fetchval("select token_enc from bot.bots where id = $1", a_bot.id)
        )
        assert a_token.encode() not in sealed
    finally:
        await system.close()


async def test_load_token_opens_only_the_rows_own_ciphertext(infra: Infra, two_bots) -> None:
    (_, a_bot, a_token), (_, b_bot, _) = two_bots
    vault = Vault.from_spec(str(infra.secrets["vault_keys"]))
    url = with_credentials(infra.database_url or "", "bc_bot", infra.role_password)
    db = Database(url, system_url=with_credentials(url, "bc_bot_system", infra.role_password))
    try:
        assert await load_token(db, vault, a_bot.id) == a_token
        with pytest.raises(TokenNotFoundError):
            await load_token(db, vault, uuid.uuid4())
        # A ciphertext copied into another bot's row does not open there.
        admin = await asyncpg.connect(plain_url(infra.database_url or ""))
        try:
            await admin.execute(
                "update bot.bots set token_enc = (select token_enc from bot.bots where id = $1) "
                "where id = $2",
                a_bot.id,
                b_bot.id,
            )
        finally:
            await admin.close()
        with pytest.raises(VaultError):
            await load_token(db, vault, b_bot.id)
    finally:
        await db.dispose()


async def test_startup_mirrors_postgres_over_a_stale_bucket(
    nc: NATS,
    infra: Infra,
    sandbox: SandboxProcess,
    start_service: ServiceStarter,
    two_bots,
) -> None:
    (_, a_bot, _), (_, b_bot, _) = two_bots
    kv = await nc.jetstream().key_value("bot_desired")
    ghost = str(uuid.uuid4())
    await kv.put(ghost, b'{"stale": true}')
    await kv.delete(str(a_bot.id))
    await kv.put(str(b_bot.id), b"garbage")

    # A second replica starting up re-mirrors everything from Postgres.
    start_service("bot", DISCORD_BASE_URL=sandbox.base_url)

    async def mirrored() -> bool:
        try:
            keys = set(await kv.keys())
        except NoKeysError:  # the replica may empty the bucket before it writes it again
            return False
        if ghost in keys or str(a_bot.id) not in keys:
            return False
        b_value = (await kv.get(str(b_bot.id))).value or b""
        return b_value.startswith(b"{") and str(b_bot.workspace_id).encode() in b_value

    await apoll(mirrored, timeout_s=20, what="bot_desired re-mirrored from Postgres")
