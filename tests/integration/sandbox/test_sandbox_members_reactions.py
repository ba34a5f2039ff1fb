"""Members, roles, reactions and DMs with an unmodified discord.py bot over real sockets: the
gateway events it sees (and, without the intent, does not), the moderation calls it makes and
what the control API shows afterwards, and Discord's refusals (50013, 10007, 10011, ...)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import discord
import httpx
import pytest

from tests.fixtures.sandbox import (
    SandboxControl,
    SandboxError,
    SandboxProcess,
    running_client,
    start_sandbox,
)

EVENT_TIMEOUT = 10.0


class Seen:
    """Every event the client dispatched, by name, to await in order."""

    def __init__(self, client: discord.Client, *names: str) -> None:
        self.queues: dict[str, asyncio.Queue[tuple[Any, ...]]] = defaultdict(asyncio.Queue)
        for name in names:
            client.event(self._recorder(name))

    def _recorder(self, name: str) -> Any:
        async def record(*args: Any) -> None:
            self.queues[name].put_nowait(args)

        record.__name__ = f"on_{name}"  # what `Client.event` registers it as
        return record

    async def next(self, name: str) -> tuple[Any, ...]:
        return await asyncio.wait_for(self.queues[name].get(), EVENT_TIMEOUT)

    def count(self, name: str) -> int:
        return self.queues[name].qsize()


async def _world(ctl: SandboxControl, name: str, **app_options: Any) -> tuple[Any, Any, Any, Any]:
    """A bot installed in a guild owned by `owner`, with one ordinary member `person`."""
    app = await ctl.create_application(name, **app_options)
    slug = name.lower().replace(" ", "")
    owner = await ctl.create_user(f"{slug}-owner")
    person = await ctl.create_user(f"{slug}-person")
    guild = await ctl.create_guild(f"{name} guild", members=[owner.id, person.id])
    await ctl.install(guild.guild_id, app.application_id)
    return app, owner, person, guild


def _client(intents: discord.Intents) -> discord.Client:
    return discord.Client(intents=intents, guild_ready_timeout=0.2)


def _cached(client: discord.Client, guild_id: str, user_id: str) -> tuple[Any, Any]:
    """The guild and one member as discord.py cached them from GUILD_CREATE."""
    server = client.get_guild(int(guild_id))
    assert server is not None
    member = server.get_member(int(user_id))
    assert member is not None
    return server, member


async def _refusals(calls: dict[str, Awaitable[Any]]) -> dict[str, tuple[str, int]]:
    """What each discord.py call was refused with: (exception class, Discord error code)."""
    answers: dict[str, tuple[str, int]] = {}
    for what, call in calls.items():
        with pytest.raises(discord.HTTPException) as refused:
            await call
        answers[what] = (type(refused.value).__name__, refused.value.code)
    return answers


def _members_intents() -> discord.Intents:
    intents = discord.Intents.default()
    intents.members = True
    return intents


@pytest.mark.usefixtures("discord_py_sandbox")
async def test_join_leave_and_reactions_reach_a_bot_with_the_intents(
    sandbox_control: SandboxControl,
) -> None:
    ctl = sandbox_control
    app, _owner, person, guild = await _world(ctl, "Greeter", privileged_intents=["members"])
    client = _client(_members_intents())
    seen = Seen(client, "member_join", "member_remove", "raw_reaction_add", "raw_reaction_remove")
    channel_id = guild.channel_ids[0]

    async with running_client(client, app.token):
        joined = await ctl.join(guild.guild_id, username="newcomer")
        (member,) = await seen.next("member_join")
        assert (member.id, member.name) == (int(joined["user_id"]), "newcomer")
        assert member.guild.id == int(guild.guild_id)
        assert client.get_guild(int(guild.guild_id)).member_count == 4  # type: ignore[union-attr]

        again = await ctl.join(guild.guild_id, user_id=joined["user_id"])
        assert again["joined"] is False

        message = await ctl.post_message(channel_id, person.id, "react to me")
        await ctl.react(channel_id, message["id"], joined["user_id"], "👍")
        (added,) = await seen.next("raw_reaction_add")
        assert added.message_id == int(message["id"])
        assert added.user_id == int(joined["user_id"])
        assert str(added.emoji) == "👍"
        assert added.member is not None
        assert added.member.name == "newcomer"
        await ctl.react(channel_id, message["id"], joined["user_id"], "👍", remove=True)
        (removed,) = await seen.next("raw_reaction_remove")
        assert (removed.message_id, str(removed.emoji)) == (int(message["id"]), "👍")

        await ctl.leave(guild.guild_id, joined["user_id"])
        (gone,) = await seen.next("member_remove")
        assert gone.id == int(joined["user_id"])

    with pytest.raises(SandboxError) as not_member:
        await ctl.member(guild.guild_id, joined["user_id"])
    assert not_member.value.status == 404


@pytest.mark.usefixtures("discord_py_sandbox")
async def test_without_the_intents_joins_reactions_and_content_stay_hidden(
    sandbox_control: SandboxControl,
) -> None:
    ctl = sandbox_control
    app, _owner, person, guild = await _world(ctl, "Unprivileged")
    role_id = await ctl.create_role(guild.guild_id, "Quiet")
    intents = discord.Intents.default()  # no members, no message content
    intents.reactions = False
    client = _client(intents)
    seen = Seen(client, "message", "socket_event_type")
    channel_id = guild.channel_ids[0]

    async with running_client(client, app.token):
        joined = await ctl.join(guild.guild_id, username="unseen")
        plain = await ctl.post_message(channel_id, person.id, "secret words")
        await ctl.react(channel_id, plain["id"], person.id, "🎉")
        await client.http.add_role(int(guild.guild_id), int(person.id), int(role_id))
        await ctl.leave(guild.guild_id, joined["user_id"])
        mention = await ctl.post_message(channel_id, person.id, f"<@{app.bot_user_id}> hello")
        # Events of one session arrive in order: once the mention is here, anything the
        # join, the reaction, the role or the leave would have sent is here too.
        (first,) = await seen.next("message")
        (second,) = await seen.next("message")

        # A DM keeps its content too (Discord's rule: DMs, mentions and the bot's own).
        dm = await (await client.fetch_user(int(person.id))).create_dm()
        await ctl.post_message(str(dm.id), person.id, "a private word")
        (private,) = await seen.next("message")

    assert (first.id, first.content, first.embeds) == (int(plain["id"]), "", [])
    assert (second.id, second.content) == (int(mention["id"]), f"<@{app.bot_user_id}> hello")
    assert private.content == "a private word"
    assert isinstance(private.channel, discord.DMChannel)
    received = set()
    while seen.count("socket_event_type"):
        (event_type,) = await seen.next("socket_event_type")
        received.add(event_type)
    assert "MESSAGE_CREATE" in received
    assert not received & {
        "GUILD_MEMBER_ADD",
        "GUILD_MEMBER_UPDATE",
        "GUILD_MEMBER_REMOVE",
        "MESSAGE_REACTION_ADD",
    }
    assert (await ctl.member(guild.guild_id, person.id))["roles"] == [role_id]


@pytest.mark.usefixtures("discord_py_sandbox")
async def test_moderation_through_discord_py_shows_in_the_control_api(
    sandbox_control: SandboxControl,
) -> None:
    ctl = sandbox_control
    app, _owner, person, guild = await _world(ctl, "Moderator", privileged_intents=["members"])
    role_id = await ctl.create_role(guild.guild_id, "Verified")
    client = _client(_members_intents())
    seen = Seen(
        client,
        "member_update",
        "member_remove",
        "guild_role_create",
        "raw_reaction_add",
        "raw_message_delete",
        "raw_message_edit",
    )
    channel_id = guild.channel_ids[0]

    async with running_client(client, app.token):
        server, member = _cached(client, guild.guild_id, person.id)
        role = server.get_role(int(role_id))
        assert role is not None

        await member.add_roles(role, reason="verified by reaction")
        before, after = await seen.next("member_update")
        assert role not in before.roles
        assert role in after.roles
        assert (await ctl.member(guild.guild_id, person.id))["roles"] == [role_id]
        await member.remove_roles(role)
        _, after = await seen.next("member_update")
        assert role not in after.roles
        assert (await ctl.member(guild.guild_id, person.id))["roles"] == []

        await member.timeout(timedelta(minutes=5), reason="spam")
        _, after = await seen.next("member_update")
        assert after.is_timed_out()
        shown = await ctl.member(guild.guild_id, person.id)
        until = datetime.fromisoformat(shown["communication_disabled_until"])
        assert timedelta(minutes=4) < until - datetime.now(UTC) <= timedelta(minutes=5)

        await member.edit(nick="Calm Person")
        _, after = await seen.next("member_update")
        assert after.nick == "Calm Person"
        assert (await ctl.member(guild.guild_id, person.id))["nick"] == "Calm Person"

        made = await server.create_role(name="Made by bot", reason="automation")
        (created,) = await seen.next("guild_role_create")
        assert created.id == made.id
        assert made.name == "Made by bot"
        await member.add_roles(made)  # below the bot's own role, so it may hand it out
        assert (await ctl.member(guild.guild_id, person.id))["roles"] == [str(made.id)]

        await member.send("welcome to the server")
        [dm] = await ctl.dms(person.id, wait=EVENT_TIMEOUT)
        assert dm["content"] == "welcome to the server"
        assert dm["author"]["id"] == app.bot_user_id

        channel = server.get_channel(int(channel_id))
        assert isinstance(channel, discord.TextChannel)
        note = await channel.send("react and vanish")
        await note.add_reaction("✅")
        (reaction,) = await seen.next("raw_reaction_add")
        assert (reaction.user_id, str(reaction.emoji)) == (int(app.bot_user_id), "✅")
        fetched = await channel.fetch_message(note.id)
        assert [(str(r.emoji), r.count, r.me) for r in fetched.reactions] == [("✅", 1, True)]
        await note.edit(content="react and vanish (edited)")
        (edit,) = await seen.next("raw_message_edit")
        assert [(r["emoji"]["name"], r["me"]) for r in edit.data["reactions"]] == [("✅", True)]
        await note.remove_reaction("✅", server.me)
        assert (await channel.fetch_message(note.id)).reactions == []
        spoken = await ctl.post_message(channel_id, person.id, "rude words")
        await channel.get_partial_message(int(spoken["id"])).delete()
        (deleted,) = await seen.next("raw_message_delete")
        assert deleted.message_id == int(spoken["id"])
        await note.delete()
        remaining = {m["id"] for m in await ctl.channel_messages(channel_id)}
        assert not remaining & {spoken["id"], str(note.id)}

        await member.kick(reason="bye")
        (kicked,) = await seen.next("member_remove")
        assert kicked.id == int(person.id)

    with pytest.raises(SandboxError) as not_member:
        await ctl.member(guild.guild_id, person.id)
    assert not_member.value.status == 404


@pytest.mark.usefixtures("discord_py_sandbox")
async def test_discords_refusals_reach_discord_py(sandbox_control: SandboxControl) -> None:
    ctl = sandbox_control
    app, owner, person, guild = await _world(ctl, "Humble Bot", privileged_intents=["members"])
    above = await ctl.create_role(guild.guild_id, "Admins", position=99)
    # A member wearing a role above the bot's: out of its reach for kicks and timeouts.
    boss = await ctl.create_user("humble-boss")
    await ctl.join(guild.guild_id, user_id=boss.id, roles=[above])
    stranger = await ctl.create_user("humble-stranger")
    client = _client(_members_intents())

    async with running_client(client, app.token):
        server, member = _cached(client, guild.guild_id, person.id)
        high = server.get_role(int(above))
        assert high is not None

        _, owner_member = _cached(client, guild.guild_id, owner.id)
        _, boss_member = _cached(client, guild.guild_id, boss.id)
        assert high in boss_member.roles
        channel = server.get_channel(int(guild.channel_ids[0]))
        assert isinstance(channel, discord.TextChannel)
        stranger_user = await client.fetch_user(int(stranger.id))
        refusals = {
            "a role above the bot's": member.add_roles(high),
            "a nick along with a role above": member.edit(nick="Sneaky", roles=[high]),
            "the bot's own managed role": member.add_roles(server.self_role),  # type: ignore[arg-type]
            "timing out the owner": owner_member.timeout(timedelta(minutes=1)),
            "kicking the owner": owner_member.kick(),
            "timing out an outranking member": boss_member.timeout(timedelta(minutes=1)),
            "kicking an outranking member": boss_member.kick(),
            "an unknown role": member.add_roles(discord.Object(id=1)),
            "kicking a non-member": server.kick(discord.Object(id=int(stranger.id))),
            "an unknown message": channel.get_partial_message(1).delete(),
            "an unknown channel": client.http.delete_message(1, 1),
            "a DM to someone sharing no guild": stranger_user.send("hello stranger"),
        }
        answers = await _refusals(refusals)

    assert answers == {
        "a role above the bot's": ("Forbidden", 50013),
        "a nick along with a role above": ("Forbidden", 50013),
        "the bot's own managed role": ("Forbidden", 50013),
        "timing out the owner": ("Forbidden", 50013),
        "kicking the owner": ("Forbidden", 50013),
        "timing out an outranking member": ("Forbidden", 50013),
        "kicking an outranking member": ("Forbidden", 50013),
        "an unknown role": ("NotFound", 10011),
        "kicking a non-member": ("NotFound", 10007),
        "an unknown message": ("NotFound", 10008),
        "an unknown channel": ("NotFound", 10003),
        "a DM to someone sharing no guild": ("Forbidden", 50007),
    }
    # A refused edit changes nothing, not even its allowed parts.
    assert (await ctl.member(guild.guild_id, person.id))["roles"] == []
    assert (await ctl.member(guild.guild_id, person.id))["nick"] is None
    assert (await ctl.member(guild.guild_id, boss.id))["communication_disabled_until"] is None
    assert await ctl.dms(stranger.id) == []
    assert (await ctl.member(guild.guild_id, owner.id))["communication_disabled_until"] is None


@pytest.mark.usefixtures("discord_py_sandbox")
async def test_a_bot_without_the_permissions_gets_50013(sandbox_control: SandboxControl) -> None:
    ctl = sandbox_control
    app = await ctl.create_application("Plain Bot", privileged_intents=["members"])
    owner = await ctl.create_user("plain-owner")
    person = await ctl.create_user("plain-person")
    guild = await ctl.create_guild("Plain guild", members=[owner.id, person.id])
    view_and_send = (1 << 10) | (1 << 11)  # what a bot invited without moderation rights has
    await ctl.request(
        "POST",
        f"/guilds/{guild.guild_id}/install",
        {"application_id": app.application_id, "permissions": view_and_send},
    )
    role_id = await ctl.create_role(guild.guild_id, "Below the bot")
    channel_id = guild.channel_ids[0]
    spoken = await ctl.post_message(channel_id, person.id, "not yours to delete")
    client = _client(_members_intents())

    async with running_client(client, app.token):
        server, member = _cached(client, guild.guild_id, person.id)
        role = server.get_role(int(role_id))
        assert role is not None
        channel = server.get_channel(int(channel_id))
        assert isinstance(channel, discord.TextChannel)
        refusals = {
            "add a role": member.add_roles(role),
            "time out": member.timeout(timedelta(minutes=1)),
            "rename": member.edit(nick="Renamed"),
            "kick": member.kick(),
            "create a role": server.create_role(name="Nope"),
            "delete another's message": channel.get_partial_message(int(spoken["id"])).delete(),
        }
        answers = await _refusals(refusals)
        # @everyone's default set includes reacting: that still works.
        await channel.get_partial_message(int(spoken["id"])).add_reaction("👀")

    assert set(answers.values()) == {("Forbidden", 50013)}, answers
    shown = await ctl.member(guild.guild_id, person.id)
    assert (shown["roles"], shown["nick"], shown["communication_disabled_until"]) == (
        [],
        None,
        None,
    )
    assert [m["id"] for m in await ctl.channel_messages(channel_id)] == [spoken["id"]]


@pytest.mark.usefixtures("discord_py_sandbox")
async def test_an_enforced_nonce_makes_a_resend_return_the_first_message(
    sandbox_control: SandboxControl, sandbox: SandboxProcess
) -> None:
    ctl = sandbox_control
    app, _owner, _person, guild = await _world(ctl, "Exactly Once")
    channel_id = guild.channel_ids[0]
    client = _client(discord.Intents.default())

    async with running_client(client, app.token):
        channel = client.get_channel(int(channel_id))
        assert isinstance(channel, discord.TextChannel)
        # discord.py sends `enforce_nonce: true` with every nonce.
        first = await channel.send("welcome!", nonce="run-7:step-1")
        again = await channel.send("welcome!", nonce="run-7:step-1")
        other = await channel.send("welcome!", nonce="run-8:step-1")
    auth = {"Authorization": f"Bot {app.token}"}
    async with httpx.AsyncClient(base_url=sandbox.api_url, headers=auth) as api:
        path = f"/channels/{channel_id}/messages"
        unenforced = await api.post(path, json={"content": "x", "nonce": "run-8:step-1"})
        too_long = await api.post(path, json={"content": "x", "nonce": "n" * 26})

    assert again.id == first.id
    assert other.id != first.id
    assert unenforced.status_code == 200
    assert too_long.json()["errors"]["nonce"]["_errors"][0]["code"] == "BASE_TYPE_MAX_LENGTH"
    stored = [m["id"] for m in await ctl.channel_messages(channel_id, author_id=app.bot_user_id)]
    assert stored == [str(first.id), str(other.id), unenforced.json()["id"]]


async def test_control_api_refuses_bad_member_and_reaction_requests(
    sandbox_control: SandboxControl,
) -> None:
    ctl = sandbox_control
    app, owner, person, guild = await _world(ctl, "Control Checks")
    channel_id = guild.channel_ids[0]
    message = await ctl.post_message(channel_id, person.id, "hello")
    outsider = await ctl.create_user("control-outsider")

    async def status_of(method: str, path: str, body: Any = None) -> int:
        with pytest.raises(SandboxError) as refused:
            await ctl.request(method, path, body)
        return refused.value.status

    reaction = {"channel_id": channel_id, "message_id": message["id"], "user_id": person.id}
    assert await status_of("POST", f"/guilds/{guild.guild_id}/members", {}) == 400
    assert await status_of("POST", f"/guilds/{guild.guild_id}/members", {"user_id": "1"}) == 404
    assert await status_of("DELETE", f"/guilds/{guild.guild_id}/members/{owner.id}") == 400
    assert await status_of("DELETE", f"/guilds/{guild.guild_id}/members/{outsider.id}") == 404
    assert await status_of("POST", f"/guilds/{guild.guild_id}/roles", {"name": ""}) == 400
    assert await status_of("POST", "/reactions", {**reaction, "emoji": "smile"}) == 400
    assert await status_of("POST", "/reactions", {**reaction}) == 400
    assert (
        await status_of("POST", "/reactions", {**reaction, "message_id": "1", "emoji": "👍"}) == 404
    )
    assert (
        await status_of("POST", "/reactions", {**reaction, "user_id": outsider.id, "emoji": "👍"})
        == 400
    )
    assert await status_of("GET", "/users/1/dms") == 404
    install = f"/guilds/{guild.guild_id}/install"
    other = await ctl.create_application("Control Checks 2")
    bad_bits = {"application_id": other.application_id, "permissions": "all"}
    assert await status_of("POST", install, bad_bits) == 400

    first = await ctl.react(channel_id, message["id"], person.id, "👍")
    assert (first["added"], first["count"]) == (True, 1)
    assert (await ctl.react(channel_id, message["id"], person.id, "👍"))["added"] is False
    custom = await ctl.react(channel_id, message["id"], owner.id, "party:123456")
    assert custom["emoji"] == "party:123456"
    gone = await ctl.react(channel_id, message["id"], person.id, "👍", remove=True)
    assert (gone["removed"], gone["count"]) == (True, 0)
    assert (await ctl.react(channel_id, message["id"], person.id, "👍", remove=True))[
        "removed"
    ] is False
    assert await ctl.dms(person.id) == []

    # Removing a bot's member uninstalls it, as a kick does on Discord.
    bot_gone = await ctl.request("DELETE", f"/guilds/{guild.guild_id}/members/{app.bot_user_id}")
    assert bot_gone["removed"] is True
    assert (await ctl.request("GET", f"/guilds/{guild.guild_id}"))["application_ids"] == []


async def test_members_reactions_and_dms_survive_a_restart(tmp_path: Path) -> None:
    state_file = tmp_path / "sandbox-state.json"
    first = start_sandbox(tmp_path / "one", state_file=state_file)
    until = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    try:
        app, _owner, person, guild = await _world(first.control, "Durable Mod")
        role_id = await first.control.create_role(guild.guild_id, "Kept")
        channel_id = guild.channel_ids[0]
        message = await first.control.post_message(channel_id, person.id, "keep my reaction")
        await first.control.react(channel_id, message["id"], person.id, "👍")
        member_path = f"/guilds/{guild.guild_id}/members/{person.id}"
        auth = {"Authorization": f"Bot {app.token}"}
        async with httpx.AsyncClient(base_url=first.api_url, headers=auth) as api:
            (await api.put(f"{member_path}/roles/{role_id}")).raise_for_status()
            edit = {"nick": "Kept", "communication_disabled_until": until}
            (await api.patch(member_path, json=edit)).raise_for_status()
            dm = (await api.post("/users/@me/channels", json={"recipient_id": person.id})).json()
            sent = await api.post(f"/channels/{dm['id']}/messages", json={"content": "remember"})
            sent.raise_for_status()
    finally:
        await first.control.aclose()
        first.stop()
    second = start_sandbox(tmp_path / "two", state_file=state_file)
    try:
        shown = await second.control.member(guild.guild_id, person.id)
        [kept] = await second.control.dms(person.id)
        async with httpx.AsyncClient(base_url=second.api_url, headers=auth) as api:
            again = (await api.get(f"/channels/{channel_id}/messages/{message['id']}")).json()
    finally:
        await second.control.aclose()
        second.stop()
    assert (shown["roles"], shown["nick"]) == ([role_id], "Kept")
    assert datetime.fromisoformat(shown["communication_disabled_until"]) == (
        datetime.fromisoformat(until)
    )
    assert (kept["content"], kept["channel_id"]) == ("remember", dm["id"])
    assert [(r["emoji"]["name"], r["count"], r["me"]) for r in again["reactions"]] == [
        ("👍", 1, False)
    ]
