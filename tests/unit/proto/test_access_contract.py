"""The access contract of teams (#17): the permission strings in their pinned order, the
built-in roles as the issue defines them, and the `bc-access` header codec and size bound."""

from __future__ import annotations

import uuid
from typing import get_args

import orjson
import pytest

from proto import access as A
from proto.auth import API_SCOPES
from proto.errors import HTTP_STATUS, MISSING_PERMISSION, ErrorCode
from proto.headers import ACCESS

# The issue's list, in its order: the position is the bit of a permission mask, stored in
# grants and tokens. Never reorder or remove; append only.
ISSUE_PERMISSIONS = (
    "bots.view",
    "bots.control",
    "bots.edit",
    "bots.token",
    "bots.delete",
    "commands.edit",
    "prompts.edit",
    "connections.edit",
    "connections.secrets",
    "files.edit",
    "logs.view",
    "members.manage",
    "audit.view",
    "workspace.admin",
    # appended by the automations issue (#18)
    "automations.edit",
)


def test_the_permissions_are_the_issues_in_a_pinned_order() -> None:
    assert A.PERMISSION_NAMES == ISSUE_PERMISSIONS
    assert get_args(A.Permission) == ISSUE_PERMISSIONS
    assert A.permission_mask(["bots.view"]) == 1
    assert A.permission_mask(["workspace.admin"]) == 1 << 13
    assert A.permission_mask(["automations.edit"]) == 1 << 14
    assert A.ALL_PERMISSIONS_MASK == 2**15 - 1
    # each has a description for `GET /v1/permissions`
    assert all(description.strip() for _, description in A.PERMISSIONS)


def test_masks_and_names_convert_both_ways_and_unknown_names_are_named() -> None:
    names = ["logs.view", "bots.control", "bots.view"]
    in_order = ["bots.view", "bots.control", "logs.view"]
    assert A.permission_names(A.permission_mask(names)) == in_order
    assert A.unknown_permissions(["bots.view", "bots.fly", "root"]) == ["bots.fly", "root"]
    with pytest.raises(ValueError, match=r"bots\.fly, root"):
        A.permission_mask(["bots.fly", "bots.view", "root"])


def test_the_built_in_roles_are_exactly_the_issues() -> None:
    every = set(ISSUE_PERMISSIONS)
    expected = {
        "owner": every,
        # ownership transfer and workspace delete are owner-only operations, not permissions
        "admin": every,
        "developer": {"bots.view", "commands.edit", "automations.edit", "prompts.edit",
                      "connections.edit", "files.edit", "logs.view"},
        "operator": {"bots.view", "bots.control", "logs.view"},
        "viewer": {"bots.view", "logs.view"},
    }
    assert {name: set(role.permissions) for name, role in A.BUILTIN_ROLES.items()} == expected
    assert list(A.BUILTIN_ROLES) == list(get_args(A.BuiltinRoleName))
    assert A.OWNER_ONLY_OPERATIONS == ("workspace.transfer", "workspace.delete")
    # a developer edits connections but never sets their secrets
    assert "connections.secrets" not in A.BUILTIN_ROLES["developer"].permissions


def test_every_resource_scope_of_old_tokens_maps_to_permissions() -> None:
    resource_scopes = {s for s in API_SCOPES if not s.startswith("settings:")}
    assert set(A.LEGACY_SCOPE_PERMISSIONS) == resource_scopes
    for scope, permissions in A.LEGACY_SCOPE_PERMISSIONS.items():
        assert A.unknown_permissions(permissions) == [], scope
    # write implies read in the same area
    assert A.LEGACY_SCOPE_PERMISSIONS["bots:read"] <= A.LEGACY_SCOPE_PERMISSIONS["bots:write"]


def _access(grants: int = 3, bots: int = 2) -> A.Access:
    return A.Access(
        user_id=uuid.uuid4(),
        token_id=uuid.uuid4(),
        grants=[
            A.Grant(workspace_id=uuid.uuid4(), role="owner", permissions=A.ALL_PERMISSIONS_MASK),
            A.Grant(
                workspace_id=uuid.uuid4(),
                role=str(uuid.uuid4()),  # a custom role
                permissions=A.permission_mask(["bots.view", "logs.view"]),
                bot_ids=[uuid.uuid4() for _ in range(bots)],
            ),
            *(
                A.Grant(workspace_id=uuid.uuid4(), role="operator",
                        permissions=A.BUILTIN_ROLES["operator"].mask)
                for _ in range(grants - 2)
            ),
        ],
    )


def test_access_round_trips_through_its_header_value() -> None:
    access = _access()
    text = access.encode()
    assert A.Access.decode(text) == access
    assert A.Access.decode(text.encode()) == access
    # a header value: ASCII, no spaces or line breaks
    assert text.isascii()
    assert not any(c.isspace() for c in text)
    system = A.Access.system_for("bot", uuid.uuid4())
    assert A.Access.decode(system.encode()) == system
    assert ACCESS == "bc-access"


