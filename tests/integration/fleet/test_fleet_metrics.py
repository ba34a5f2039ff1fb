"""The fleet's Prometheus metrics, read from a real bot-service replica's `/metrics` over HTTP
while real discord.py clients talk to the sandbox."""

from __future__ import annotations

import json
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from proto import bots as P
from tests.fixtures.sandbox import SandboxControl
from tests.integration.fleet.conftest import Bots, Replica, Replicas, wait_until

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(replica: Replica) -> tuple[str, Samples]:
    assert replica.proc.url, "bot-service announced no HTTP URL"
    async with httpx.AsyncClient(timeout=5) as http:
        response = await http.get(f"{replica.proc.url}/metrics")
    assert response.status_code == 200
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return response.text, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_units_heartbeats_and_errors_on_metrics(
    replicas: Replicas, bots: Bots, sandbox_control: SandboxControl
) -> None:
    (replica,) = replicas.start(1)
    _, before = await scrape(replica)
    assert value(before, "botcenter_bot_shards_owned") == 0
    assert value(before, "botcenter_bot_units", state="online", reason="") == 0

    app, bot = await bots.add()
    await bots.wait_state(bot.id, "online")

    async def online() -> Samples | None:
        _, now = await scrape(replica)
        good = (
            value(now, "botcenter_bot_units", state="online", reason="") == 1
            and value(now, "botcenter_discord_heartbeat_seconds_count") >= 1
        )
        return now if good else None

    now = await wait_until(online, timeout=10, what="one online unit and a heartbeat sample")
    assert value(now, "botcenter_bot_shards_owned") == 1
    assert value(now, "botcenter_bot_identify_total") == 1
    assert value(now, "botcenter_discord_identify_wait_seconds_count") == 1
    # Loopback: the ACK comes back well within the first bucket that matters.
    assert value(now, "botcenter_discord_heartbeat_seconds_bucket", le="0.1") >= 1

    # Discord asks the session to reconnect: the unit RESUMEs (no new IDENTIFY).
    (session,) = await sandbox_control.wait_for_sessions(app.application_id, 1)
    await sandbox_control.reconnect_session(session["session_id"])

    async def resumed() -> Samples | None:
        _, now = await scrape(replica)
        done = value(now, "botcenter_discord_reconnects_total", kind="resume") == 1
        back = value(now, "botcenter_bot_units", state="online", reason="") == 1
        return now if done and back else None

    now = await wait_until(resumed, timeout=15, what="a counted resume")
    assert value(now, "botcenter_bot_identify_total") == 1

    # A bot whose token was reset on Discord's side: error/invalid_token, not a lease.
    bad_app, bad = await bots.add(start=False, name="Bad Token Bot")
    await sandbox_control.reset_token(bad_app.application_id)
    await bots.call(P.START_BOT, P.BotRef(bot_id=bad.id))
    await bots.wait_state(bad.id, "error", reason="invalid_token")

    async def diagnosed() -> Samples | None:
        _, now = await scrape(replica)
        hit = value(now, "botcenter_bot_units", state="error", reason="invalid_token") == 1
        return now if hit else None

    now = await wait_until(diagnosed, timeout=10, what="error/invalid_token on /metrics")
    assert value(now, "botcenter_bot_units", state="online", reason="") == 1
    assert value(now, "botcenter_bot_shards_owned") == 1

    # Stopped bots leave the gauges; no series names a bot.
    await bots.call(P.STOP_BOT, P.BotRef(bot_id=bot.id))
    await bots.call(P.STOP_BOT, P.BotRef(bot_id=bad.id))

    async def empty() -> Samples | None:
        _, now = await scrape(replica)
        units = sum(v for (name, _), v in now.items() if name == "botcenter_bot_units")
        return now if units == 0 and value(now, "botcenter_bot_shards_owned") == 0 else None

    await wait_until(empty, timeout=10, what="no units after stop")
    text, _ = await scrape(replica)
    for bot_id in (bot.id, bad.id):
        assert str(bot_id) not in text


