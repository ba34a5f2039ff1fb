"""Applying an uploaded avatar to a bot, end to end: gateway -> storage-service ->
bot-service -> the discord-sandbox, which then shows the new avatar on the bot user."""

from __future__ import annotations

from typing import Any

import httpx

from proto.storage import AvatarChanged
from services.bus.events import STREAM
from tests.fixtures import storage as corpus
from tests.fixtures.auth import auth_env, sign_in
from tests.fixtures.infra import ServiceStarter
from tests.fixtures.sandbox import SandboxControl, SandboxProcess

BOT_YAML = b"""
prefix: "!"
commands:
  - name: ping
    description: Answers pong
    response: {type: template, content: pong}
"""


async def test_avatar_is_applied_on_discord_and_the_rate_limit_is_a_clear_429(
    start_service: ServiceStarter,
    sandbox: SandboxProcess,
    sandbox_control: SandboxControl,
    tmp_path: object,
    nc: Any,
) -> None:
    env = auth_env(sandbox)
    start_service("auth", **env)
    start_service("bot", **env)
    start_service("storage", STORAGE_FS_ROOT=f"{tmp_path}/objects")
    gateway = start_service("gateway", GATEWAY_HTTP_PORT="0", **env)
    assert gateway.url
    alice = await sign_in(gateway.url, sandbox)
    bob = await sign_in(gateway.url, sandbox)
    app = await sandbox_control.create_application("Avatar Bot")

    async with httpx.AsyncClient(base_url=gateway.url, headers=alice.headers, timeout=30) as api:
        bot = (await api.post("/v1/bots", json={"token": app.token})).json()
        assert await sandbox_control.user_avatar(app.bot_user_id) is None

        async def upload(color: tuple[int, int, int]) -> str:
            created = await api.post(
                "/v1/files?kind=avatar",
                files={"file": ("a.png", corpus.png(400, 300, color), "image/png")},
            )
            assert created.status_code == 201, created.text
            return str(created.json()["id"])

        first, second, third = (
            await upload((255, 0, 0)),
            await upload((0, 255, 0)),
            await upload((0, 0, 255)),
        )
        # Another user can neither use alice's file nor touch alice's bot.
        theirs = await api.post(
            f"/v1/bots/{bot['id']}/avatar", json={"file_id": first}, headers=bob.headers
        )
        assert theirs.status_code == 404

        applied = await api.post(f"/v1/bots/{bot['id']}/avatar", json={"file_id": first})
        assert applied.status_code == 200, applied.text
        assert applied.json()["avatar_hash"]
        sent = (await api.get(f"/v1/files/{first}/content", params={"variant": "1024"})).content
        assert await sandbox_control.user_avatar(app.bot_user_id) == sent
        event = AvatarChanged.model_validate_json(
            (
                await nc.jetstream().get_last_msg(
                    STREAM, f"evt.storage.{alice.user_id}.{bot['id']}.avatar_applied"
                )
            ).data
        )
        assert str(event.file_id) == first
        assert event.avatar_hash == applied.json()["avatar_hash"]
        assert applied.json()["unchanged"] is False

        # The same image again is a no-op: it succeeds (twice) without a PATCH reaching
        # Discord, so the two changes Discord allows per 10 minutes are both still there.
        for _ in range(2):
            same = await api.post(f"/v1/bots/{bot['id']}/avatar", json={"file_id": first})
            assert same.status_code == 200, same.text
            assert same.json() == {**applied.json(), "unchanged": True}
        assert (
            await api.post(f"/v1/bots/{bot['id']}/avatar", json={"file_id": second})
        ).status_code == 200
        # The sandbox, like Discord, allows two avatar changes per 10 minutes.
        limited = await api.post(f"/v1/bots/{bot['id']}/avatar", json={"file_id": third})
        assert limited.status_code == 429, limited.text
        error = limited.json()["error"]
        assert "avatar" in error["message"]
        assert "try again in" in error["message"]
        assert int(limited.headers["retry-after"]) >= 1
        assert error["details"]["retry_after"] == int(limited.headers["retry-after"])
        second_sent = (await api.get(f"/v1/files/{second}/content")).content
        assert await sandbox_control.user_avatar(app.bot_user_id) == second_sent
        # The first image is no longer what Discord shows: applying it is a real change.
        back = await api.post(f"/v1/bots/{bot['id']}/avatar", json={"file_id": first})
        assert back.status_code == 429, back.text

        config = await api.post(
            "/v1/files?kind=config",
            files={"file": ("bot.yaml", BOT_YAML, "application/yaml")},
        )
        assert config.status_code == 201, config.text
        not_avatar = await api.post(
            f"/v1/bots/{bot['id']}/avatar", json={"file_id": config.json()["id"]}
        )
        assert not_avatar.status_code == 422

        # The seam with command-service: it reads the uploaded file through
        # rpc.storage.config.read to import it into the bot.
        start_service("command", **env)
        path = f"/v1/bots/{bot['id']}/import"
        dry = await api.post(path, json={"file_id": config.json()["id"], "dry_run": True})
        assert dry.status_code == 200, dry.text
        assert dry.json()["dry_run"] is True
        assert sum(dry.json()["created"].values()) == 1
        done = await api.post(path, json={"file_id": config.json()["id"], "dry_run": False})
        assert done.json()["created"] == dry.json()["created"]
        again = await api.post(path, json={"file_id": config.json()["id"], "dry_run": False})
        assert sum(again.json()["created"].values()) == 0
        image_import = await api.post(path, json={"file_id": first, "dry_run": True})
        assert image_import.status_code == 422
