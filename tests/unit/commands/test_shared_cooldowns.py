"""The shared cooldown clock's rules with an in-memory store standing in for NATS KV
(the real bucket across two command-service replicas: tests/integration/commands/
test_commands_cooldowns_shared.py)."""

from __future__ import annotations

import uuid

from command_service.bot_setup import Command
from command_service.execution.executor import SharedCooldowns, cooldown_keys
from proto.commands import CommandIn, Invocation, Invoker


class MemoryStore:
    def __init__(self) -> None:
        self.keys: dict[str, tuple[bytes, int, float]] = {}  # value, revision, expires at
        self.now = 1000.0
        self.revision = 0
        self.down = False
        self.created: list[str] = []

    def _live(self, key: str) -> tuple[bytes, int, float] | None:
        if self.down:
            raise ConnectionError("no NATS")
        found = self.keys.get(key)
        if found is not None and found[2] <= self.now:
            del self.keys[key]
            return None
        return found

    async def get(self, key: str) -> tuple[bytes, int] | None:
        found = self._live(key)
        return None if found is None else (found[0], found[1])

    async def create(self, key: str, value: bytes, *, ttl_s: float | None = None) -> int | None:
        if self._live(key) is not None:
            return None
        self.revision += 1
        self.keys[key] = (value, self.revision, self.now + (ttl_s or 1e9))
        self.created.append(key)
        return self.revision

    async def delete(self, key: str, *, revision: int | None = None) -> bool:
        found = self._live(key)
        if found is None or (revision is not None and found[1] != revision):
            return False
        del self.keys[key]
        return True


def _cmd(**data: object) -> Command:
    spec = CommandIn.model_validate(
        {"name": "c", "description": "d", "response": {"type": "template", "content": "x"}, **data}
    )
    return Command(uuid.uuid4(), spec)


def _inv(user: str = "1", guild: str | None = "5") -> Invocation:
    return Invocation(kind="slash", name="c", user=Invoker(id=user), guild_id=guild)


async def test_a_cooldown_runs_until_its_key_expires_for_every_replica() -> None:
    store = MemoryStore()
    one = SharedCooldowns(store, clock=lambda: store.now)
    two = SharedCooldowns(store, clock=lambda: store.now)  # another replica, same store
    cmd = _cmd(cooldown_user_s=10)
    assert await one.left(cmd, _inv()) == 0
    store.now += 4
    assert await two.left(cmd, _inv()) == 6.0
    assert await two.left(cmd, _inv(user="2")) == 0  # another user is not held back
    store.now += 6
    assert await two.left(cmd, _inv()) == 0  # expired: runs again, and a new one starts
    assert await one.left(cmd, _inv()) == 10.0


async def test_a_running_guild_cooldown_starts_no_user_cooldown() -> None:
    store = MemoryStore()
    clock = SharedCooldowns(store, clock=lambda: store.now)
    cmd = _cmd(cooldown_user_s=30, cooldown_guild_s=60)
    assert await clock.left(cmd, _inv(user="1")) == 0
    store.now += 1
    assert await clock.left(cmd, _inv(user="2")) == 59.0  # guild-wide
    user_two = next(k for k, _ in cooldown_keys(cmd, _inv(user="2")) if ".u." in k)
    assert user_two not in store.keys  # the refused invocation started nothing


async def test_losing_a_race_takes_back_what_this_replica_started() -> None:
    store = MemoryStore()
    clock = SharedCooldowns(store, clock=lambda: store.now)
    cmd = _cmd(cooldown_user_s=30, cooldown_guild_s=60)
    user_key, guild_key = (k for k, _ in cooldown_keys(cmd, _inv()))
    real_create = store.create

    async def racing_create(key: str, value: bytes, *, ttl_s: float | None = None) -> int | None:
        if key == guild_key and guild_key not in store.keys:
            await real_create(key, b"%.3f" % (store.now + 60), ttl_s=60)  # the other replica
        return await real_create(key, value, ttl_s=ttl_s)

    store.create = racing_create  # type: ignore[method-assign]
    assert await clock.left(cmd, _inv()) == 60.0
    assert user_key not in store.keys
    assert guild_key in store.keys


async def test_an_unreachable_store_falls_back_to_this_replicas_clock() -> None:
    store = MemoryStore()
    store.down = True
    clock = SharedCooldowns(store, clock=lambda: store.now)
    cmd = _cmd(cooldown_user_s=30)
    assert await clock.left(cmd, _inv()) == 0  # commands keep working
    assert await clock.left(cmd, _inv()) > 29  # and are still cooled down locally
    assert clock.degraded
    store.down = False  # back: cooldowns are shared again
    assert await clock.left(cmd, _inv(user="2")) == 0
    assert not clock.degraded
    assert any(".u.2" in k for k in store.keys)


async def test_a_replica_clock_running_ahead_never_lengthens_a_cooldown() -> None:
    store = MemoryStore()
    ahead = SharedCooldowns(store, clock=lambda: store.now + 120)  # two minutes fast
    behind = SharedCooldowns(store, clock=lambda: store.now)
    cmd = _cmd(cooldown_user_s=10)
    assert await ahead.left(cmd, _inv()) == 0
    assert await behind.left(cmd, _inv()) == 10.0  # not 130


def test_keys_are_valid_kv_keys_for_any_id() -> None:
    cmd = _cmd(cooldown_user_s=5, cooldown_guild_s=5)
    keys = [k for k, _ in cooldown_keys(cmd, _inv(user="weird id/*>", guild="9"))]
    assert all(all(ch.isalnum() or ch in "-_." for ch in k) for k in keys)
    assert keys[1].endswith(".g.9")
