"""The gateway's access cache (#17): snapshots cached per user, dropped by AccessChanged with a
version floor (a fetch already on its way with the old grants is refused, not cached),
cleared on reconnect; a personal token never exceeds its owner."""

from __future__ import annotations

import asyncio
import uuid
from uuid import UUID

import pytest

from gateway.access import AccessCache, Restriction, effective_access, token_restriction
from proto.access import (
    ALL_PERMISSIONS_MASK,
    Access,
    AccessChanged,
    AccessSnapshot,
    WorkspaceGrant,
    permission_mask,
    permission_names,
)
from services.errors import RpcError

ALICE = uuid.uuid4()
PERSONAL = ALICE
TEAM = uuid.uuid4()


def snapshot(version: int, *, team_role: str | None = "admin") -> AccessSnapshot:
    grants = [
        WorkspaceGrant(workspace_id=PERSONAL, role="owner", permissions=ALL_PERMISSIONS_MASK,
                       name="Personal", personal=True)
    ]
    if team_role is not None:
        perms = ALL_PERMISSIONS_MASK if team_role == "admin" else permission_mask(["bots.view"])
        grants.append(WorkspaceGrant(workspace_id=TEAM, role=team_role, permissions=perms,
                                     name="Team", personal=False))
    return AccessSnapshot(user_id=ALICE, version=version, grants=grants)


class Auth:
    """A stand-in for rpc.auth.access.get whose answers the test releases one by one."""

    def __init__(self) -> None:
        self.current = snapshot(1)
        self.calls = 0
        self.gate: asyncio.Event | None = None
        self.answers: list[AccessSnapshot] = []
        self.asked = asyncio.Event()

    async def fetch(self, user_id: UUID) -> AccessSnapshot:
        self.calls += 1
        answer = self.answers.pop(0) if self.answers else self.current
        self.asked.set()
        if self.gate is not None:
            await self.gate.wait()
        return answer

    async def fetching(self) -> None:
        """Until a fetch is on its way: asked, its answer chosen, not yet returned."""
        await asyncio.wait_for(self.asked.wait(), timeout=5)
        self.asked.clear()


def changed(version: int, reason: str = "removed") -> bytes:
    fields: dict[str, object] = {"workspace_id": TEAM, "users": {ALICE: version},
                                 "reason": reason}
    if "owner_id" in AccessChanged.model_fields:  # before events named it workspace_id
        fields["owner_id"] = TEAM
    return AccessChanged.model_validate(fields).model_dump_json().encode()


async def test_cached_until_changed_then_fetched_again() -> None:
    auth = Auth()
    cache = AccessCache(auth.fetch, ttl_s=60)
    first = await cache.access(ALICE)
    again = await cache.access(ALICE)
    assert auth.calls == 1
    assert again.header == first.header  # same bytes: services' LRU hits
    assert Access.decode(first.header).sees(TEAM)

    auth.current = snapshot(2, team_role=None)
    assert cache.on_access_changed(changed(2))
    after = await cache.access(ALICE)
    assert auth.calls == 2
    assert not after.access.sees(TEAM)
    assert [g.workspace_id for g in after.snapshot.grants] == [PERSONAL]


async def test_a_fetch_started_before_the_change_is_refused_and_refetched() -> None:
    """The race guard: the answer to a fetch sent before the removal arrives after the
    AccessChanged event; it must neither be used nor cached."""
    auth = Auth()
    cache = AccessCache(auth.fetch, ttl_s=60)
    auth.gate = asyncio.Event()
    auth.answers = [snapshot(1), snapshot(2, team_role=None)]
    pending = asyncio.ensure_future(cache.access(ALICE))
    await auth.fetching()  # the fetch is out, with the old grants in its answer
    cache.on_access_changed(changed(2))
    auth.gate.set()
    resolved = await pending
    assert auth.calls == 2
    assert resolved.snapshot.version == 2
    assert not resolved.access.sees(TEAM)
    assert not (await cache.access(ALICE)).access.sees(TEAM)
    assert auth.calls == 2  # the fresh one was cached


