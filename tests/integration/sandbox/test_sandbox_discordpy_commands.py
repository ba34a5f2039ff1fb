"""An unmodified discord.py bot (only its URLs changed) against the sandbox: login, READY,
slash-command sync, interactions of every kind answered through discord.py's CommandTree,
prefix commands through MESSAGE_CREATE, and avatar uploads."""

from __future__ import annotations

import asyncio
import base64
import io
from typing import Any

import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.fixtures.sandbox import SandboxControl, SandboxError, SandboxTimeout, running_client

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


async def _world(ctl: SandboxControl, name: str, **app_options: Any) -> tuple[Any, Any, Any]:
    app = await ctl.create_application(name, **app_options)
    user = await ctl.create_user(f"{name.lower().replace(' ', '')}-user")
    guild = await ctl.create_guild(f"{name} guild", members=[user.id])
    await ctl.install(guild.guild_id, app.application_id)
    return app, user, guild


def _client(**options: Any) -> discord.Client:
    return discord.Client(intents=discord.Intents.default(), guild_ready_timeout=0.2, **options)


@pytest.mark.usefixtures("discord_py_sandbox")
async def test_slash_command_round_trip(sandbox_control: SandboxControl) -> None:
    app, user, guild = await _world(sandbox_control, "Echo Bot")
    client = _client()
    tree = app_commands.CommandTree(client)
    seen: dict[str, Any] = {}

    @tree.command(name="echo", description="Repeat a text")
    async def echo(interaction: discord.Interaction, text: str, times: int = 1) -> None:
        seen["user"] = interaction.user.id
        seen["guild"] = interaction.guild_id
        await interaction.response.send_message(text * times)

    async with running_client(client, app.token):
        assert client.user is not None
        assert str(client.user.id) == app.bot_user_id
        assert [str(g.id) for g in client.guilds] == [guild.guild_id]
        synced = await tree.sync()
        assert [c.name for c in synced] == ["echo"]
        interaction_id = await sandbox_control.inject_interaction(
            app.application_id, guild.guild_id, user.id, "echo", {"text": "hi ", "times": 2}
        )
        answer = await sandbox_control.wait_for_answer(interaction_id)

    assert answer["callback_type"] == 4
    assert answer["content"] == "hi hi "
    assert answer["deferred"] is False
    assert answer["latency_ms"] >= 0
    assert seen == {"user": int(user.id), "guild": int(guild.guild_id)}
    registered = await sandbox_control.get_application(app.application_id)
    assert [c["name"] for c in registered["commands"]["global"]] == ["echo"]


