"""Templates a user can trust and results that say what happened, through the real gateway:
the variable list comes from the contract, the dry run fills guild/channel/bot, an undefined
variable is a warning at preview and at save (the save still succeeds), and a failed run
says why, which steps ran, and has a log line to link to."""

from __future__ import annotations

import uuid

import httpx

from tests.fixtures.auth import sign_in
from tests.fixtures.infra import apoll
from tests.integration.commands.gateway_api import command_body as _cmd


async def test_variables_preview_warnings_and_failed_dry_run(
    auth_stack, sandbox, sandbox_control, command_service, peer, command_events
) -> None:
    alice = await sign_in(auth_stack.url, sandbox)
    async with httpx.AsyncClient(base_url=auth_stack.url, headers=alice.headers, timeout=20) as api:
        listed = await api.get("/v1/commands/variables")
        assert listed.status_code == 200, listed.text
        paths = [v["path"] for v in listed.json()["items"]]
        for path in (
            "guild.name",
            "guild.member_count",
            "channel.name",
            "bot.name",
            "user.display_name",
            "user.role_names",
        ):
            assert path in paths

        app = await sandbox_control.create_application(f"Tpl Bot {uuid.uuid4().hex[:6]}")
        created = await api.post("/v1/bots", json={"name": "tpl bot", "token": app.token})
        assert created.status_code == 201, created.text
        bot_id = created.json()["id"]
        base = f"/v1/bots/{bot_id}/commands"

        # The dry run fills what the templates promise: a sample server and channel, and
        # the bot's own Discord name.
        hello = _cmd(
            name="hello",
            response={
                "type": "template",
                "content": "{{ guild.name }}|{{ channel.name }}|{{ bot.name }}|"
                "{{ user.display_name }}|{{ guild.member_count }}",
            },
        )
        reply = (await api.post(f"{base}/preview", json=hello)).json()
        assert reply["outcome"] == "ok", reply
        guild, channel, bot_name, user, count = reply["content"].split("|")
        assert [guild, channel, user, count] == ["Sample Server", "general", "Tester", "42"]
        assert bot_name == app.bot_username
        assert reply["warnings"] == []
        assert reply["steps"] == ["rendered template"]

        # An undefined variable: flagged in the preview and at save, the save succeeds.
        typo = _cmd(
            name="typo",
            response={"type": "template", "content": "Hi {{ user.nmae }} in {{ guild.name }}"},
        )
        reply = (await api.post(f"{base}/preview", json=typo)).json()
        assert reply["outcome"] == "ok"
        assert len(reply["warnings"]) == 1
        assert "{{ user.nmae }}" in reply["warnings"][0]
        saved = await api.post(base, json=typo)
        assert saved.status_code == 201, saved.text
        assert saved.json()["warnings"] == reply["warnings"]
        fixed = await api.patch(
            f"{base}/{saved.json()['id']}",
            json={"response": {"type": "template", "content": "Hi {{ user.name }}"}},
        )
        assert fixed.status_code == 200, fixed.text
        assert fixed.json()["warnings"] == []

        # A failing AI command: the dry run says why, which steps ran, and logs a line.
        conn = await api.post(
            "/v1/connections",
            json={
                "name": f"broken-{uuid.uuid4().hex[:6]}",
                "base_url": peer.url + "/v1/missing",
                "auth_type": "bearer",
                "secret": "sk-test-abcdef123456",
            },
        )
        assert conn.status_code == 201, conn.text
        prompt = await api.post(
            "/v1/prompts", json={"name": f"p-{uuid.uuid4().hex[:6]}", "user": "hi", "model": "m"}
        )
        assert prompt.status_code == 201, prompt.text
        ask = await api.post(
            base,
            json=_cmd(
                name="ask",
                response={
                    "type": "ai",
                    "connection_id": conn.json()["id"],
                    "prompt_id": prompt.json()["id"],
                },
            ),
        )
        assert ask.status_code == 201, ask.text
        ran = await api.post(f"{base}/{ask.json()['id']}/test", json={})
        assert ran.status_code == 200, ran.text
        failed = ran.json()
        assert failed["outcome"] == "error"
        assert failed["error"] == "the AI API answered HTTP 404"
        assert len(failed["steps"]) == 1
        assert failed["steps"][0].startswith(f"called AI connection {conn.json()['name']} · ")
        assert failed["event_id"]

        events = await apoll(
            lambda: [e for e in command_events.of("executed") if e["id"] == failed["event_id"]],
            what="the failed dry run's log event",
        )
        assert events[0]["level"] == "error"
        assert events[0]["dry_run"] is True
        assert "the AI API answered HTTP 404" in events[0]["message"]


async def test_prompt_templates_warn_at_save_and_in_the_preview_of_a_command(
    auth_stack, sandbox, sandbox_control, command_service, peer
) -> None:
    """A prompt's system/user templates are checked against the same variable list: an
    undefined one is a warning when the prompt is saved and in the preview and save of a
    command that uses it; never a refusal."""
    alice = await sign_in(auth_stack.url, sandbox)
    async with httpx.AsyncClient(base_url=auth_stack.url, headers=alice.headers, timeout=20) as api:
        name = f"p-{uuid.uuid4().hex[:6]}"
        prompt = await api.post(
            "/v1/prompts",
            json={
                "name": name,
                "model": "m",
                "system": "You answer in {{ guild.nmae }}",
                "user": "{{ options.question }} ({{ vars.tone }})",
            },
        )
        assert prompt.status_code == 201, prompt.text
        warnings = prompt.json()["warnings"]
        assert len(warnings) == 2, warnings
        assert warnings[0].startswith("the prompt's system message uses {{ guild.nmae }}")
        assert "{{ vars.tone }}" in warnings[1]
        assert "add it to the prompt's variables" in warnings[1]
        prompt_id = prompt.json()["id"]
        listed = (await api.get("/v1/prompts")).json()["items"]
        assert [p["warnings"] for p in listed if p["id"] == prompt_id] == [warnings]

        fixed = await api.patch(
            f"/v1/prompts/{prompt_id}",
            json={"system": "You answer in {{ guild.name }}", "variables": {"tone": "kind"}},
        )
        assert fixed.status_code == 200, fixed.text
        assert fixed.json()["warnings"] == []

        # With the command using it: its options count, a missing one is flagged.
        app = await sandbox_control.create_application(f"Prompt Bot {uuid.uuid4().hex[:6]}")
        bot = await api.post("/v1/bots", json={"name": "prompt bot", "token": app.token})
        assert bot.status_code == 201, bot.text
        base = f"/v1/bots/{bot.json()['id']}/commands"
        conn = await api.post(
            "/v1/connections",
            json={"name": f"ai-{uuid.uuid4().hex[:6]}", "base_url": peer.url + "/v1"},
        )
        assert conn.status_code == 201, conn.text
        ask = _cmd(
            name="ask",
            response={"type": "ai", "connection_id": conn.json()["id"], "prompt_id": prompt_id},
        )
        reply = (await api.post(f"{base}/preview", json=ask)).json()
        assert len(reply["warnings"]) == 1, reply
        assert reply["warnings"][0].startswith(
            f"the prompt {name}'s user message uses {{{{ options.question }}}}"
        )
        saved = await api.post(base, json=ask)
        assert saved.status_code == 201, saved.text
        assert saved.json()["warnings"] == reply["warnings"]