async def test_discord_429s_are_counted_and_told_to_the_owner(
    replicas: Replicas, bots: Bots, sandbox_control: SandboxControl, nc: Any
) -> None:
    (replica,) = replicas.start(1)
    logs: list[dict[str, Any]] = []

    async def on_log(msg: Any) -> None:
        logs.append(json.loads(msg.data))

    sub = await nc.subscribe(f"evt.log.{bots.user}.*.warning", cb=on_log)
    original = (await sandbox_control.config())["global_limit"]
    # One REST request per second per bot: starting a bot makes several (login, app info,
    # GET /gateway/bot), so discord.py meets global 429s and waits them out.
    _, bot = await bots.add(start=False)
    await sandbox_control.configure(global_limit={"limit": 1, "window_s": 1.0})
    try:
        await bots.call(P.START_BOT, P.BotRef(bot_id=bot.id))
        await bots.wait_state(bot.id, "online", timeout=30)
    finally:
        await sandbox_control.configure(global_limit=original)

    async def counted() -> Samples | None:
        _, now = await scrape(replica)
        return now if value(now, "botcenter_discord_rate_limited_total", scope="global") else None

    now = await wait_until(counted, timeout=10, what="a counted global 429")
    assert value(now, "botcenter_discord_rate_limited_total", scope="bucket") == 0

    def told() -> list[dict[str, Any]]:
        return [e for e in logs if e.get("source") == "discord.ratelimit"]

    events = await wait_until(told, timeout=10, what="the rate-limit log event")
    await sub.unsubscribe()
    assert len(events) == 1  # one report per shard per minute, not one per 429
    assert events[0]["bot_id"] == str(bot.id)
    assert events[0]["details"]["scope"] == "global"
    assert "Discord rate limited" in events[0]["message"]
    assert events[0]["details"]["route"] in {
        "/users/@me",
        "/oauth2/applications/@me",
        "/gateway/bot",
    }


def test_rate_limit_logs_name_routes_without_ids_or_tokens() -> None:
    # What a bot's owner reads in its log must never carry an interaction or webhook token.
    from bot_service.fleet.metrics import route_template

    token = "aW50ZXJhY3Rpb246MTIzNDU2Nzg5MDEyMzQ1Njc4OTpGYWtlVG9rZW4"
    assert (
        route_template(f"/api/v10/interactions/112233445566778899/{token}/callback")
        == "/interactions/:id/:token/callback"
    )
    assert route_template(f"/api/v10/webhooks/42/{token}/messages/@original") == (
        "/webhooks/:id/:token/messages/@original"
    )
    assert route_template("/api/v10/channels/123/messages") == "/channels/:id/messages"


async def test_handoff_is_a_resume_on_the_new_owner(replicas: Replicas, bots: Bots) -> None:
    pair = replicas.start(2)
    _, bot = await bots.add()
    await bots.wait_state(bot.id, "online")

    async def holder() -> Replica | None:
        owned = [(r, value((await scrape(r))[1], "botcenter_bot_shards_owned")) for r in pair]
        held = [r for r, n in owned if n == 1]
        return held[0] if len(held) == 1 and sum(n for _, n in owned) == 1 else None

    old = await wait_until(holder, timeout=10, what="one replica holding the unit")
    new = next(r for r in pair if r is not old)
    old.terminate()  # SIGTERM: hand-off with the session

    async def taken_over() -> Samples | None:
        _, now = await scrape(new)
        moved = value(now, "botcenter_discord_reconnects_total", kind="handoff_resume") == 1
        back = value(now, "botcenter_bot_units", state="online", reason="") == 1
        return now if moved and back else None

    now = await wait_until(taken_over, timeout=15, what="the unit resumed on the other replica")
    assert value(now, "botcenter_bot_shards_owned") == 1
    assert value(now, "botcenter_bot_identify_total") == 0  # RESUMEd, no new session
    assert value(now, "botcenter_discord_identify_wait_seconds_count") == 0
    old.wait(30)
