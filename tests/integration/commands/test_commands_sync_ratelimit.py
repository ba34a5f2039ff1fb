"""Command sync meets Discord's rate limit: the sandbox allows one command write per few
seconds, and another tool using the same bot token has just spent it (discord.py alone
never gets this 429: it waits by itself once a response says the bucket is empty). The
sync after a change gets a real 429, discord.py waits the `retry_after` it was told and
the overwrite goes through: Discord ends up with the bot's commands, reported in sync."""

from __future__ import annotations

import uuid

import httpx
from pydantic import SecretStr

from proto import bots as B
from proto import commands as C
from tests.fixtures.infra import apoll


def _cmd(name: str) -> C.CommandIn:
    return C.CommandIn.model_validate(
        {"name": name, "description": "d", "response": {"type": "template", "content": "ok"}}
    )


async def test_a_rate_limited_sync_waits_and_goes_through(
    call, sandbox, sandbox_control, command_service
) -> None:
    app = await sandbox_control.create_application(f"Limited {uuid.uuid4().hex[:6]}")
    owner = uuid.uuid4()
    bot = await call(B.CREATE_BOT, B.CreateBot(token=SecretStr(app.token)), owner)
    await call(C.CREATE, C.CreateCommand(bot_id=bot.id, command=_cmd("first")), owner)
    before = (await sandbox_control.config())["command_write_limit"]
    await sandbox_control.configure(command_write_limit={"limit": 1, "window_s": 4.0})
    try:

        async def in_discord() -> set[str]:
            async with httpx.AsyncClient(base_url=sandbox.api_url) as http:
                r = await http.get(
                    f"/applications/{app.application_id}/commands",
                    headers={"Authorization": f"Bot {app.token}"},
                )
            return {c["name"] for c in r.json()} if r.status_code == 200 else set()

        async def spend_the_bucket() -> bool:
            # What another tool with this token would do: overwrite the commands (with the
            # ones already there), taking the bucket's one write.
            async with httpx.AsyncClient(base_url=sandbox.api_url) as http:
                r = await http.put(
                    f"/applications/{app.application_id}/commands",
                    headers={"Authorization": f"Bot {app.token}"},
                    json=[{"name": "first", "description": "d", "type": 1}],
                )
            return r.status_code == 200

        async def limited() -> int:
            per_app = (await sandbox_control.stats())["per_application"]
            return int(per_app.get(app.application_id, {}).get("rate_limited", 0))

        await call(B.START_BOT, B.BotRef(bot_id=bot.id), owner)
        await apoll(lambda: _has(in_discord, {"first"}), timeout_s=30, what="first sync")
        await apoll(spend_the_bucket, timeout_s=20, interval_s=0.5, what="the bucket's write")
        refused_before = await limited()  # (the tool's own tries may have been refused)
        # The bucket's one write is spent: this change's overwrite is answered 429.
        await call(C.CREATE, C.CreateCommand(bot_id=bot.id, command=_cmd("second")), owner)
        await apoll(
            lambda: _above(limited, refused_before), timeout_s=20, what="a 429 for the sync"
        )
        await apoll(lambda: _has(in_discord, {"first", "second"}), timeout_s=30, what="second sync")

        async def reported() -> bool:
            status = await call(C.SYNC_STATUS, C.BotCommandRef(bot_id=bot.id), owner)
            return bool(status.in_sync and status.ok)

        await apoll(reported, timeout_s=20, what="sync reported in sync")
    finally:
        await sandbox_control.configure(command_write_limit=before)
        await call(B.STOP_BOT, B.BotRef(bot_id=bot.id), owner)


async def _has(read, names: set[str]) -> bool:  # type: ignore[no-untyped-def]
    return await read() == names


async def _above(read, floor: int) -> bool:  # type: ignore[no-untyped-def]
    return await read() > floor
