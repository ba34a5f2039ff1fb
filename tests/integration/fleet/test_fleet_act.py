"""`rpc.bot.runtime.act` against the sandbox with the real discord.py in bot-service, called
as command-service (its own NATS user): every Discord side effect of an automation run, once
per idempotency key; Discord's refusals come back as results in words."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import nats
import orjson
import pytest
from nats.aio.client import Client as NATS

from bot_service.fleet.actions import ACTIONS_TTL_S, ActionKeys, kv_key
from proto.automations import ACT, ACTIONS_BUCKET, ActResult, DiscordAct
from proto.errors import ErrorCode
from services.bus.kv import Store, ensure_bucket
from services.bus.rpc import RpcClient
from services.devstack.stack import Infra
from services.errors import RpcError
from tests.fixtures.sandbox import SandboxControl, SandboxError
from tests.integration.fleet.conftest import Bots, Replicas


@pytest.fixture
async def as_command(infra: Infra) -> AsyncIterator[RpcClient]:
    """An RPC client connected as command-service, the only caller `act` allows."""
    env = infra.service_env("command")
    conn: NATS = await nats.connect(
        infra.nats_url, user=env["COMMAND_NATS_USER"], password=env["COMMAND_NATS_PASSWORD"]
    )
    try:
        yield RpcClient(conn, "command", timeout_s=20.0)
    finally:
        await conn.close()


class World:
    """A running sandbox bot in a server with its owner and one ordinary member."""

    def __init__(self, client: RpcClient, ctl: SandboxControl) -> None:
        self.client = client
        self.ctl = ctl
        self.run = uuid.uuid4()

    async def setup(self, bots: Bots, name: str) -> None:
        self.app, self.bot = await bots.add(guilds=0, start=False, name=name)
        slug = f"{name.lower().replace(' ', '')}{uuid.uuid4().hex[:6]}"
        self.owner = await self.ctl.create_user(f"{slug}-owner")
        self.person = await self.ctl.create_user(f"{slug}-person")
        guild = await self.ctl.create_guild(
            f"{name} guild", members=[self.owner.id, self.person.id]
        )
        self.guild_id, self.channel_id = guild.guild_id, guild.channel_ids[0]
        await self.ctl.install(self.guild_id, self.app.application_id)

    def request(self, action: str, step: str | None = None, **params: Any) -> DiscordAct:
        return DiscordAct(
            bot_id=self.bot.id,
            idempotency_key=f"{self.run}:{step or action}",
            guild_id=self.guild_id,
            action=action,  # type: ignore[arg-type]
            params=params,
        )

    async def act(self, action: str, step: str | None = None, **params: Any) -> ActResult:
        result: ActResult = await self.client.call(ACT, self.request(action, step, **params))
        return result

    async def bot_messages(self) -> list[dict[str, Any]]:
        return await self.ctl.channel_messages(self.channel_id, author_id=self.app.bot_user_id)


async def _online(world: World, bots: Bots, name: str) -> None:
    from proto import bots as P

    await world.setup(bots, name)
    await bots.call(P.START_BOT, P.BotRef(bot_id=world.bot.id))
    await bots.wait_state(world.bot.id, "online")


async def test_a_message_is_sent_once_per_key_and_a_dm_reaches_the_user(
    replicas: Replicas,
    bots: Bots,
    sandbox_control: SandboxControl,
    as_command: RpcClient,
    nc: NATS,
) -> None:
    replicas.start(1)
    world = World(as_command, sandbox_control)
    await _online(world, bots, "Act Sender")

    embed = {"title": "Welcome", "footer": "be nice"}
    button = {"buttons": [{"label": "Rules", "custom_id": "rules"}]}
    sent = await world.act(
        "send_message", channel_id=world.channel_id, content="hello", embeds=[embed],
        components=[button],
    )  # fmt: skip
    assert sent.ok, sent
    assert sent.repeated is False
    assert sent.output["channel_id"] == world.channel_id
    (message,) = await world.bot_messages()
    assert message["id"] == sent.output["message_id"]
    assert message["content"] == "hello"
    assert message["embeds"][0]["title"] == "Welcome"
    assert message["components"][0]["components"][0]["custom_id"] == "rules"

    # The executor retries the step (a redelivered event): the first answer, nothing sent.
    again = await world.act("send_message", channel_id=world.channel_id, content="hello")
    assert again.repeated is True
    assert again.output == sent.output
    assert len(await world.bot_messages()) == 1

    # A replica died after Discord took the message but before the key said done: the next
    # attempt finds a stale "pending", sends again, and Discord's nonce drops the copy.
    kv = await nc.jetstream().key_value(ACTIONS_BUCKET)
    key = kv_key(world.request("send_message", channel_id=world.channel_id, content="hello"))
    await kv.put(key, orjson.dumps({"pending_since": 0}))
    redone = await world.act("send_message", channel_id=world.channel_id, content="hello")
    assert redone.repeated is False
    assert redone.output["message_id"] == sent.output["message_id"]
    assert len(await world.bot_messages()) == 1

    dm = await world.act("send_message", step="dm", user_id=world.person.id, content="psst")
    assert dm.ok, dm
    (got,) = await sandbox_control.dms(world.person.id, wait=5)
    assert got["content"] == "psst"
    assert got["id"] == dm.output["message_id"]


async def test_roles_reactions_deletes_timeouts_kicks_and_refusals(
    replicas: Replicas, bots: Bots, sandbox_control: SandboxControl, as_command: RpcClient
) -> None:
    replicas.start(1)
    world = World(as_command, sandbox_control)
    ctl = sandbox_control
    await _online(world, bots, "Act Moderator")
    person = world.person.id

    role = await ctl.create_role(world.guild_id, "Verified")
    added = await world.act("add_role", user_id=person, role_id=role)
    assert added.ok, added
    assert role in (await ctl.member(world.guild_id, person))["roles"]
    removed = await world.act("remove_role", user_id=person, role_id=role)
    assert removed.ok, removed
    assert role not in (await ctl.member(world.guild_id, person))["roles"]

    posted = await ctl.post_message(world.channel_id, person, "react to me, then go")
    reacted = await world.act(
        "add_reaction", channel_id=world.channel_id, message_id=posted["id"], emoji="👍"
    )
    assert reacted.ok, reacted
    (seen,) = [m for m in await ctl.channel_messages(world.channel_id) if m["id"] == posted["id"]]
    # Only the bot reacted (the control API reads as nobody, so `me` is false here).
    assert [(r["emoji"]["name"], r["count"]) for r in seen["reactions"]] == [("👍", 1)]
    deleted = await world.act(
        "delete_message", channel_id=world.channel_id, message_id=posted["id"]
    )
    assert deleted.ok, deleted
    assert posted["id"] not in [m["id"] for m in await ctl.channel_messages(world.channel_id)]
    # A second delete under another key meets Discord's "unknown message": a result in words.
    gone = await world.act(
        "delete_message", step="again", channel_id=world.channel_id, message_id=posted["id"]
    )
    assert (gone.ok, gone.code, gone.message) == (False, 10008, f"unknown message {posted['id']}")

    quiet = await world.act("timeout_member", user_id=person, duration_s=600, reason="spam")
    assert quiet.ok, quiet
    assert (await ctl.member(world.guild_id, person))["communication_disabled_until"]

    # A role above the bot's: Discord refuses, the run reads why.
    above = await ctl.create_role(world.guild_id, "Admins", position=99)
    refused = await world.act("add_role", step="above", user_id=person, role_id=above)
    assert (refused.ok, refused.code) == (False, 50013)
    assert refused.message == (
        "the bot lacks the permission to manage roles in this server "
        "(or the role/member is above the bot's highest role)"
    )
    assert above not in (await ctl.member(world.guild_id, person))["roles"]
    owner = await world.act("kick_member", step="owner", user_id=world.owner.id)
    assert (owner.ok, owner.code) == (False, 50013)

    kicked = await world.act("kick_member", user_id=person, reason="bye")
    assert kicked.ok, kicked
    with pytest.raises(SandboxError):
        await ctl.member(world.guild_id, person)
    unknown = await world.act("add_role", step="after-kick", user_id=person, role_id=role)
    assert (unknown.ok, unknown.code, unknown.message) == (False, 10007, f"unknown member {person}")


async def test_with_nobody_running_the_bot_the_token_does_it(
    replicas: Replicas, bots: Bots, sandbox_control: SandboxControl, as_command: RpcClient
) -> None:
    replicas.start(1)
    world = World(as_command, sandbox_control)
    await world.setup(bots, "Act Offline")
    sent = await world.act("send_message", channel_id=world.channel_id, content="from REST")
    assert sent.ok, sent
    (message,) = await world.bot_messages()
    assert message["id"] == sent.output["message_id"]


async def test_keys_on_nats_kv_claim_release_and_answer_the_first_result(nc: NATS) -> None:
    """The key states over a real bucket: a released key (a delete marker) can be claimed
    again, a done key answers its result, a young pending one says retry."""
    store = Store(await ensure_bucket(nc.jetstream(), ACTIONS_BUCKET, ttl_s=ACTIONS_TTL_S))
    clock = [1000.0]
    keys = ActionKeys(store, lambda: clock[0])
    key = f"{uuid.uuid4()}.{uuid.uuid4().hex}"

    first = await keys.claim(key)
    assert first.revision is not None
    await keys.release(key, first.revision)
    second = await keys.claim(key)
    assert second.revision is not None
    with pytest.raises(RpcError) as err:
        await keys.claim(key)
    assert err.value.code is ErrorCode.UNAVAILABLE

    await keys.done(key, ActResult(ok=True, output={"message_id": "1"}))
    repeat = await keys.claim(key)
    assert repeat.done == ActResult(ok=True, output={"message_id": "1"}, repeated=True)
