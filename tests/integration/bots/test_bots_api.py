"""bot-service API half over NATS: add/list/update/delete bots with sandbox tokens,
desired state mirrored to KV, ownership and validation errors."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from nats.aio.client import Client as NATS
from pydantic import SecretStr

from proto import bots as P
from proto.errors import ErrorCode
from proto.fleet import DesiredBot
from proto.system import PurgeUser, purge_spec
from services.errors import RpcError
from tests.fixtures.sandbox import SandboxControl

PURGE = purge_spec("bot")


async def desired(nc: NATS, bot_id: uuid.UUID) -> DesiredBot | None:
    kv = await nc.jetstream().key_value("bot_desired")
    try:
        entry = await kv.get(str(bot_id))
    except Exception:
        return None
    return DesiredBot.model_validate_json(entry.value) if entry.value else None


async def test_add_bot_checks_token_and_never_returns_it(
    call, nc: NATS, sandbox_control: SandboxControl
) -> None:
    app = await sandbox_control.create_application("Helper Bot")
    user = uuid.uuid4()
    bot = await call(
        P.CREATE_BOT,
        P.CreateBot(
            token=SecretStr(app.token), intents=["GUILDS", "MESSAGE_CONTENT"], tags=["a", "a"]
        ),
        user,
    )
    assert bot.workspace_id == user
    assert bot.application_id == app.application_id
    assert bot.discord_user_id == app.bot_user_id
    assert bot.username == app.bot_username
    assert bot.name == app.bot_username
    assert bot.token_hint == "…" + app.token[-4:]
    assert app.token not in bot.model_dump_json()
    assert bot.privileged_intents == ["MESSAGE_CONTENT"]
    assert any("MESSAGE_CONTENT" in w for w in bot.warnings)  # not enabled in the portal
    assert bot.tags == ["a"]
    assert bot.desired_state == "stopped"

    mirrored = await desired(nc, bot.id)
    assert mirrored is not None
    assert mirrored.running is False
    assert mirrored.workspace_id == user
    assert mirrored.intents == (1 | 1 << 15)

    listed = await call(P.LIST_BOTS, P.ListBots(), user)
    assert [b.id for b in listed.bots] == [bot.id]
    # Someone else sees nothing of it.
    other = uuid.uuid4()
    assert (await call(P.LIST_BOTS, P.ListBots(), other)).bots == []
    with pytest.raises(RpcError) as err:
        await call(P.READ_BOT, P.BotRef(bot_id=bot.id), other)
    assert err.value.code is ErrorCode.NOT_FOUND
    summary = await call(P.GET_BOT, P.BotRef(bot_id=bot.id), user)
    assert summary.application_id == app.application_id


async def test_bad_token_is_422_with_a_clear_message(call) -> None:
    user = uuid.uuid4()
    with pytest.raises(RpcError) as err:
        await call(
            P.CREATE_BOT,
            P.CreateBot(
                token=SecretStr("MTIz" + "x" * 30 + ".abcdef.ghijklmnopqrstuvwxyz0123456789")
            ),
            user,
        )
    assert err.value.code is ErrorCode.VALIDATION
    assert "Discord rejected this token" in err.value.message
    with pytest.raises(RpcError) as err:
        await call(P.CREATE_BOT, P.CreateBot(token=SecretStr("short")), user)
    assert err.value.code is ErrorCode.VALIDATION
    assert "too short" in err.value.message
    assert (await call(P.LIST_BOTS, P.ListBots(), user)).bots == []


async def test_same_application_twice_is_409_for_any_user(
    call, sandbox_control: SandboxControl
) -> None:
    app = await sandbox_control.create_application("Twice")
    first, second = uuid.uuid4(), uuid.uuid4()
    await call(P.CREATE_BOT, P.CreateBot(token=SecretStr(app.token)), first)
    for user in (first, second):
        with pytest.raises(RpcError) as err:
            await call(P.CREATE_BOT, P.CreateBot(token=SecretStr(app.token)), user)
        assert err.value.code is ErrorCode.CONFLICT
        assert "already" in err.value.message
    assert (await call(P.LIST_BOTS, P.ListBots(), second)).bots == []


async def test_start_stop_restart_change_the_desired_state(
    call, nc: NATS, sandbox_control: SandboxControl
) -> None:
    app = await sandbox_control.create_application("Runner")
    user = uuid.uuid4()
    bot = await call(P.CREATE_BOT, P.CreateBot(token=SecretStr(app.token), auto_start=True), user)
    assert bot.desired_state == "running"
    assert (await desired(nc, bot.id)).running is True
    ref = P.BotRef(bot_id=bot.id)
    stopped = await call(P.STOP_BOT, ref, user)
    assert stopped.desired_state == "stopped"
    assert (await desired(nc, bot.id)).running is False
    restarted = await call(P.RESTART_BOT, ref, user)
    assert restarted.desired_state == "running"
    assert restarted.generation == bot.generation + 1
    state = await desired(nc, bot.id)
    assert (state.running, state.generation) == (True, bot.generation + 1)
    # Someone else cannot touch it.
    with pytest.raises(RpcError) as err:
        await call(P.STOP_BOT, ref, uuid.uuid4())
    assert err.value.code is ErrorCode.NOT_FOUND
    assert (await desired(nc, bot.id)).running is True


async def test_update_validates_and_mirrors(
    call, nc: NATS, sandbox_control: SandboxControl
) -> None:
    app = await sandbox_control.create_application("Patchy")
    user = uuid.uuid4()
    bot = await call(P.CREATE_BOT, P.CreateBot(token=SecretStr(app.token)), user)
    updated = await call(
        P.UPDATE_BOT,
        P.UpdateBot(
            bot_id=bot.id,
            name="New name",
            shard_count=2,
            presence=P.BotPresence(status="idle", activity_text="hi"),
        ),
        user,
    )
    assert updated.name == "New name"
    assert updated.shard_count == 2
    state = await desired(nc, bot.id)
    assert state.shard_count == 2
    assert state.presence.status == "idle"
    assert state.presence.activity_text == "hi"
    back_to_auto = await call(P.UPDATE_BOT, P.UpdateBot(bot_id=bot.id, shard_count="auto"), user)
    assert back_to_auto.shard_count is None
    assert (await desired(nc, bot.id)).shard_count is None
    with pytest.raises(RpcError) as err:
        await call(P.UPDATE_BOT, P.UpdateBot(bot_id=bot.id, intents=["NOPE"]), user)
    assert err.value.code is ErrorCode.VALIDATION
    assert "NOPE" in err.value.message
    with pytest.raises(RpcError) as err:
        await call(P.UPDATE_BOT, P.UpdateBot(bot_id=bot.id, intents=1 << 17), user)
    assert err.value.code is ErrorCode.VALIDATION


async def test_replace_token_bumps_generation_and_refuses_other_apps(
    call, nc: NATS, sandbox_control: SandboxControl
) -> None:
    app = await sandbox_control.create_application("Rotated")
    other_app = await sandbox_control.create_application("Other")
    user = uuid.uuid4()
    bot = await call(P.CREATE_BOT, P.CreateBot(token=SecretStr(app.token)), user)
    new_token = await sandbox_control.reset_token(app.application_id)
    # The old token no longer works on Discord; the new one is accepted.
    replaced = await call(
        P.REPLACE_TOKEN, P.ReplaceToken(bot_id=bot.id, token=SecretStr(new_token)), user
    )
    assert replaced.token_hint == "…" + new_token[-4:]
    assert replaced.generation == bot.generation + 1
    assert (await desired(nc, bot.id)).generation == bot.generation + 1
    with pytest.raises(RpcError) as err:
        await call(
            P.REPLACE_TOKEN, P.ReplaceToken(bot_id=bot.id, token=SecretStr(other_app.token)), user
        )
    assert err.value.code is ErrorCode.VALIDATION
    assert "another Discord application" in err.value.message


async def test_delete_and_purge_remove_bots_and_desired_state(
    call, nc: NATS, sandbox_control: SandboxControl
) -> None:
    user = uuid.uuid4()
    bots = []
    for i in range(3):
        app = await sandbox_control.create_application(f"Gone {i}")
        bots.append(
            await call(P.CREATE_BOT, P.CreateBot(token=SecretStr(app.token), auto_start=True), user)
        )
    deleted = await call(P.DELETE_BOT, P.BotRef(bot_id=bots[0].id), user)
    assert deleted.bot_id == bots[0].id
    assert await desired(nc, bots[0].id) is None
    with pytest.raises(RpcError) as err:
        await call(P.READ_BOT, P.BotRef(bot_id=bots[0].id), user)
    assert err.value.code is ErrorCode.NOT_FOUND
    with pytest.raises(RpcError) as err:
        await call(P.DELETE_BOT, P.BotRef(bot_id=bots[0].id), user)
    assert err.value.code is ErrorCode.NOT_FOUND

    result = await call(PURGE, PurgeUser(user_id=user), None)
    assert (result.service, result.removed) == ("bot", 2)
    assert [await desired(nc, b.id) for b in bots] == [None, None, None]
    assert (await call(P.LIST_BOTS, P.ListBots(), user)).bots == []
    again = await call(PURGE, PurgeUser(user_id=user), None)
    assert again.removed == 0


async def test_delete_stops_a_live_bot_before_removing_it(
    call, nc: NATS, sandbox_control: SandboxControl
) -> None:
    app = await sandbox_control.create_application("Live Then Gone", guild_count=1)
    user = uuid.uuid4()
    bot = await call(P.CREATE_BOT, P.CreateBot(token=SecretStr(app.token), auto_start=True), user)
    try:
        await sandbox_control.wait_for_sessions(app.application_id, 1, timeout=30)
    except TimeoutError as err:
        # What the fleet says about the bot is what tells a slow start from a lost one.
        page = await call(P.LIST_BOTS, P.ListBots(), user)
        raise AssertionError(f"no session; the fleet says {page.bots[0].status!r}") from err

    deleted = await call(P.DELETE_BOT, P.BotRef(bot_id=bot.id), user)
    # DELETE answered only once the fleet showed no live shard: the session is gone now.
    assert deleted.stopped is True
    assert await sandbox_control.sessions(app.application_id) == []
    assert await desired(nc, bot.id) is None
    # Its data is gone too: the same application can be added again.
    again = await call(P.CREATE_BOT, P.CreateBot(token=SecretStr(app.token)), user)
    assert again.application_id == app.application_id


async def test_concurrent_changes_on_two_replicas_leave_kv_equal_to_postgres(
    call, nc: NATS, sandbox, sandbox_control: SandboxControl, start_service
) -> None:
    start_service("bot", DISCORD_BASE_URL=sandbox.base_url)  # a second replica shares the load
    app = await sandbox_control.create_application("Flip Flop")
    user = uuid.uuid4()
    bot = await call(P.CREATE_BOT, P.CreateBot(token=SecretStr(app.token)), user)
    ref = P.BotRef(bot_id=bot.id)
    specs = [P.START_BOT, P.STOP_BOT, P.RESTART_BOT] * 8
    ops = [call(spec, ref, user) for spec in specs]
    ops += [
        call(P.UPDATE_BOT, P.UpdateBot(bot_id=bot.id, shard_count=n), user) for n in range(1, 9)
    ]
    await asyncio.gather(*ops)
    final = await call(P.READ_BOT, ref, user)
    state = await desired(nc, bot.id)
    assert state is not None
    assert state.running == (final.desired_state == "running")
    assert state.generation == final.generation == 8
    assert state.shard_count == final.shard_count
    await call(P.STOP_BOT, ref, user)
