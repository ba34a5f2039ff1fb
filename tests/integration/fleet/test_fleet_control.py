"""Bot control over NATS: avatar (PATCH /users/@me, routed to the replica running shard 0,
or done with the token when nobody runs the bot), message, presence; ownership → 404;
Discord's 429 → rate_limited with the retry time."""

from __future__ import annotations

import uuid

import pytest

from proto import bots as P
from proto import fleet as F
from proto.errors import ErrorCode
from services.errors import RpcError
from tests.fixtures.sandbox import SandboxControl
from tests.integration.fleet.conftest import Bots, Replicas

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


async def test_avatar_message_presence_and_ownership(
    replicas: Replicas, bots: Bots, sandbox_control: SandboxControl
) -> None:
    replicas.start(2)
    app, bot = await bots.add(guilds=1)
    await bots.wait_state(bot.id, "online")

    applied = await bots.client.call(
        P.APPLY_AVATAR,
        P.ApplyAvatar(bot_id=bot.id, content_type="image/png"),
        user_id=bots.user,
        body=PNG,
    )
    assert applied.avatar_hash
    assert await sandbox_control.user_avatar(app.bot_user_id) == PNG

    guild = await sandbox_control.request("GET", f"/guilds/{app.guild_ids[0]}")
    channel = guild["channel_ids"][0]
    sent = await bots.call(
        F.SEND_MESSAGE,
        F.SendMessage(bot_id=bot.id, channel_id=channel, content="hello from the fleet"),
    )
    messages = await sandbox_control.channel_messages(channel, author_id=app.bot_user_id)
    assert [m["id"] for m in messages] == [sent.message_id]

    presence = await bots.call(
        F.APPLY_PRESENCE,
        F.ApplyPresence(bot_id=bot.id, presence=F.Presence(status="idle", activity_text="x")),
    )
    assert presence.shards == 1

    # Someone else's bot does not exist for you.
    for spec, req in (
        (F.GET_STATUS, P.BotRef(bot_id=bot.id)),
        (F.SEND_MESSAGE, F.SendMessage(bot_id=bot.id, channel_id=channel, content="no")),
    ):
        with pytest.raises(RpcError) as err:
            await bots.call(spec, req, user=uuid.uuid4())
        assert err.value.code is ErrorCode.NOT_FOUND

    # A second avatar change in the sandbox's window: Discord's 429 → rate_limited.
    await bots.call(P.STOP_BOT, P.BotRef(bot_id=bot.id))
    await bots.wait_state(bot.id, "offline")
    avatar = P.ApplyAvatar(bot_id=bot.id, content_type="image/png")
    # The image Discord already shows is a no-op: no PATCH, no change spent.
    same = await bots.client.call(P.APPLY_AVATAR, avatar, user_id=bots.user, body=PNG)
    assert (same.avatar_hash, same.unchanged) == (applied.avatar_hash, True)
    # Nobody runs the bot now: done with its token (2 changes per window in the sandbox).
    # The sandbox checks only the PNG signature, so trailing bytes make another image.
    await bots.client.call(P.APPLY_AVATAR, avatar, user_id=bots.user, body=PNG + b"2")
    with pytest.raises(RpcError) as err:
        await bots.client.call(P.APPLY_AVATAR, avatar, user_id=bots.user, body=PNG + b"3")
    assert err.value.code is ErrorCode.RATE_LIMITED
    assert err.value.details["retry_after"] > 0
