"""Automations and variables through the real gateway (#18 `## API`), signed in as a user:
the issue's paths and fields, 201/204, a 422 naming the field, 404 for another user's bot."""

from __future__ import annotations

from typing import Any

from tests.fixtures.auth import sign_in
from tests.fixtures.teams import automation_body
from tests.integration.commands.gateway_api import field_errors
from tests.integration.commands.test_commands_gateway import _add_bot, _api

GUILD, MEMBER = "111111111111111111", "222222222222222222"


async def test_automations_and_variables_over_http(
    auth_stack: Any, sandbox: Any, sandbox_control: Any, command_service: Any
) -> None:
    alice = await sign_in(auth_stack.url, sandbox)
    bob = await sign_in(auth_stack.url, sandbox)
    async with _api(auth_stack.url, alice) as api:
        bot_id, _ = await _add_bot(api, sandbox_control)
        base = f"/v1/bots/{bot_id}/automations"
        morning = {
            **automation_body("morning"),
            "trigger": {"type": "schedule", "cron": "0 9 * * 1-5", "timezone": "Europe/Berlin"},
        }
        created = await api.post(base, json=morning)
        assert created.status_code == 201, created.text
        automation = created.json()
        assert automation["status"] == {"active": True, "reason": None}
        assert len(automation["next_runs"]) == 5
        one = f"{base}/{automation['id']}"
        assert [a["id"] for a in (await api.get(base)).json()["items"]] == [automation["id"]]
        patched = await api.patch(one, json={"enabled": False})
        assert (patched.status_code, patched.json()["next_runs"]) == (200, [])
        runs = await api.get(f"{one}/runs")
        assert runs.json() == {"items": [], "next_cursor": None}

        too_many = {**automation_body("big"), "actions": [{"type": "stop"}] * 26}
        assert ("body", "actions") in field_errors(await api.post(base, json=too_many))
        bad_cron = {**morning, "name": "bad", "trigger": {"type": "schedule", "cron": "61 * * * *"}}
        assert ("body", "trigger", "cron") in field_errors(await api.post(base, json=bad_cron))

        variables = f"/v1/bots/{bot_id}/variables"
        put = await api.put(f"{variables}/{GUILD}/joined", json={"value": 3})
        assert (put.status_code, put.json()["value"]) == (200, 3)
        member = f"{variables}/{GUILD}/users/{MEMBER}/warnings"
        assert (await api.put(member, json={"value": "one"})).json()["user_id"] == MEMBER
        listed = await api.get(variables, params={"guild_id": GUILD, "prefix": "join"})
        assert [v["key"] for v in listed.json()["items"]] == ["joined"]
        assert (await api.delete(member)).status_code == 204
        assert (await api.delete(member)).status_code == 404
        bad_key = await api.put(f"{variables}/{GUILD}/Not-A-Key", json={"value": 1})
        assert bad_key.status_code == 422, bad_key.text

        assert (await api.delete(one)).status_code == 204
        assert (await api.get(one)).status_code == 404

    async with _api(auth_stack.url, bob) as other:
        assert (await other.get(base)).status_code == 404
        assert (
            await other.put(f"{variables}/{GUILD}/joined", json={"value": 1})
        ).status_code == 404
