"""A restart right after a start waits for Discord's next session-start slot: the status
says so (issue #16: Restart sat at a bare "Starting" for ~4 s with no reason)."""

from __future__ import annotations

from proto import bots as P
from tests.integration.fleet.conftest import Bots, Replicas


async def test_a_restart_waiting_for_the_identify_slot_says_why(
    replicas: Replicas, bots: Bots
) -> None:
    replicas.start(1, BOT_IDENTIFY_WINDOW_S="3")
    _, bot = await bots.add()
    await bots.wait_state(bot.id, "online")

    await bots.call(P.RESTART_BOT, P.BotRef(bot_id=bot.id))

    waiting = await bots.wait_state(bot.id, "starting", timeout=3, reason="identify_wait")
    assert waiting.message is not None
    assert "Discord's next session start" in waiting.message
    assert "one start every 3 s" in waiting.message
    online = await bots.wait_state(bot.id, "online", timeout=10)
    assert online.reason is None
