"""Execution rules over NATS with the real command-service: the enabled flag, per-guild
cooldowns, required role ids, and the hot path reading no database once warm (the
service's `botcenter_command_setup_loads_total` counter stays put until a change)."""

from __future__ import annotations

import re
from typing import Any

import httpx

from proto import commands as C

GUILD = "222222222222222222"
OTHER_GUILD = "333333333333333333"
ROLE = "444444444444444444"


def _cmd(**data: Any) -> C.CommandIn:
    base: dict[str, Any] = {"description": "d", "response": {"type": "template", "content": "ok"}}
    return C.CommandIn.model_validate({**base, **data})


async def _run(call, bot, name: str, user: str = "1", guild: str = GUILD, **inv: Any) -> Any:
    invocation = C.Invocation(
        kind="slash", name=name, user=C.Invoker(id=user, **inv), guild_id=guild
    )
    return await call(
        C.EXECUTE, C.ExecuteCommand(bot_id=bot.bot_id, invocation=invocation), bot.owner
    )


async def _loads(url: str) -> float:
    async with httpx.AsyncClient(base_url=url) as http:
        text = (await http.get("/metrics")).text
    match = re.search(r"^botcenter_command_setup_loads_total (\S+)$", text, re.M)
    assert match, "the setup-loads counter is exported"
    return float(match.group(1))


async def test_enabled_guild_cooldown_roles_and_warm_cache(
    call, owned_bot, command_service
) -> None:
    bot = owned_bot
    off = await call(
        C.CREATE,
        C.CreateCommand(bot_id=bot.bot_id, command=_cmd(name="off", enabled=False)),
        bot.owner,
    )
    for spec in (
        _cmd(name="shared", cooldown_guild_s=600),
        _cmd(name="staff", required_role_ids=[ROLE]),
    ):
        await call(C.CREATE, C.CreateCommand(bot_id=bot.bot_id, command=spec), bot.owner)

    disabled = await _run(call, bot, "off")
    assert disabled.outcome == "disabled"
    assert disabled.ephemeral
    assert "disabled" in disabled.content

    # Per-guild cooldown: another member of the same guild waits, another guild does not.
    assert (await _run(call, bot, "shared", user="1")).outcome == "ok"
    cooled = await _run(call, bot, "shared", user="2")
    assert cooled.outcome == "cooldown"
    assert "again in" in cooled.content
    assert (await _run(call, bot, "shared", user="2", guild=OTHER_GUILD)).outcome == "ok"

    # Required role ids: checked before any work.
    assert (await _run(call, bot, "staff", roles=["5"])).outcome == "forbidden"
    assert (await _run(call, bot, "staff", roles=["5", ROLE])).outcome == "ok"

    # Warm: many invocations, no database read.
    before = await _loads(command_service.url)
    for i in range(20):
        assert (await _run(call, bot, "staff", user=str(10 + i), roles=[ROLE])).outcome == "ok"
    assert await _loads(command_service.url) == before

    # A change invalidates the cache: the next invocation reads once and sees it.
    await call(
        C.UPDATE,
        C.UpdateCommand(bot_id=bot.bot_id, command_id=off.id, patch=C.CommandPatch(enabled=True)),
        bot.owner,
    )
    assert (await _run(call, bot, "off")).outcome == "ok"
    assert (await _run(call, bot, "off")).outcome == "ok"
    assert await _loads(command_service.url) == before + 1
