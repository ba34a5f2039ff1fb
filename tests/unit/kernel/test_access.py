"""The kernel's side of `bc-access`: the decoding LRU, `require()` and the legacy fallback,
and what RpcContext makes of the headers."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from proto import headers as H
from proto.access import ALL_PERMISSIONS_MASK, Access, Grant, permission_mask
from proto.errors import MISSING_PERMISSION, ErrorCode
from services.access import AccessCache, require, require_member
from services.bus.rpc import RpcContext
from services.db.engine import scope_settings
from services.errors import RpcError


def _member(ws: UUID, perms: list[str], bots: list[UUID] | None = None) -> Access:
    return Access(
        user_id=uuid4(),
        grants=[
            Grant(
                workspace_id=ws,
                role="viewer",
                permissions=permission_mask(perms),
                bot_ids=bots or [],
            )
        ],
    )


def test_the_cache_decodes_a_header_once_and_hands_back_the_same_access() -> None:
    cache = AccessCache(size=8)
    header = _member(uuid4(), ["bots.view"]).encode()
    first = cache.decode(header)
    again = cache.decode(header)
    assert again is first
    assert (cache.misses, cache.hits) == (1, 1)
    assert first == Access.decode(header)


def test_the_cache_drops_the_least_recently_used_header() -> None:
    cache = AccessCache(size=2)
    a, b, c = (_member(uuid4(), ["bots.view"]).encode() for _ in range(3))
    cache.decode(a)
    cache.decode(b)
    cache.decode(a)  # a is now the most recent: b goes first
    cache.decode(c)
    assert len(cache) == 2
    cache.decode(a)
    assert cache.misses == 3
    cache.decode(b)
    assert cache.misses == 4


def test_a_malformed_header_is_refused_and_not_cached() -> None:
    cache = AccessCache(size=4)
    for _ in range(2):
        with pytest.raises(ValueError, match="malformed bc-access"):
            cache.decode('[1,"x",null,null,[]]')
    assert len(cache) == 0


def test_require_names_the_missing_permission() -> None:
    ws = uuid4()
    access = _member(ws, ["bots.view", "logs.view"])
    require(access, "bots.view", ws)
    with pytest.raises(RpcError) as caught:
        require(access, "bots.control", ws)
    err = caught.value
    assert err.code is ErrorCode.FORBIDDEN
    assert err.message == "missing permission bots.control"
    assert err.details == {MISSING_PERMISSION: "bots.control"}
    assert err.envelope().http_status == 403


def test_require_holds_a_bot_limited_member_to_their_bots() -> None:
    ws, mine, other = uuid4(), uuid4(), uuid4()
    access = _member(ws, ["bots.view", "bots.control"], bots=[mine])
    require(access, "bots.control", ws, mine)
    with pytest.raises(RpcError, match=r"missing permission bots\.control"):
        require(access, "bots.control", ws, other)


def test_require_refuses_another_workspace() -> None:
    access = _member(uuid4(), ["bots.view", "bots.control"])
    with pytest.raises(RpcError, match=r"missing permission bots\.view"):
        require(access, "bots.view", uuid4())


def test_a_named_workspace_is_not_found_to_a_stranger_and_forbidden_to_a_member() -> None:
    ws = uuid4()
    access = _member(ws, ["logs.view"])
    require_member(access, "logs.view", ws)
    with pytest.raises(RpcError) as stranger:
        require_member(access, "logs.view", uuid4())
    assert stranger.value.code is ErrorCode.NOT_FOUND
    with pytest.raises(RpcError) as member:
        require_member(access, "audit.view", ws)
    assert member.value.code is ErrorCode.FORBIDDEN
    assert member.value.details == {MISSING_PERMISSION: "audit.view"}


def _ctx(headers: dict[str, str]) -> RpcContext:
    return RpcContext("rpc.test.thing", headers, None, None)


def test_a_legacy_caller_owns_their_personal_workspace_and_nothing_else() -> None:
    user = uuid4()
    access = _ctx({H.USER_ID: str(user)}).access
    assert access is not None
    assert access.user_id == user
    assert [(g.workspace_id, g.role, g.permissions, g.bot_ids) for g in access.grants] == [
        (user, "owner", ALL_PERMISSIONS_MASK, [])
    ]
    require(access, "workspace.admin", user)
    with pytest.raises(RpcError, match=r"missing permission bots\.view"):
        require(access, "bots.view", uuid4())


def test_the_access_header_wins_over_the_legacy_fallback() -> None:
    user, team = uuid4(), uuid4()
    sent = Access(
        user_id=user,
        grants=[
            Grant(workspace_id=team, role="operator", permissions=permission_mask(["bots.view"]))
        ],
    )
    access = _ctx({H.USER_ID: str(user), H.ACCESS: sent.encode()}).access
    assert access == sent
    assert access is not None
    assert access.grant(user) is None


def test_a_message_without_a_caller_has_no_access() -> None:
    ctx = _ctx({})
    assert ctx.access is None
    with pytest.raises(RpcError) as caught:
        ctx.require_access()
    assert caught.value.code is ErrorCode.UNAUTHENTICATED


def test_a_malformed_access_header_is_a_clear_400_not_a_fallback() -> None:
    ctx = _ctx({H.USER_ID: str(uuid4()), H.ACCESS: "not json"})
    with pytest.raises(RpcError) as caught:
        _ = ctx.access
    assert caught.value.code is ErrorCode.INVALID
    assert "malformed bc-access" in caught.value.message


def test_the_scope_settings_split_workspaces_by_bot_limit() -> None:
    user, open_ws, limited_ws, bot_a, bot_b = (uuid4() for _ in range(5))
    access = Access(
        user_id=user,
        grants=[
            Grant(workspace_id=open_ws, role="owner", permissions=ALL_PERMISSIONS_MASK),
            Grant(workspace_id=limited_ws, role="operator", permissions=1, bot_ids=[bot_a, bot_b]),
        ],
    )
    assert scope_settings(access) == {
        "uid": str(user),
        "ws": f"{{{open_ws},{limited_ws}}}",
        "all_bots": f"{{{open_ws}}}",
        "bots": f"{{{bot_a},{bot_b}}}",
    }
    system = Access.system_for("bot", open_ws)
    assert scope_settings(system) == {
        "uid": "",
        "ws": f"{{{open_ws}}}",
        "all_bots": f"{{{open_ws}}}",
        "bots": "{}",
    }


def test_a_caller_with_only_the_access_header_is_its_user() -> None:
    sent = _member(uuid4(), ["bots.view"])
    assert _ctx({H.ACCESS: sent.encode()}).require_user() == sent.user_id
    system = Access.system_for("bot", uuid4())
    with pytest.raises(RpcError) as caught:
        _ctx({H.ACCESS: system.encode()}).require_user()
    assert caught.value.code is ErrorCode.UNAUTHENTICATED


def test_headers_naming_two_different_users_are_refused() -> None:
    sent = _member(uuid4(), ["bots.view"])
    with pytest.raises(RpcError) as caught:
        _ = _ctx({H.USER_ID: str(uuid4()), H.ACCESS: sent.encode()}).access
    assert caught.value.code is ErrorCode.INVALID
    # A system access travels with whatever user the calling request served.
    system = Access.system_for("bot", uuid4())
    assert _ctx({H.USER_ID: str(uuid4()), H.ACCESS: system.encode()}).access == system