@pytest.mark.usefixtures("discord_py_sandbox")
async def test_deferred_ephemeral_answer_with_followup_and_edit(
    sandbox_control: SandboxControl,
) -> None:
    app, user, guild = await _world(sandbox_control, "Slow Bot")
    client = _client()
    tree = app_commands.CommandTree(client)
    guild_object = discord.Object(int(guild.guild_id))
    handled = asyncio.Event()

    @tree.command(name="report", description="Takes a while", guild=guild_object)
    async def report(interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await interaction.followup.send("report ready", ephemeral=True)
        await interaction.edit_original_response(content="report ready (edited)")
        handled.set()

    async with running_client(client, app.token):
        await tree.sync(guild=guild_object)
        interaction_id = await sandbox_control.inject_interaction(
            app.application_id, guild.guild_id, user.id, "report"
        )
        await sandbox_control.wait_for_answer(interaction_id)
        # The edit comes after the answer became final (the follow-up): let the handler finish.
        await asyncio.wait_for(handled.wait(), 10)
        answer = await sandbox_control.wait_for_answer(interaction_id)

    assert answer["callback_type"] == 5
    assert answer["deferred"] is True
    assert answer["ephemeral"] is True
    assert next(f["content"] for f in answer["followups"]).startswith("report ready")
    assert answer["content"] == "report ready (edited)"


@pytest.mark.usefixtures("discord_py_sandbox")
async def test_autocomplete_component_and_context_menu(sandbox_control: SandboxControl) -> None:
    app, user, guild = await _world(sandbox_control, "Menu Bot")
    client = _client()
    tree = app_commands.CommandTree(client)

    async def fruit_choices(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        fruits = ["apple", "apricot", "banana"]
        return [app_commands.Choice(name=f, value=f) for f in fruits if f.startswith(current)]

    class Buttons(discord.ui.View):
        @discord.ui.button(label="Press", custom_id="press-me")
        async def press(
            self, interaction: discord.Interaction, button: discord.ui.Button[Any]
        ) -> None:
            await interaction.response.edit_message(content="pressed")

    @tree.command(name="fruit", description="Pick a fruit")
    @app_commands.autocomplete(name=fruit_choices)
    async def fruit(interaction: discord.Interaction, name: str) -> None:
        await interaction.response.send_message(f"you picked {name}", view=Buttons(timeout=None))

    @tree.context_menu(name="Greet")
    async def greet(interaction: discord.Interaction, member: discord.Member) -> None:
        await interaction.response.send_message(f"hello {member.name}")

    async with running_client(client, app.token):
        client.add_view(Buttons(timeout=None))
        await tree.sync()
        auto = await sandbox_control.inject_interaction(
            app.application_id,
            guild.guild_id,
            user.id,
            "fruit",
            {"name": "ap"},
            type=4,
            focused="name",
        )
        choices = await sandbox_control.wait_for_answer(auto)
        picked = await sandbox_control.inject_interaction(
            app.application_id, guild.guild_id, user.id, "fruit", {"name": "banana"}
        )
        picked_answer = await sandbox_control.wait_for_answer(picked)
        press = await sandbox_control.inject_interaction(
            app.application_id,
            guild.guild_id,
            user.id,
            type=3,
            custom_id="press-me",
            message_id=picked_answer["message_id"],
        )
        pressed = await sandbox_control.wait_for_answer(press)
        menu = await sandbox_control.inject_interaction(
            app.application_id, guild.guild_id, user.id, "Greet", target_id=user.id
        )
        greeted = await sandbox_control.wait_for_answer(menu)

    assert choices["callback_type"] == 8
    assert [c["value"] for c in choices["choices"]] == ["apple", "apricot"]
    assert picked_answer["content"] == "you picked banana"
    assert picked_answer["components"][0]["components"][0]["custom_id"] == "press-me"
    assert pressed["callback_type"] == 7
    assert pressed["content"] == "pressed"
    assert greeted["content"] == f"hello {user.username}"


@pytest.mark.usefixtures("discord_py_sandbox")
async def test_unanswered_and_unknown_interactions(sandbox_control: SandboxControl) -> None:
    app, user, guild = await _world(sandbox_control, "Silent Bot")
    client = _client()
    tree = app_commands.CommandTree(client)

    @tree.command(name="ignore", description="Never answers")
    async def ignore(interaction: discord.Interaction) -> None:
        return None

    async with running_client(client, app.token):
        await tree.sync()
        interaction_id = await sandbox_control.inject_interaction(
            app.application_id, guild.guild_id, user.id, "ignore"
        )
        with pytest.raises(SandboxTimeout):
            await sandbox_control.wait_for_answer(interaction_id, wait=0.3)
        with pytest.raises(SandboxError) as unknown_command:
            await sandbox_control.inject_interaction(
                app.application_id, guild.guild_id, user.id, "nope"
            )
    assert unknown_command.value.status == 404
    with pytest.raises(SandboxError) as unknown:
        await sandbox_control.wait_for_answer("123", wait=0)
    assert unknown.value.status == 404


@pytest.mark.usefixtures("discord_py_sandbox")
async def test_prefix_command_needs_message_content_intent(sandbox_control: SandboxControl) -> None:
    app, user, guild = await _world(
        sandbox_control, "Prefix Bot", privileged_intents=["MESSAGE_CONTENT"]
    )
    intents = discord.Intents.default()
    intents.message_content = True
    bot = commands.Bot(command_prefix="!", intents=intents, guild_ready_timeout=0.2)

    @bot.command(name="ping")
    async def ping(ctx: commands.Context[commands.Bot]) -> None:
        await ctx.send("pong")

    channel_id = guild.channel_ids[0]
    async with running_client(bot, app.token):
        sent = await sandbox_control.post_message(channel_id, user.id, "!ping")
        replies = await sandbox_control.channel_messages(
            channel_id, after=sent["id"], author_id=app.bot_user_id, wait=10
        )
    assert [m["content"] for m in replies] == ["pong"]

    # Same bot code without the intent: Discord blanks the content, so the command never runs.
    blind, blind_user, blind_guild = await _world(sandbox_control, "Blind Bot")
    blind_bot = commands.Bot(
        command_prefix="!", intents=discord.Intents.default(), guild_ready_timeout=0.2
    )
    received: list[str] = []
    both_seen = asyncio.Event()

    @blind_bot.event
    async def on_message(message: discord.Message) -> None:
        received.append(message.content)
        if len(received) == 2:
            both_seen.set()

    async with running_client(blind_bot, blind.token):
        await sandbox_control.post_message(blind_guild.channel_ids[0], blind_user.id, "!ping")
        await sandbox_control.post_message(
            blind_guild.channel_ids[0], blind_user.id, f"<@{blind.bot_user_id}> hi"
        )
        await asyncio.wait_for(both_seen.wait(), 10)
    assert received == ["", f"<@{blind.bot_user_id}> hi"]


@pytest.mark.usefixtures("discord_py_sandbox")
async def test_message_content_intent_must_be_enabled(sandbox_control: SandboxControl) -> None:
    app, _, _ = await _world(sandbox_control, "Greedy Bot")
    intents = discord.Intents.default()
    intents.message_content = True
    client = discord.Client(intents=intents, guild_ready_timeout=0.2)
    with pytest.raises(discord.PrivilegedIntentsRequired):
        async with running_client(client, app.token):
            pass


@pytest.mark.usefixtures("discord_py_sandbox")
async def test_avatar_upload_is_stored_and_rate_limited(sandbox_control: SandboxControl) -> None:
    app, _, _ = await _world(sandbox_control, "Avatar Bot")
    client = _client()
    async with running_client(client, app.token):
        assert client.user is not None
        edited = await client.user.edit(avatar=PNG)
        assert edited.avatar is not None
        assert await sandbox_control.user_avatar(app.bot_user_id) == PNG
        assert await edited.avatar.read() == PNG  # served at discord.py's CDN URL
        shown = await sandbox_control.get_application(app.application_id)
        assert shown["bot"]["avatar"] == edited.avatar.key
        # Discord allows only a couple of avatar changes per window; the next one is a 429
        # that discord.py refuses to sleep through (max_ratelimit_timeout).
        client.http.max_ratelimit_timeout = 30.0
        await client.user.edit(avatar=PNG)
        with pytest.raises(discord.RateLimited):
            await client.user.edit(avatar=PNG)


@pytest.mark.usefixtures("discord_py_sandbox")
async def test_bot_sends_embeds_and_files_as_multipart(sandbox_control: SandboxControl) -> None:
    app, _, guild = await _world(sandbox_control, "Uploader Bot")
    client = _client()
    async with running_client(client, app.token):
        channel = client.get_channel(int(guild.channel_ids[0]))
        assert isinstance(channel, discord.TextChannel)
        sent = await channel.send(
            "with a file",
            embed=discord.Embed(title="Report", description="all good"),
            file=discord.File(io.BytesIO(b"col1,col2\n1,2\n"), filename="report.csv"),
        )
    assert sent.attachments[0].filename == "report.csv"
    assert sent.attachments[0].size == 14
    assert sent.embeds[0].title == "Report"
    [stored] = await sandbox_control.channel_messages(guild.channel_ids[0])
    assert stored["content"] == "with a file"
    assert stored["author"]["id"] == app.bot_user_id


@pytest.mark.usefixtures("discord_py_sandbox")
async def test_modal_and_deferred_component_update(sandbox_control: SandboxControl) -> None:
    app, user, guild = await _world(sandbox_control, "Form Bot")
    client = _client()
    tree = app_commands.CommandTree(client)

    class Feedback(discord.ui.Modal, title="Feedback"):
        text: discord.ui.TextInput[Any] = discord.ui.TextInput(
            label="Your words", custom_id="feedback-text"
        )

        async def on_submit(self, interaction: discord.Interaction) -> None:
            await interaction.response.send_message(f"thanks for: {self.text.value}")

    class Panel(discord.ui.View):
        @discord.ui.button(label="Refresh", custom_id="refresh")
        async def refresh(
            self, interaction: discord.Interaction, button: discord.ui.Button[Any]
        ) -> None:
            await interaction.response.defer()  # type 6: "I will edit the message later"
            await interaction.edit_original_response(content="refreshed later")

    @tree.command(name="feedback", description="Opens a form")
    async def feedback(interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(Feedback(custom_id="feedback-form"))

    @tree.command(name="panel", description="Shows a panel")
    async def panel(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("panel v1", view=Panel(timeout=None))

    async with running_client(client, app.token):
        client.add_view(Panel(timeout=None))
        await tree.sync()
        opened = await sandbox_control.wait_for_answer(
            await sandbox_control.inject_interaction(
                app.application_id, guild.guild_id, user.id, "feedback"
            )
        )
        submitted = await sandbox_control.wait_for_answer(
            await sandbox_control.inject_interaction(
                app.application_id,
                guild.guild_id,
                user.id,
                type=5,
                custom_id="feedback-form",
                components=[
                    {
                        "type": 1,
                        "components": [
                            {"type": 4, "custom_id": "feedback-text", "value": "great sandbox"}
                        ],
                    }
                ],
            )
        )
        shown = await sandbox_control.wait_for_answer(
            await sandbox_control.inject_interaction(
                app.application_id, guild.guild_id, user.id, "panel"
            )
        )
        refreshed = await sandbox_control.wait_for_answer(
            await sandbox_control.inject_interaction(
                app.application_id,
                guild.guild_id,
                user.id,
                type=3,
                custom_id="refresh",
                message_id=shown["message_id"],
            )
        )

    assert opened["callback_type"] == 9
    assert opened["modal"]["custom_id"] == "feedback-form"
    assert opened["modal"]["title"] == "Feedback"
    assert submitted["callback_type"] == 4
    assert submitted["content"] == "thanks for: great sandbox"
    assert refreshed["callback_type"] == 6
    assert refreshed["deferred"] is True
    assert refreshed["message_id"] == shown["message_id"]  # the panel itself was edited
    assert refreshed["content"] == "refreshed later"
    [panel_message] = [
        m
        for m in await sandbox_control.channel_messages(guild.channel_ids[0])
        if m["id"] == shown["message_id"]
    ]
    assert panel_message["content"] == "refreshed later"