def test_access_answers_who_sees_and_who_may() -> None:
    access = _access()
    owned, limited, operated = access.grants
    bot, other_bot = limited.bot_ids[0], uuid.uuid4()
    assert access.allows("workspace.admin", owned.workspace_id, other_bot)
    assert access.sees(limited.workspace_id, bot)
    assert not access.sees(limited.workspace_id, other_bot)  # limited to some bots: 404
    assert not access.allows("bots.view", limited.workspace_id, other_bot)
    assert not access.allows("bots.control", limited.workspace_id, bot)  # visible: 403
    assert access.allows("bots.control", operated.workspace_id)
    assert not access.sees(uuid.uuid4())
    assert access.permitted("bots.control") == [owned.workspace_id, operated.workspace_id]


@pytest.mark.parametrize(
    "value",
    [
        "",
        "[]",
        "{}",
        "not json",
        '[2,null,null,"bot",[]]',  # unknown version
        "[1,null,null,null,[]]",  # nobody
        '[1,"AAAAAAAAAAAAAAAAAAAAAA",null,"bot",[]]',  # a user and a system at once
        '[1,"short",null,null,[]]',
        '[1,"AAAAAAAAAAAAAAAAAAAAAA",null,null,[["AAAAAAAAAAAAAAAAAAAAAA","root",1,[]]]]',
        '[1,"AAAAAAAAAAAAAAAAAAAAAA",null,null,[["AAAAAAAAAAAAAAAAAAAAAA","owner",32768,[]]]]',
        '[1,"AAAAAAAAAAAAAAAAAAAAAA",null,null,[["AAAAAAAAAAAAAAAAAAAAAA","owner",-1,[]]]]',
        '[1,"AAAAAAAAAAAAAAAAAAAAAA",null,null,[["AAAAAAAAAAAAAAAAAAAAAA","owner",true,[]]]]',
        '[1,"AAAAAAAAAAAAAAAAAAAAAA",null,null,[["AAAAAAAAAAAAAAAAAAAAAA","owner","7",[]]]]',
        '[1,"AAAAAAAAAAAAAAAAAAAAAA",null,null,[["AAAAAAAAAAAAAAAAAAAAAA","owner",1]]]',
        '[1,"AAAAAAAAAAAAAAAAAAAAAA",null,null,'  # the same workspace twice
        '[["AAAAAAAAAAAAAAAAAAAAAA","owner",1,[]],["AAAAAAAAAAAAAAAAAAAAAA","viewer",1,[]]]]',
    ],
)
def test_a_malformed_header_is_refused_with_a_value_error(value: str) -> None:
    with pytest.raises(ValueError, match="bc-access"):
        A.Access.decode(value)


def test_the_header_stays_under_its_size_bound() -> None:
    # the most workspaces a user may be in, none limited to bots, half with custom roles: fits
    many = A.Access(
        user_id=uuid.uuid4(),
        grants=[
            A.Grant(workspace_id=uuid.uuid4(), role=str(uuid.uuid4()) if i % 2 else "developer",
                    permissions=A.ALL_PERMISSIONS_MASK)
            for i in range(A.MAX_MEMBERSHIPS_PER_USER)
        ],
    )
    text = many.encode()
    assert len(text) <= 16 * 1024
    assert A.Access.decode(text) == many
    # memberships limited to many bots would not: refused when encoding, not sent
    heavy = many.model_copy(
        update={"grants": [g.model_copy(update={"bot_ids": [uuid.uuid4() for _ in range(100)]})
                           for g in many.grants]}
    )
    with pytest.raises(A.AccessTooLarge, match="at most"):
        heavy.encode()
    # and a receiver refuses an oversized value before parsing it
    padded = text + " " * (A.MAX_ACCESS_BYTES - len(text) + 1)
    assert orjson.loads(padded) is not None
    with pytest.raises(ValueError, match="longer than"):
        A.Access.decode(padded)


def test_access_changed_carries_the_workspace_in_its_subject_token() -> None:
    ws = uuid.uuid4()
    event = A.AccessChanged(owner_id=ws, workspace_id=ws, users={uuid.uuid4(): 3}, reason="role")
    assert A.AccessChanged.model_validate_json(event.model_dump_json()) == event
    with pytest.raises(ValueError, match="workspace id"):
        A.AccessChanged(owner_id=uuid.uuid4(), workspace_id=ws, users={}, reason="removed")


def test_gone_is_410_and_forbidden_names_the_missing_permission() -> None:
    assert HTTP_STATUS[ErrorCode.GONE] == 410
    assert ErrorCode.GONE == "gone"
    assert MISSING_PERMISSION == "missing_permission"
