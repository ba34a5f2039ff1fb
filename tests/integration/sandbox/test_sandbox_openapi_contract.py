"""Contract test: every REST route the sandbox implements answers with bodies that validate
against the response schemas of Discord's own OpenAPI description (tests/fixtures/discord-api).

Two deliberate loosenings of the published document, both about the document rather than the
wire format: its `oneOf` unions are not mutually exclusive (e.g. every command-option variant
accepts `{type, name, description}`), so they are checked as `anyOf`; and `format` keywords
(snowflake, uri, date-time) are annotations only, as JSON Schema 2020-12 says. And where the
document and Discord's prose documentation disagree, the documentation wins (the document's
README says so): field errors inside `errors` carry string codes such as "BASE_TYPE_REQUIRED".
"""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from discord_sandbox.client import GatewayClient
from tests.fixtures.sandbox import SandboxControl, SandboxProcess

SPEC_PATH = Path(__file__).resolve().parents[2] / "fixtures" / "discord-api" / "openapi.json.gz"
SPEC_URI = "urn:discord-openapi"


def _as_any_of(node: Any) -> Any:
    if isinstance(node, dict):
        return {("anyOf" if k == "oneOf" else k): _as_any_of(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_as_any_of(v) for v in node]
    return node


def _documented_field_errors(spec: dict[str, Any]) -> dict[str, Any]:
    spec = json.loads(json.dumps(spec))
    schemas = spec["components"]["schemas"]
    schemas["FieldError"] = {
        "type": "object",
        "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        "required": ["code", "message"],
    }
    schemas["InnerErrors"]["properties"]["_errors"]["items"] = {
        "$ref": "#/components/schemas/FieldError"
    }
    return spec


class Contract:
    def __init__(self, spec: dict[str, Any]) -> None:
        spec = _documented_field_errors(spec)
        self.spec = spec
        self.registry: Registry[Any] = Registry().with_resource(
            SPEC_URI, Resource.from_contents(_as_any_of(spec), default_specification=DRAFT202012)
        )
        self.checked: list[str] = []

    def _response(self, method: str, path: str, status: int) -> dict[str, Any]:
        operation = self.spec["paths"][path][method.lower()]
        responses = operation["responses"]
        response = responses.get(str(status)) or responses.get(f"{str(status)[0]}XX")
        assert response is not None, f"{method} {path} documents no {status} response"
        if "$ref" in response:
            response = self.spec["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
        return response  # type: ignore[no-any-return]

    def check(self, method: str, path: str, response: httpx.Response) -> Any:
        documented = self._response(method, path, response.status_code)
        self.checked.append(f"{method} {path} -> {response.status_code}")
        if "content" not in documented:
            assert not response.content, (
                f"{method} {path}: {response.status_code} should have no body"
            )
            return None
        assert response.headers["Content-Type"] == "application/json"
        schema = _as_any_of(documented["content"]["application/json"]["schema"])
        schema = json.loads(json.dumps(schema).replace('"#/components', f'"{SPEC_URI}#/components'))
        body = response.json()
        validator = jsonschema.Draft202012Validator(schema, registry=self.registry)
        errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
        assert not errors, f"{method} {path}: " + "; ".join(
            f"{list(e.path)}: {e.message[:300]}" for e in errors[:5]
        )
        return body


@pytest.fixture(scope="module")
def contract() -> Contract:
    return Contract(json.loads(gzip.decompress(SPEC_PATH.read_bytes())))


@pytest.fixture
async def api(sandbox: SandboxProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sandbox.api_url) as client:
        yield client


async def test_bot_routes_match_discords_openapi(
    sandbox: SandboxProcess,
    sandbox_control: SandboxControl,
    api: httpx.AsyncClient,
    contract: Contract,
) -> None:
    app = await sandbox_control.create_application(
        "Contract Bot", privileged_intents=["GUILD_MEMBERS", "MESSAGE_CONTENT"]
    )
    person = await sandbox_control.create_user("contract-user")
    guild = await sandbox_control.create_guild("Contract guild", members=[person.id])
    await sandbox_control.install(guild.guild_id, app.application_id)
    auth = {"Authorization": f"Bot {app.token}"}
    channel = guild.channel_ids[0]
    app_id, guild_id = app.application_id, guild.guild_id

    owner = {"user_id": person.id}  # the guild's first member owns it

    async def call(method: str, template: str, body: Any = None, **params: str) -> Any:
        values = {
            "application_id": app_id,
            "guild_id": guild_id,
            "channel_id": channel,
            "user_id": person.id,
        }
        path = template.format(**{**values, **params})
        response = await api.request(method, path, json=body, headers=auth)
        return contract.check(method, template, response)

    await call("GET", "/users/@me")
    await call("PATCH", "/users/@me", {"username": "Contract Bot 2"})
    await call("GET", "/users/{user_id}")
    await call("GET", "/users/@me/guilds")
    await call("GET", "/gateway")
    await call("GET", "/gateway/bot")
    await call("GET", "/oauth2/applications/@me")
    await call("GET", "/applications/@me")

    command = {
        "name": "roll",
        "description": "Roll dice",
        "options": [
            {
                "type": 4,
                "name": "sides",
                "description": "How many sides",
                "required": True,
                "min_value": 2,
            },
            {
                "type": 3,
                "name": "label",
                "description": "A label",
                "choices": [{"name": "a", "value": "a"}],
            },
            {"type": 5, "name": "secret", "description": "Only you see it"},
        ],
    }
    for base in (
        "/applications/{application_id}",
        "/applications/{application_id}/guilds/{guild_id}",
    ):
        [created] = await call("PUT", f"{base}/commands", [command])
        await call("GET", f"{base}/commands")
        await call("POST", f"{base}/commands", {"name": "Inspect", "type": 2, "description": ""})
        await call("GET", f"{base}/commands/{{command_id}}", command_id=created["id"])
        await call(
            "PATCH",
            f"{base}/commands/{{command_id}}",
            {"description": "Roll"},
            command_id=created["id"],
        )
        await call("DELETE", f"{base}/commands/{{command_id}}", command_id=created["id"])
    await call("GET", "/applications/{application_id}/guilds/{guild_id}/commands/permissions")

    await call("GET", "/channels/{channel_id}")
    message = await call(
        "POST", "/channels/{channel_id}/messages", {"content": "hello", "embeds": [{"title": "t"}]}
    )
    await call("GET", "/channels/{channel_id}/messages")
    await call("GET", "/channels/{channel_id}/messages/{message_id}", message_id=message["id"])
    await call(
        "PATCH",
        "/channels/{channel_id}/messages/{message_id}",
        {"content": "edited"},
        message_id=message["id"],
    )
    await call("GET", "/guilds/{guild_id}")
    await call("GET", "/guilds/{guild_id}/channels")
    await call("GET", "/guilds/{guild_id}/roles")
    await call("GET", "/guilds/{guild_id}/roles/{role_id}", role_id=guild_id)
    await call("GET", "/guilds/{guild_id}/members")
    await call("GET", "/guilds/{guild_id}/members/search")
    await call("GET", "/guilds/{guild_id}/members/{user_id}")

    # Members, roles, DMs and reactions (issue #18's moderation routes), on a member who
    # does not own the guild (the owner is beyond any bot's reach: 403).
    joined = await sandbox_control.join(guild_id, username="contract-joiner")
    member = {"user_id": joined["user_id"]}
    role = await call("POST", "/guilds/{guild_id}/roles", {"name": "Contract role"})
    member_role = "/guilds/{guild_id}/members/{user_id}/roles/{role_id}"
    await call("PUT", member_role, role_id=role["id"], **member)
    await call("DELETE", member_role, role_id=role["id"], **member)
    await call("PUT", member_role, role_id="1", **member)  # 404 Unknown Role
    edited = await call(
        "PATCH",
        "/guilds/{guild_id}/members/{user_id}",
        {"nick": "Contract nick", "communication_disabled_until": None},
        **member,
    )
    assert edited["nick"] == "Contract nick"
    await call("PATCH", "/guilds/{guild_id}/members/{user_id}", {"nick": "x"}, **owner)  # 403
    await call("PATCH", "/guilds/{guild_id}/members/{user_id}", {"nick": "x" * 40}, **member)
    dm = await call("POST", "/users/@me/channels", {"recipient_id": joined["user_id"]})
    await call("GET", "/channels/{channel_id}", channel_id=dm["id"])
    await call("POST", "/channels/{channel_id}/messages", {"content": "hi"}, channel_id=dm["id"])
    reaction = "/channels/{channel_id}/messages/{message_id}/reactions/{emoji_name}/@me"
    thumbs = {"message_id": message["id"], "emoji_name": "%F0%9F%91%8D"}
    assert await call("PUT", reaction, **thumbs) is None
    reacted = await call("GET", "/channels/{channel_id}/messages/{message_id}", **thumbs)
    assert [(r["emoji"]["name"], r["me"]) for r in reacted["reactions"]] == [("👍", True)]
    await call("PUT", reaction, message_id=message["id"], emoji_name="nope")  # 400 Unknown Emoji
    assert await call("DELETE", reaction, **thumbs) is None
    await call("DELETE", "/channels/{channel_id}/messages/{message_id}", **thumbs)
    await call("DELETE", "/channels/{channel_id}/messages/{message_id}", **thumbs)  # 404
    await call("DELETE", "/guilds/{guild_id}/members/{user_id}", **member)
    await call("DELETE", "/guilds/{guild_id}/members/{user_id}", **member)  # 404 Unknown Member
    expected = "200 204 204 404 200 403 400 200 200 200 204 200 400 204 204 404 204 404"
    assert [c.rsplit(" ", 1)[1] for c in contract.checked[-18:]] == expected.split()

    # Errors: Discord's error body, for 400, 401, 403 and 404 alike.
    await call("POST", "/channels/{channel_id}/messages", {"content": ""})
    await call(
        "PUT", "/applications/{application_id}/commands", [{"name": "Bad Name", "description": "x"}]
    )
    await call("GET", "/channels/{channel_id}", channel_id="1")
    response = await api.get("/users/@me", headers={"Authorization": "Bot nope"})
    assert response.status_code == 401
    contract.check("GET", "/users/@me", response)


async def test_interaction_routes_match_discords_openapi(
    sandbox: SandboxProcess,
    sandbox_control: SandboxControl,
    api: httpx.AsyncClient,
    contract: Contract,
) -> None:
    app = await sandbox_control.create_application("Contract Interactions")
    person = await sandbox_control.create_user("contract-clicker")
    guild = await sandbox_control.create_guild("Contract guild 2", members=[person.id])
    await sandbox_control.install(guild.guild_id, app.application_id)
    auth = {"Authorization": f"Bot {app.token}"}
    await api.put(
        f"/applications/{app.application_id}/commands",
        json=[{"name": "ping", "description": "Ping"}, {"name": "wait", "description": "Slow"}],
        headers=auth,
    )
    async with aiohttp.ClientSession() as http:
        gateway = GatewayClient(http, sandbox.gateway_url)
        await gateway.connect()
        await gateway.identify(app.token)
        await gateway.wait_for("READY")

        quick = await sandbox_control.inject_interaction(
            app.application_id, guild.guild_id, person.id, "ping"
        )
        event = await gateway.wait_for("INTERACTION_CREATE")
        token = event["d"]["token"]
        template = "/interactions/{interaction_id}/{interaction_token}/callback"
        response = await api.post(
            f"/interactions/{quick}/{token}/callback",
            params={"with_response": "true"},
            json={"type": 4, "data": {"content": "pong", "flags": 64}},
        )
        body = contract.check("POST", template, response)
        assert body["resource"]["message"]["content"] == "pong"
        assert body["interaction"]["response_message_ephemeral"] is True
        again = await api.post(
            f"/interactions/{quick}/{token}/callback", json={"type": 4, "data": {"content": "x"}}
        )
        assert again.json()["code"] == 40060
        contract.check("POST", template, again)

        slow = await sandbox_control.inject_interaction(
            app.application_id, guild.guild_id, person.id, "wait"
        )
        event = await gateway.wait_for("INTERACTION_CREATE")
        token = event["d"]["token"]
        deferred = await api.post(f"/interactions/{slow}/{token}/callback", json={"type": 5})
        assert deferred.status_code == 204
        contract.check("POST", template, deferred)
        hook = f"/webhooks/{app.application_id}/{token}"
        original = "/webhooks/{webhook_id}/{webhook_token}/messages/@original"
        contract.check("GET", original, await api.get(f"{hook}/messages/@original"))
        contract.check(
            "PATCH",
            original,
            await api.patch(f"{hook}/messages/@original", json={"content": "done"}),
        )
        followup = contract.check(
            "POST",
            "/webhooks/{webhook_id}/{webhook_token}",
            await api.post(hook, params={"wait": "true"}, json={"content": "more"}),
        )
        by_id = "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}"
        contract.check("GET", by_id, await api.get(f"{hook}/messages/{followup['id']}"))
        contract.check(
            "PATCH",
            by_id,
            await api.patch(f"{hook}/messages/{followup['id']}", json={"content": "more!"}),
        )
        await gateway.close()
    answer = await sandbox_control.wait_for_answer(slow)
    assert answer["content"] == "done"


async def test_rate_limited_answer_matches_discords_openapi(
    sandbox: SandboxProcess,
    sandbox_control: SandboxControl,
    api: httpx.AsyncClient,
    contract: Contract,
) -> None:
    app = await sandbox_control.create_application("Contract Limits")
    auth = {"Authorization": f"Bot {app.token}"}
    await sandbox_control.configure(default_route_limit={"limit": 2, "window_s": 5})
    try:
        statuses = [(await api.get("/gateway/bot", headers=auth)) for _ in range(3)]
    finally:
        await sandbox_control.configure(default_route_limit={"limit": 50, "window_s": 1})
    assert [r.status_code for r in statuses] == [200, 200, 429]
    body = contract.check("GET", "/gateway/bot", statuses[2])
    assert body["global"] is False


async def test_global_rate_limit_answer(
    sandbox: SandboxProcess,
    sandbox_control: SandboxControl,
    api: httpx.AsyncClient,
    contract: Contract,
) -> None:
    app = await sandbox_control.create_application("Contract Global")
    auth = {"Authorization": f"Bot {app.token}"}
    await sandbox_control.configure(global_limit={"limit": 2, "window_s": 5})
    try:
        # Different routes, one bot: only the per-bot global limit can stop the third call.
        answers = [
            await api.get("/users/@me", headers=auth),
            await api.get("/gateway/bot", headers=auth),
            await api.get("/applications/@me", headers=auth),
        ]
    finally:
        await sandbox_control.configure(global_limit={"limit": 50, "window_s": 1})
    assert [r.status_code for r in answers] == [200, 200, 429]
    limited = answers[2]
    body = contract.check("GET", "/applications/@me", limited)
    assert body["global"] is True
    assert 0 < body["retry_after"] <= 5
    assert limited.headers["X-RateLimit-Global"] == "true"
    assert limited.headers["X-RateLimit-Scope"] == "global"
    assert limited.headers["Via"]
