"""The team API's contracts (#17) carry the issue's field names; RPCs still declared planned
(their slices have not landed): no service must answer them yet and no NATS user may publish
them yet."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from pydantic import ValidationError

from proto import REGISTRY, bots, system
from proto import workspaces as W
from proto.base import Contract, Empty
from proto.export import asyncapi
from proto.registry import SERVICES, Registry, rpc
from services.natsconf import service_permissions


def test_the_api_bodies_and_replies_have_the_issues_fields() -> None:
    # POST /v1/workspaces {name} -> 201 {id, name, personal, role, permissions, created_at}
    assert set(W.CreateWorkspace.model_fields) == {"name"}
    assert list(W.Workspace.model_fields)[:6] == [
        "id", "name", "personal", "role", "permissions", "created_at",
    ]
    assert set(W.TransferWorkspace.model_fields) - {"workspace_id"} == {"user_id"}
    assert set(W.UpdateMember.model_fields) - {"workspace_id", "user_id"} == {"role", "bot_ids"}
    assert set(W.CreateInvitation.model_fields) - {"workspace_id"} == {
        "role", "bot_ids", "email", "expires_in_s",
    }
    assert list(W.InvitationCreated.model_fields) == [
        "id", "token", "url", "role", "bot_ids", "expires_at",
    ]
    # a listed invitation never carries its token
    assert "token" not in W.Invitation.model_fields
    assert list(W.PermissionInfo.model_fields) == ["name", "description"]


def test_bad_input_is_refused_by_the_contract_naming_the_field() -> None:
    with pytest.raises(ValidationError) as long_name:
        W.CreateWorkspace(name="x" * 500)
    assert long_name.value.errors()[0]["loc"] == ("name",)
    with pytest.raises(ValidationError):
        W.CreateWorkspace(name="   ")
    ws = uuid.uuid4()
    with pytest.raises(ValidationError) as role:
        W.CreateInvitation(workspace_id=ws, role="superuser")
    assert role.value.errors()[0]["loc"] == ("role",)
    assert W.CreateInvitation(workspace_id=ws, role="operator").expires_in_s == 7 * 24 * 3600
    custom = str(uuid.uuid4())
    assert W.CreateInvitation(workspace_id=ws, role=custom).role == custom
    with pytest.raises(ValidationError):
        W.CreateInvitation(workspace_id=ws, role="viewer", bot_ids=[uuid.uuid4()] * 101)
    with pytest.raises(ValidationError):
        W.CreateInvitation(workspace_id=ws, role="viewer", expires_in_s=31 * 24 * 3600)


ROLE_BODY = {"workspace_id": str(uuid.uuid4()), "permissions": []}


@pytest.mark.parametrize(
    ("contract", "body", "said"),
    [
        (W.CreateWorkspace, {"name": "x" * 101}, "String should have at most 100 characters"),
        (W.CreateWorkspace, {"name": ""}, "String should have at least 1 character"),
        (W.CreateRole, {**ROLE_BODY, "name": "r" * 51}, "String should have at most 50 characters"),
    ],
)
def test_a_name_of_the_wrong_length_is_refused_in_characters(
    contract: type[Contract], body: dict[str, Any], said: str
) -> None:
    """The console turns "String should have at most N characters" into plain words; the
    collection wording ("at most 100 items after validation") it cannot."""
    with pytest.raises(ValidationError) as bad:
        contract.model_validate(body)
    assert [e["msg"] for e in bad.value.errors()] == [said]


def test_a_name_still_refuses_text_no_store_can_carry() -> None:
    with pytest.raises(ValidationError):
        W.CreateWorkspace(name="a\x00b")
    with pytest.raises(ValidationError):
        W.CreateRole(workspace_id=uuid.uuid4(), name="a\x00b", permissions=[])


# Contracts whose serving slice has not landed yet; each leaves this list by dropping its
# `planned` flag when its service serves it.
PLANNED = [
    spec
    for spec in (bots.CHECK_BOT_IDS, *system.WORKSPACE_PURGE_SPECS)
    if spec.planned
]


def test_planned_rpcs_are_declared_but_nobody_serves_or_may_call_them_yet() -> None:
    operations = asyncapi()["operations"]
    for spec in PLANNED:
        assert REGISTRY.planned[spec.subject] is spec
        assert spec.subject not in REGISTRY.rpcs
        assert spec.service in SERVICES
        assert spec.callers <= set(SERVICES)
        assert spec not in REGISTRY.served_by(spec.service)
        for service in SERVICES:
            allowed = service_permissions(REGISTRY, service)["publish"]["allow"]  # type: ignore[index]
            assert spec.subject not in allowed, (service, spec.subject)
        with pytest.raises(KeyError, match="unknown RPC"):
            REGISTRY.rpc(spec.subject)
        # their contracts are in the generated documents, marked
        assert operations[spec.subject.replace(".", "_")]["x-planned"] is True
    assert "x-planned" not in operations["rpc_auth_access_get"]
    assert "x-planned" not in operations["rpc_auth_me_get"]


def test_a_planned_subject_cannot_also_be_served() -> None:
    served = rpc("rpc.bot.thing", Empty, Empty, callers=["gateway"])
    planned = rpc("rpc.bot.thing", Empty, Empty, callers=["gateway"], planned=True)
    with pytest.raises(ValueError, match="declared twice"):
        Registry().add([served, planned])
    with pytest.raises(ValueError, match="declared twice"):
        Registry().add([planned, served])
