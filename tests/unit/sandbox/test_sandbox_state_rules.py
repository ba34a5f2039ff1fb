"""The in-memory world: snowflakes and shards, privileged intents, session-start budgets,
run-time settings and the JSON snapshot."""

from __future__ import annotations

import time

import pytest

from discord_sandbox.config import Tunables
from discord_sandbox.oauth_store import OAuthStore
from discord_sandbox.snapshot import dump, load
from discord_sandbox.snowflake import (
    DISCORD_EPOCH_MS,
    SnowflakeGenerator,
    shard_of,
    snowflake_time_ms,
)
from discord_sandbox.state import SandboxState, normalize_privileged


def test_snowflakes_are_unique_monotonic_and_carry_time() -> None:
    generator = SnowflakeGenerator()
    ids = [generator.next() for _ in range(10_000)]
    assert ids == sorted(set(ids))
    assert abs(snowflake_time_ms(ids[0]) - time.time() * 1000) < 5_000
    assert snowflake_time_ms(ids[0]) > DISCORD_EPOCH_MS


def test_generated_guilds_spread_over_shards() -> None:
    state = SandboxState()
    app = state.create_application("Spread Bot")
    state.set_guild_count(app, 8)
    shards = [shard_of(g, 4) for g in app.guild_ids]
    assert sorted(shards) == [0, 0, 1, 1, 2, 2, 3, 3]
    assert {g.id for g in state.app_guilds(app, 1, 4)} == {
        g for g in app.guild_ids if shard_of(g, 4) == 1
    }


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (["MESSAGE_CONTENT"], {"MESSAGE_CONTENT"}),
        (["members", "presences"], {"GUILD_MEMBERS", "GUILD_PRESENCES"}),
        ((1 << 15) | (1 << 1), {"MESSAGE_CONTENT", "GUILD_MEMBERS"}),
        (None, set()),
    ],
)
def test_privileged_intents_accept_names_aliases_and_bits(
    given: object, expected: set[str]
) -> None:
    assert normalize_privileged(given) == expected


def test_unknown_privileged_intent_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown privileged intent"):
        normalize_privileged(["GUILDS"])


def test_session_start_budget_resets_after_its_window() -> None:
    state = SandboxState()
    app = state.create_application("Budget Bot", session_start_total=2)
    app.session_start_remaining = 0
    app.refresh_session_budget(reset_after_s=60)
    assert app.session_start_remaining == 0
    assert 59_000 < app.session_reset_after_ms(60) <= 60_000
    app.session_start_reset_at = time.time() - 1
    app.refresh_session_budget(reset_after_s=60)
    assert app.session_start_remaining == 2


def test_tunables_update_validates() -> None:
    tunables = Tunables()
    tunables.update({"heartbeat_interval_ms": 500, "message_create_limit": {"limit": 2}})
    assert tunables.heartbeat_interval_ms == 500
    assert tunables.message_create_limit.limit == 2
    assert tunables.message_create_limit.window_s == 5.0
    for bad in (
        {"nope": 1},
        {"identify_limit_mode": "sometimes"},
        {"global_limit": {"limit": 0}},
        {"identify_window_s": -1},
    ):
        with pytest.raises(ValueError):
            tunables.update(bad)


def test_snapshot_round_trip_keeps_entities_and_tokens() -> None:
    state, oauth = SandboxState(), OAuthStore()
    app = state.create_application("Kept Bot", privileged_intents={"MESSAGE_CONTENT"})
    person = state.create_user("kept", "kept@example.test")
    guild = state.create_guild("Kept guild", [person.id])
    state.install(guild, app)
    state.users[app.bot_user_id].set_avatar(b"\x89PNG\r\n\x1a\nrest", "image/png")
    oauth.register(["http://127.0.0.1/cb"], "kept-client", "s3cret")

    restored_state, restored_oauth = SandboxState(), OAuthStore()
    load(dump(state, oauth), restored_state, restored_oauth)
    restored = restored_state.app_by_token(app.token)
    assert restored is not None
    assert restored.privileged_intents == {"MESSAGE_CONTENT"}
    assert restored.guild_ids == [guild.id]
    assert restored_state.users[app.bot_user_id].avatar_bytes == b"\x89PNG\r\n\x1a\nrest"
    assert restored_state.guilds[guild.id].members.keys() == guild.members.keys()
    assert restored_oauth.clients["kept-client"].client_secret == "s3cret"
    assert restored_oauth.key_id == oauth.key_id
    assert restored_state.snowflakes.next() > max(restored_state.users)


def test_spread_guild_ids_stay_round_robin_when_the_clock_moves_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from discord_sandbox import snowflake as snowflake_module

    clock = iter([1_800_000_000.0 + step * 0.008 for step in range(8)])
    monkeypatch.setattr(snowflake_module.time, "time", lambda: next(clock))
    generator = snowflake_module.SnowflakeGenerator()
    ids = [generator.next(spread=True) for _ in range(8)]
    assert ids == sorted(set(ids))
    assert sorted(shard_of(g, 4) for g in ids) == [0, 0, 1, 1, 2, 2, 3, 3]
