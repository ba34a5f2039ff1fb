"""Discord's bot authorization flow on the sandbox: an invite link
(`/oauth2/authorize?client_id=…&scope=bot…&permissions=…`) shows a server picker, and
Authorize adds the bot to the picked server — a running, unmodified discord.py bot sees the
guild arrive (GUILD_CREATE) with the permissions the link asked for."""

from __future__ import annotations

import asyncio
import re

import discord
import httpx
import pytest

from tests.fixtures.sandbox import SandboxControl, SandboxProcess, running_client

SEND_MESSAGES = 1 << 11
VIEW_CHANNEL = 1 << 10
PERMISSIONS = SEND_MESSAGES | VIEW_CHANNEL


def _client() -> discord.Client:
    return discord.Client(intents=discord.Intents.default(), guild_ready_timeout=0.2)


def _invite(application_id: str, permissions: str = str(PERMISSIONS)) -> dict[str, str]:
    return {
        "client_id": application_id,
        "scope": "bot applications.commands",
        "permissions": permissions,
    }


async def _joined(client: discord.Client, guild_id: int, timeout: float = 10.0) -> discord.Guild:
    """The guild as the bot's cache has it, once GUILD_CREATE arrived (polled with a deadline)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while (guild := client.get_guild(guild_id)) is None:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"the bot never saw guild {guild_id}")
        await asyncio.sleep(0.05)
    return guild


@pytest.mark.usefixtures("discord_py_sandbox")
async def test_invite_link_picks_a_server_and_the_running_bot_joins_it(
    sandbox: SandboxProcess, sandbox_control: SandboxControl
) -> None:
    app = await sandbox_control.create_application("Invited Bot")
    owner = await sandbox_control.create_user("invite-owner")
    target = await sandbox_control.create_guild("Invite Target", members=[owner.id])
    client = _client()
    async with (
        running_client(client, app.token),
        httpx.AsyncClient(base_url=sandbox.base_url, timeout=10) as http,
    ):
        assert list(client.guilds) == []
        page = await http.get("/oauth2/authorize", params=_invite(app.application_id))
        assert page.status_code == 200
        assert "Add Invited Bot to a server" in page.text
        # The server picker lists the sandbox's servers, each by name, with a radio to pick.
        assert re.search(rf'value="{target.guild_id}"[^>]*> Invite Target', page.text)
        assert f">{PERMISSIONS}</code>" in page.text
        # Discord's `guild_id` parameter picks the server in advance.
        other = await sandbox_control.create_guild("Invite Other", members=[owner.id])
        hinted = await http.get(
            "/oauth2/authorize", params={**_invite(app.application_id), "guild_id": other.guild_id}
        )
        assert re.search(rf'value="{other.guild_id}" checked> Invite Other', hinted.text)
        assert not re.search(rf'value="{target.guild_id}" checked', hinted.text)

        done = await http.post(
            "/oauth2/authorize",
            data={
                **_invite(app.application_id),
                "guild_id": target.guild_id,
                "decision": "approve",
            },
        )
        assert done.status_code == 200
        assert "Invited Bot was added to Invite Target." in done.text

        guild = await _joined(client, int(target.guild_id))
        assert guild.name == "Invite Target"
        me = guild.me
        assert me is not None
        # The managed role holds what the link asked for: no more (no Administrator).
        assert me.guild_permissions.send_messages
        assert not me.guild_permissions.administrator
        assert not me.guild_permissions.ban_members

        # The picker now shows the server as already added; a new server can be made there.
        again = await http.get("/oauth2/authorize", params=_invite(app.application_id))
        assert re.search(rf'value="{target.guild_id}"[^>]*disabled> Invite Target', again.text)
        fresh = await http.post(
            "/oauth2/authorize",
            data={
                **_invite(app.application_id),
                "guild_id": "new",
                "new_guild_name": "Fresh Server",
                "decision": "approve",
            },
        )
        assert "Invited Bot was added to Fresh Server." in fresh.text
        new_id = int(re.search(r'data-guild-id="(\d+)"', fresh.text).group(1))  # type: ignore[union-attr]
        assert (await _joined(client, new_id)).name == "Fresh Server"

    registered = await sandbox_control.get_application(app.application_id)
    assert sorted(registered["guild_ids"]) == sorted([target.guild_id, str(new_id)])


async def test_bad_invite_links_are_refused_in_words(
    sandbox: SandboxProcess, sandbox_control: SandboxControl
) -> None:
    app = await sandbox_control.create_application("Refused Bot")
    async with httpx.AsyncClient(base_url=sandbox.base_url, timeout=10) as http:
        unknown = await http.get("/oauth2/authorize", params=_invite("12345"))
        assert unknown.status_code == 400
        assert "Unknown application" in unknown.text
        bad = await http.get("/oauth2/authorize", params=_invite(app.application_id, "lots"))
        assert bad.status_code == 400
        assert "Invalid permissions" in bad.text
        # Cancel adds nothing.
        cancelled = await http.post(
            "/oauth2/authorize", data={**_invite(app.application_id), "decision": "deny"}
        )
        assert "Refused Bot was not added." in cancelled.text
    assert (await sandbox_control.get_application(app.application_id))["guild_ids"] == []
