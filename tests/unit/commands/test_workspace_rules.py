"""command-service's workspace rules that need no database: where a new item goes, and which
audit action a connection change is."""

from __future__ import annotations

import uuid

import pytest

from command_service.execution.outbound import Guard
from command_service.service import Actor, Auditor, ConnectionService
from proto.access import BUILTIN_ROLES, Access, Grant
from proto.errors import ErrorCode
from services.errors import RpcError
from services.outbox import Outbox


def test_a_new_item_goes_to_the_named_workspace_or_the_personal_one() -> None:
    user, team = uuid.uuid4(), uuid.uuid4()
    grant = Grant(workspace_id=team, role="viewer", permissions=BUILTIN_ROLES["viewer"].mask)
    actor = Actor.of(
        Access(
            user_id=user,
            grants=[
                Grant(workspace_id=user, role="owner", permissions=BUILTIN_ROLES["owner"].mask),
                grant,
            ],
        ),
        {},
    )
    assert actor.workspace(None) == user
    assert actor.workspace(team) == team
    with pytest.raises(RpcError) as info:
        actor.workspace(uuid.uuid4())
    assert info.value.code is ErrorCode.NOT_FOUND
    with pytest.raises(RpcError) as info:
        actor.require("prompts.edit", team)
    assert info.value.code is ErrorCode.FORBIDDEN


def test_a_change_of_the_secrets_alone_is_a_secret_set() -> None:
    rule = ConnectionService(None, Guard.from_list([]), Auditor(Outbox("command"))).update_action
    changed = {"changed": True}
    assert rule({"secret": changed}) == "connection.secret_set"
    assert rule({"secret": changed, "secret_headers": changed}) == "connection.secret_set"
    assert rule({"secret": changed, "auth_type": {"old": "none", "new": "bearer"}}) == (
        "connection.update"
    )
    assert rule({}) == "connection.update"
