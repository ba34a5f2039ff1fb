"""What a caller may do in which workspace (#17): every membership of a user, from
`rpc.auth.access.get`, kept per process and turned into the `bc-access` header that goes with
each call the request makes.

Revocation within a second: auth publishes `AccessChanged` (each affected user's new
`access_version`) after the change commits; every replica drops those users' snapshots and
remembers the version, so a snapshot fetched before the change (still on its way back) is
refused and fetched again instead of being cached — the idea of
`PersonalTokenCache._revoked`. The TTL and a full clear on a NATS reconnect (events may have
been missed while disconnected) are the safety nets.

A personal access token never does more than its owner can now: its access is computed at
every use from the owner's current snapshot, narrowed to the token's workspace and
permissions (tokens from before teams: `LEGACY_SCOPE_PERMISSIONS` of their scopes).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Final
from uuid import UUID

from pydantic import ValidationError

from proto.access import (
    LEGACY_SCOPE_PERMISSIONS,
    Access,
    AccessChanged,
    AccessSnapshot,
    Grant,
    permission_mask,
)
from proto.errors import ErrorCode
from services.errors import RpcError

log = logging.getLogger(__name__)

ACCESS_CHANGED_SUBJECT: Final = "evt.auth.*.*.access_changed"
# A fetch that keeps coming back older than a version AccessChanged named (auth's replicas
# answering from a lagging read) is tried this many times before the request fails.
STALE_RETRIES: Final = 3

Fetch = Callable[[UUID], Awaitable[AccessSnapshot]]


@dataclass(frozen=True)
class Restriction:
    """What narrows a personal token below its owner: one workspace and/or a permission
    mask (None: not narrowed that way)."""

    workspace_id: UUID | None = None
    mask: int | None = None


def token_restriction(
    scopes: Iterable[str],
    workspace_id: UUID | None = None,
    permissions: Iterable[str] | None = None,
) -> Restriction:
    """A token's ceiling: its own permission subset when it has one, else the permissions
    its pre-teams scopes stood for (account scopes grant none)."""
    if permissions is None:
        names: set[str] = set()
        for scope in scopes:
            names |= LEGACY_SCOPE_PERMISSIONS.get(scope, frozenset())
        permissions = names
    return Restriction(workspace_id=workspace_id, mask=permission_mask(permissions))


def effective_access(
    snapshot: AccessSnapshot,
    *,
    token_id: UUID | None = None,
    restriction: Restriction | None = None,
) -> Access:
    """The `Access` of a request: the owner's grants, narrowed by a token's restriction. A
    grant narrowed to no permission stays (membership alone lets one read files)."""
    grants: list[Grant] = []
    for g in snapshot.grants:
        perms = g.permissions
        if restriction is not None:
            if restriction.workspace_id is not None and g.workspace_id != restriction.workspace_id:
                continue
            if restriction.mask is not None:
                perms &= restriction.mask
        grants.append(
            Grant(workspace_id=g.workspace_id, role=g.role, permissions=perms, bot_ids=g.bot_ids)
        )
    return Access(user_id=snapshot.user_id, token_id=token_id, grants=grants)


@dataclass(frozen=True)
class Resolved:
    access: Access
    header: str
    snapshot: AccessSnapshot


@dataclass
class _Entry:
    snapshot: AccessSnapshot
    expires: float
    # Encoded headers of this snapshot, by who uses it (None: a session; else the token id
    # and its restriction): a user sends the same bytes until their access changes.
    headers: dict[tuple[UUID, Restriction] | None, Resolved] = field(default_factory=dict)


class AccessCache:
    """Users' access snapshots, per process. One event loop: no lock; concurrent misses of
    one user share one fetch."""

    def __init__(self, fetch: Fetch, *, ttl_s: float = 30.0, max_entries: int = 10_000) -> None:
        self._fetch = fetch
        self._ttl = ttl_s
        self._max = max_entries
        self._entries: OrderedDict[UUID, _Entry] = OrderedDict()
        # The lowest version an AccessChanged named per user (kept one TTL after the event,
        # longer than any fetch can take): anything older is refused.
        self._min_version: dict[UUID, tuple[int, float]] = {}
        self._inflight: dict[UUID, asyncio.Future[AccessSnapshot]] = {}
        # Bumped by clear(): a fetch started before a clear is not cached.
        self._generation = 0
        self.fetches = 0

    def __len__(self) -> int:
        return len(self._entries)

    async def snapshot(self, user_id: UUID) -> AccessSnapshot:
        return (await self._entry(user_id)).snapshot

    async def access(
        self,
        user_id: UUID,
        *,
        token_id: UUID | None = None,
        restriction: Restriction | None = None,
    ) -> Resolved:
        """The caller's `Access`, its encoded `bc-access` header and the snapshot of both."""
        entry = await self._entry(user_id)
        key = None if token_id is None else (token_id, restriction or Restriction())
        found = entry.headers.get(key)
        if found is None:
            access = effective_access(entry.snapshot, token_id=token_id, restriction=restriction)
            found = Resolved(access, access.encode(), entry.snapshot)
            if len(entry.headers) < 64:  # a user has a few tokens; bound a pathological one
                entry.headers[key] = found
        return found

    def drop(self, user_id: UUID, version: int) -> None:
        """`user_id`'s access changed to `version`: forget the snapshot and refuse older ones."""
        now = time.monotonic()
        current = self._min_version.get(user_id)
        if current is None or current[0] < version:
            self._min_version[user_id] = (version, now + self._ttl)
        self._entries.pop(user_id, None)
        if len(self._min_version) > self._max:
            self._min_version = {
                u: (v, until) for u, (v, until) in self._min_version.items() if until > now
            }

    def clear(self) -> None:
        """Forget everything (after a reconnect, when AccessChanged events may have been lost)."""
        self._generation += 1
        self._entries.clear()

    def _stale(self, snapshot: AccessSnapshot, now: float) -> bool:
        floor = self._min_version.get(snapshot.user_id)
        return floor is not None and floor[1] > now and snapshot.version < floor[0]

    async def _entry(self, user_id: UUID) -> _Entry:
        now = time.monotonic()
        entry = self._entries.get(user_id)
        if entry is not None and entry.expires > now:
            return entry
        pending = self._inflight.get(user_id)
        if pending is None:
            pending = asyncio.ensure_future(self._load(user_id, self._generation))
            self._inflight[user_id] = pending
            pending.add_done_callback(lambda _: self._inflight.pop(user_id, None))
        snapshot = await asyncio.shield(pending)
        entry = self._entries.get(user_id)
        if entry is not None and entry.snapshot is snapshot:
            return entry
        # Not cached (a clear or a drop came in meanwhile): used for this request only.
        return _Entry(snapshot, 0.0)

    async def _load(self, user_id: UUID, generation: int) -> AccessSnapshot:
        for _ in range(STALE_RETRIES):
            self.fetches += 1
            snapshot = await self._fetch(user_id)
            now = time.monotonic()
            if self._stale(snapshot, now):
                continue
            if generation == self._generation:
                self._entries[user_id] = _Entry(snapshot, now + self._ttl)
                self._entries.move_to_end(user_id)
                if len(self._entries) > self._max:
                    self._entries.popitem(last=False)
            return snapshot
        raise RpcError(ErrorCode.UNAVAILABLE, "your access is being updated; try again in a moment")

    def on_access_changed(self, data: bytes) -> bool:
        """Apply one `AccessChanged` message; False when it is not one."""
        try:
            event = AccessChanged.model_validate_json(data)
        except ValidationError:
            log.warning("malformed access_changed event ignored")
            return False
        for user_id, version in event.users.items():
            self.drop(user_id, version)
        return True
