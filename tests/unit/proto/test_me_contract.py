"""`GET /v1/me` (#17): its shape is one contract in proto/ (`Me` with `MyWorkspace`), the
gateway answers with it, and the console's generated types come from it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import orjson

from gateway.auth import Principal
from gateway.routes.auth import my_workspaces, router
from proto.access import (
    ALL_PERMISSIONS_MASK,
    AccessSnapshot,
    Grant,
    WorkspaceGrant,
    permission_mask,
)
from proto.access import Access as AccessModel
from proto.export import json_schemas
from proto.workspaces import Me, MyWorkspace

ROOT = Path(__file__).resolve().parents[3]


def test_the_gateway_answers_get_me_with_the_proto_contract() -> None:
    (route,) = [
        r
        for r in router.routes
        if getattr(r, "path", "") == "/v1/me" and "GET" in getattr(r, "methods", set())
    ]
    assert route.response_model is Me  # type: ignore[attr-defined]


def test_the_workspaces_the_gateway_lists_are_valid_my_workspaces() -> None:
    user, team, bot = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    limited = Grant(
        workspace_id=team,
        role="operator",
        permissions=permission_mask(["bots.view"]),
        bot_ids=[bot],
    )
    own = Grant(workspace_id=user, role="owner", permissions=ALL_PERMISSIONS_MASK)
    snapshot = AccessSnapshot(
        user_id=user,
        version=3,
        grants=[
            WorkspaceGrant(**own.model_dump(), name="Personal", personal=True),
            WorkspaceGrant(**limited.model_dump(), name="Ops", personal=False),
        ],
    )
    principal = Principal(
        user_id=user,
        kind="session",
        scopes=frozenset(),
        access=AccessModel(user_id=user, grants=[own, limited]),
        snapshot=snapshot,
    )
    me = Me.model_validate(
        {
            "id": user,
            "display_name": "A",
            "created_at": datetime.now(UTC),
            "workspaces": my_workspaces(principal),
        }
    )
    assert me.workspaces[1] == MyWorkspace(
        id=team,
        name="Ops",
        personal=False,
        role="operator",
        permissions=["bots.view"],
        bot_ids=[bot],
    )


def test_me_is_exported_for_the_console_types() -> None:
    schema = json_schemas()["Me"]
    assert "MyWorkspace" in schema["$defs"]
    written = orjson.loads((ROOT / "proto/schema/Me.json").read_bytes())
    assert written == schema
    assert "export type MyWorkspace = {" in (ROOT / "web/src/api/schema.gen.ts").read_text()
