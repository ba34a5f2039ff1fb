"""`rpc.bot.runtime.act` without Discord: params, Discord JSON, refusals in words, shard
routing, and once-per-key handling over a fake KV."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from bot_service.fleet.actions import (
    PENDING_STALE_S,
    ActionKeys,
    Actions,
    SendParams,
    kv_key,
    message_json,
    nonce_of,
    parse_params,
    reaction_of,
    refusal,
    shard_of,
    timeout_until,
    with_guild,
)
from proto.automations import ActResult, DiscordAct
from proto.catalog import REGISTRY
from proto.errors import ErrorCode
from services.errors import RpcError

GUILD = "1100000000000000000"
CHANNEL = "1100000000000000001"
USER = "1100000000000000002"
ROLE = "1100000000000000003"


def act(action: str = "send_message", key: str = "run1:0", **params: Any) -> DiscordAct:
    return DiscordAct(
        bot_id=uuid.UUID(int=7),
        idempotency_key=key,
        guild_id=GUILD,
        action=action,  # type: ignore[arg-type]
        params=params,
    )


def test_a_message_becomes_discord_json_with_a_nonce_discord_enforces() -> None:
    a = act(
        channel_id=CHANNEL,
        content="hi",
        embeds=[
            {"title": "T", "footer": "f", "color": 255, "fields": [{"name": "n", "value": "v"}]}
        ],
        components=[
            {
                "buttons": [
                    {"label": "Go", "custom_id": "go", "emoji": "<:party:110000000000000000>"},
                    {"label": "Docs", "style": "link", "url": "https://example.com"},
                ]
            }
        ],
    )
    params = parse_params(a)
    assert isinstance(params, SendParams)
    body = message_json(params, nonce_of(a))
    assert body["content"] == "hi"
    assert body["nonce"] == nonce_of(a)
    assert len(body["nonce"]) <= 25
    assert body["enforce_nonce"] is True
    assert body["embeds"] == [
        {
            "type": "rich",
            "title": "T",
            "color": 255,
            "footer": {"text": "f"},
            "fields": [{"name": "n", "value": "v", "inline": False}],
        }
    ]
    assert body["components"] == [
        {
            "type": 1,
            "components": [
                {
                    "type": 2,
                    "style": 1,
                    "label": "Go",
                    "custom_id": "go",
                    "emoji": {"name": "party", "id": "110000000000000000", "animated": False},
                },
                {"type": 2, "style": 5, "label": "Docs", "url": "https://example.com"},
            ],
        }
    ]
    # The same key gives the same nonce; another key another.
    assert nonce_of(act(key="run1:0")) == nonce_of(a) != nonce_of(act(key="run1:1"))


@pytest.mark.parametrize(
    ("action", "params", "guild", "words"),
    [
        ("send_message", {"content": "x"}, GUILD, "params.channel_id: where"),
        (
            "send_message",
            {"channel_id": CHANNEL, "user_id": USER, "content": "x"},
            GUILD,
            "not both",
        ),
        ("send_message", {"channel_id": CHANNEL, "content": " "}, GUILD, "content or an embed"),
        ("add_role", {"user_id": USER}, GUILD, "params.role_id"),
        ("add_role", {"user_id": USER, "role_id": "abc"}, GUILD, "params.role_id"),
        ("add_role", {"user_id": USER, "role_id": ROLE}, None, "guild_id: add_role needs"),
        ("timeout_member", {"user_id": USER, "duration_s": 0}, GUILD, "params.duration_s"),
        ("kick_member", {"user_id": USER, "extra": 1}, GUILD, "params.extra"),
    ],
)
def test_bad_params_are_validation_errors_naming_the_field(
    action: str, params: dict[str, Any], guild: str | None, words: str
) -> None:
    bad = act(action, **params).model_copy(update={"guild_id": guild})
    with pytest.raises(RpcError) as err:
        parse_params(bad)
    assert err.value.code is ErrorCode.VALIDATION
    assert words in str(err.value)


def test_the_guild_may_come_in_the_params_as_the_executor_fills_them() -> None:
    bare = act("kick_member", user_id=USER).model_copy(update={"guild_id": None})
    moved = with_guild(bare.model_copy(update={"params": {"user_id": USER, "guild_id": GUILD}}))
    assert (moved.guild_id, moved.params) == (GUILD, {"user_id": USER})
    assert parse_params(moved)
    same = with_guild(act("kick_member", user_id=USER, guild_id=GUILD))
    assert same.params == {"user_id": USER}
    with pytest.raises(RpcError) as err:
        with_guild(act("kick_member", user_id=USER, guild_id=CHANNEL))
    assert "params.guild_id" in str(err.value)


def test_refusals_say_what_the_bot_could_not_do() -> None:
    role = parse_params(act("add_role", user_id=USER, role_id=ROLE))
    denied = refusal("add_role", 403, 50013, role)
    assert (denied.ok, denied.code) == (False, 50013)
    assert denied.message == (
        "the bot lacks the permission to manage roles in this server "
        "(or the role/member is above the bot's highest role)"
    )
    assert refusal("kick_member", 403, 50013).message is not None
    assert "kick members" in (refusal("kick_member", 403, 50013).message or "")
    assert "above" not in (refusal("send_message", 403, 50013).message or "")
    assert refusal("add_role", 404, 10011, role).message == f"unknown role {ROLE}"
    assert refusal("add_role", 404, 10007, role).message == f"unknown member {USER}"
    assert refusal("delete_message", 404, 10008).message == "unknown message"
    assert refusal("send_message", 404, 10003).message == "unknown channel"
    assert refusal("send_message", 401, 0).message == "Discord rejected the bot token: replace it"
    invalid = refusal("send_message", 400, 50035, None, "Invalid Form Body\nIn embeds.0.url")
    assert (invalid.code, invalid.message) == (
        50035,
        "Discord refused the request: Invalid Form Body\nIn embeds.0.url",
    )


def test_a_guild_goes_to_discords_shard_and_a_dm_to_shard_zero() -> None:
    guild = (5 << 22) | 123
    assert shard_of(str(guild), 4) == 1
    assert shard_of(str(guild), 1) == 0
    assert shard_of(None, 4) == 0


def test_emoji_and_timeout_shapes() -> None:
    assert reaction_of("<:party:110000000000000000>") == "party:110000000000000000"
    assert reaction_of("<a:spin:110000000000000000>") == "spin:110000000000000000"
    assert reaction_of("👍") == "👍"
    now = datetime(2027, 1, 1, tzinfo=UTC)
    assert timeout_until(90, now) == "2027-01-01T00:01:30+00:00"


class FakeKV:
    """Create / get / update-by-revision / put / delete like a NATS KV bucket."""

    def __init__(self) -> None:
        self.data: dict[str, tuple[bytes, int]] = {}
        self.rev = 0

    async def get(self, key: str) -> tuple[bytes, int] | None:
        return self.data.get(key)

    async def create(self, key: str, value: bytes, *, ttl_s: float | None = None) -> int | None:
        if key in self.data:
            return None
        return await self.put(key, value)

    async def update(self, key: str, value: bytes, revision: int) -> int | None:
        if key not in self.data or self.data[key][1] != revision:
            return None
        return await self.put(key, value)

    async def put(self, key: str, value: bytes) -> int:
        self.rev += 1
        self.data[key] = (value, self.rev)
        return self.rev

    async def delete(self, key: str, *, revision: int | None = None) -> bool:
        if revision is not None and self.data.get(key, (b"", None))[1] != revision:
            return False
        self.data.pop(key, None)
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def actions_with(kv: FakeKV, clock: Clock) -> Actions:
    actions = Actions()
    actions.keys = ActionKeys(kv, clock)
    return actions


async def test_a_key_acts_once_and_a_repeat_answers_the_first_result() -> None:
    kv, clock = FakeKV(), Clock()
    actions = actions_with(kv, clock)
    calls: list[int] = []

    async def route(a: DiscordAct, shard: int) -> ActResult:
        calls.append(shard)
        return ActResult(ok=True, output={"message_id": "9"})

    first = await actions.act(act(channel_id=CHANNEL, content="hi"), 1, route)
    again = await actions.act(act(channel_id=CHANNEL, content="hi"), 1, route)
    assert calls == [0]
    assert (first.repeated, again.repeated) == (False, True)
    assert again.output == {"message_id": "9"}
    # Another key (or another bot with this key) acts.
    await actions.act(act(key="run1:1", channel_id=CHANNEL, content="hi"), 1, route)
    other_bot = act(channel_id=CHANNEL, content="hi").model_copy(update={"bot_id": uuid.uuid4()})
    await actions.act(other_bot, 1, route)
    assert len(calls) == 3


async def test_a_refusal_is_a_result_kept_like_a_success() -> None:
    kv, clock = FakeKV(), Clock()
    actions = actions_with(kv, clock)

    async def route(a: DiscordAct, shard: int) -> ActResult:
        return refusal(a.action, 403, 50013)

    first = await actions.act(act("kick_member", user_id=USER), 1, route)
    again = await actions.act(act("kick_member", user_id=USER), 1, route)
    assert (first.ok, first.code, again.code, again.repeated) == (False, 50013, 50013, True)


async def test_pending_young_is_unavailable_old_is_done_again() -> None:
    kv, clock = FakeKV(), Clock()
    actions = actions_with(kv, clock)
    a = act(channel_id=CHANNEL, content="hi")
    # An attempt that claimed the key and died before writing its result.
    claim = await ActionKeys(kv, clock).claim(kv_key(a))
    assert claim.revision is not None

    async def route(a: DiscordAct, shard: int) -> ActResult:
        return ActResult(ok=True)

    clock.now += PENDING_STALE_S - 1
    with pytest.raises(RpcError) as err:
        await actions.act(a, 1, route)
    assert err.value.code is ErrorCode.UNAVAILABLE
    assert "still in progress; retry" in str(err.value)

    clock.now += 2
    result = await actions.act(a, 1, route)
    assert (result.ok, result.repeated) == (True, False)


async def test_a_failure_without_a_result_lets_a_retry_act() -> None:
    kv, clock = FakeKV(), Clock()
    actions = actions_with(kv, clock)
    a = act(channel_id=CHANNEL, content="hi")

    async def down(a: DiscordAct, shard: int) -> ActResult:
        raise RpcError(ErrorCode.UNAVAILABLE, "Discord is not available (HTTP 502)")

    with pytest.raises(RpcError):
        await actions.act(a, 1, down)
    assert kv.data == {}

    async def up(a: DiscordAct, shard: int) -> ActResult:
        return ActResult(ok=True)

    assert (await actions.act(a, 1, up)).repeated is False


async def test_reply_and_defer_say_they_are_not_supported_yet() -> None:
    kv, clock = FakeKV(), Clock()

    async def route(a: DiscordAct, shard: int) -> ActResult:
        raise AssertionError("nothing to route")

    result = await actions_with(kv, clock).act(act("reply", content="x"), 1, route)
    assert result.ok is False
    assert "interaction" in (result.message or "")
    assert kv.data == {}


def test_act_is_served_and_only_command_service_may_ask() -> None:
    assert "rpc.bot.runtime.act" not in REGISTRY.planned
    assert REGISTRY.rpcs["rpc.bot.runtime.act"].callers == frozenset({"command"})
    assert "bot_actions" in REGISTRY.kv
