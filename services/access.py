"""The caller's access in a service (#17): the `bc-access` header decoded once per distinct
value, the permission check every service layer makes, and the legacy fallback.

A user sends the same header bytes on every request until their memberships change, and a
large access (200 workspaces) takes about 1.5 ms to parse, so decoded values are kept in a
small LRU keyed by the header string. `Access` is immutable in use (frozen by convention:
nothing in the kernel or the services mutates it), so one decoded object can be shared.
"""

from __future__ import annotations

import contextvars
from collections import OrderedDict
from typing import Final
from uuid import UUID

from proto.access import ALL_PERMISSIONS_MASK, Access, Grant, Permission
from proto.errors import MISSING_PERMISSION, ErrorCode
from services.errors import RpcError, not_found

# The raw `bc-access` header of the request being served: `RpcClient.call_raw` forwards it
# with the calls a handler makes for its caller, as it forwards `user_id_var`.
access_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("bc_access", default=None)

# Distinct users active on one replica within the LRU's lifetime; 4,096 entries of about
# 1 KB (most users have a few workspaces) bound the memory well under 10 MB.
ACCESS_CACHE_SIZE: Final = 4096


class AccessCache:
    """Decoded headers by their text, least recently used dropped first. Single-threaded
    (one event loop), so no lock."""

    def __init__(self, size: int = ACCESS_CACHE_SIZE) -> None:
        self.size = size
        self._items: OrderedDict[str, Access] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def decode(self, header: str) -> Access:
        """The Access of `header`; ValueError (from `Access.decode`) for a malformed one,
        which is not cached."""
        access = self._items.get(header)
        if access is not None:
            self.hits += 1
            self._items.move_to_end(header)
            return access
        self.misses += 1
        access = Access.decode(header)
        self._items[header] = access
        if len(self._items) > self.size:
            self._items.popitem(last=False)
        return access

    def legacy(self, user_id: UUID) -> Access:
        """The access of a caller that sent only `bc-user-id` (services and tests from
        before teams): owner of their personal workspace (whose id is theirs) and nothing
        else, so anything shared in a team fails closed."""
        key = f"legacy:{user_id}"
        access = self._items.get(key)
        if access is None:
            access = personal_access(user_id)
            self._items[key] = access
            if len(self._items) > self.size:
                self._items.popitem(last=False)
        else:
            self._items.move_to_end(key)
        return access

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        self._items.clear()


_CACHE = AccessCache()


def decode_access(header: str) -> Access:
    """`Access.decode` behind the process-wide LRU."""
    return _CACHE.decode(header)


def legacy_access(user_id: UUID) -> Access:
    """The fallback access of a request with `bc-user-id` and no `bc-access`."""
    return _CACHE.legacy(user_id)


def personal_access(user_id: UUID) -> Access:
    """Owner of one's personal workspace (id = the user's id), nothing more."""
    return Access(
        user_id=user_id,
        grants=[Grant(workspace_id=user_id, role="owner", permissions=ALL_PERMISSIONS_MASK)],
    )


def forbidden(permission: Permission) -> RpcError:
    """FORBIDDEN naming the permission the caller lacks on a resource they can see."""
    return RpcError(
        ErrorCode.FORBIDDEN,
        f"missing permission {permission}",
        details={MISSING_PERMISSION: permission},
    )


def require(
    access: Access, permission: Permission, workspace_id: UUID, bot_id: UUID | None = None
) -> None:
    """Raise FORBIDDEN unless `access` holds `permission` in the workspace (and, for a bot,
    its membership is not limited away from that bot).

    Call it after loading the resource in the caller's RLS scope: a resource the caller
    cannot see was already NOT_FOUND, so FORBIDDEN never reveals that something exists."""
    if not access.allows(permission, workspace_id, bot_id):
        raise forbidden(permission)


def require_member(access: Access, permission: Permission, workspace_id: UUID) -> None:
    """For a request naming a workspace rather than a resource in it: NOT_FOUND unless the
    caller is a member (no existence leak), then FORBIDDEN without `permission` there."""
    if not access.sees(workspace_id):
        raise not_found("workspace")
    require(access, permission, workspace_id)