async def test_always_stale_answers_fail_clearly() -> None:
    auth = Auth()
    cache = AccessCache(auth.fetch, ttl_s=60)
    cache.on_access_changed(changed(5))
    with pytest.raises(RpcError, match="being updated"):
        await cache.access(ALICE)


async def test_concurrent_misses_share_one_fetch_and_clear_forgets_all() -> None:
    auth = Auth()
    cache = AccessCache(auth.fetch, ttl_s=60)
    auth.gate = asyncio.Event()
    waiting = [asyncio.ensure_future(cache.access(ALICE)) for _ in range(20)]
    await auth.fetching()
    auth.gate.set()
    await asyncio.gather(*waiting)
    assert auth.calls == 1

    # A fetch in flight across a clear (a reconnect) serves its request but is not kept.
    auth.gate = asyncio.Event()
    cache.clear()
    pending = asyncio.ensure_future(cache.access(ALICE))
    await auth.fetching()
    cache.clear()
    auth.gate.set()
    await pending
    assert len(cache) == 0
    auth.gate = None
    await cache.access(ALICE)
    assert auth.calls == 3
    assert len(cache) == 1


async def test_ttl_bounds_a_missed_event() -> None:
    auth = Auth()
    cache = AccessCache(auth.fetch, ttl_s=0)
    await cache.access(ALICE)
    await cache.access(ALICE)
    assert auth.calls == 2


def test_malformed_events_are_ignored() -> None:
    cache = AccessCache(Auth().fetch)
    assert not cache.on_access_changed(b"{}")
    assert not cache.on_access_changed(b"not json")


def test_a_token_never_exceeds_its_owner_nor_its_scopes() -> None:
    owner = snapshot(3, team_role="viewer")
    # bots:write stands for control/edit/delete/token, but the owner only views the team.
    token = token_restriction(["bots:write"])
    access = effective_access(owner, token_id=uuid.uuid4(), restriction=token)
    assert access.token_id is not None
    team = access.grant(TEAM)
    assert team is not None
    assert permission_names(team.permissions) == ["bots.view"]
    personal = access.grant(PERSONAL)
    assert personal is not None
    assert set(permission_names(personal.permissions)) == {
        "bots.view", "bots.control", "bots.edit", "bots.token", "bots.delete", "logs.view"
    }
    assert not access.allows("commands.edit", PERSONAL)

    # files:read grants no permission, yet the token still sees its owner's workspaces
    # (any member reads files); account scopes add nothing.
    reader = effective_access(owner, restriction=token_restriction(["files:read", "account"]))
    assert reader.sees(TEAM)
    assert reader.sees(PERSONAL)
    assert all(g.permissions == 0 for g in reader.grants)

    # A token for one workspace with its own permission subset.
    narrow = token_restriction([], workspace_id=TEAM, permissions=["bots.view", "bots.control"])
    limited = effective_access(owner, restriction=narrow)
    assert [g.workspace_id for g in limited.grants] == [TEAM]
    assert limited.allows("bots.view", TEAM)
    assert not limited.allows("bots.control", TEAM)


async def test_tokens_and_sessions_get_their_own_headers() -> None:
    auth = Auth()
    cache = AccessCache(auth.fetch, ttl_s=60)
    session = await cache.access(ALICE)
    tid = uuid.uuid4()
    token = await cache.access(ALICE, token_id=tid, restriction=token_restriction(["bots:read"]))
    assert token.header != session.header
    assert Access.decode(token.header).token_id == tid
    assert not token.access.allows("bots.control", PERSONAL)
    assert session.access.allows("bots.control", PERSONAL)
    assert (await cache.access(ALICE, token_id=tid, restriction=Restriction())).access.allows(
        "bots.control", PERSONAL
    )
    assert auth.calls == 1
