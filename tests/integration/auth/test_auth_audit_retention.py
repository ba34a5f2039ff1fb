"""`rpc.auth.audit.retention` (#17): log-service's pruner asks how long each workspace keeps
its audit records; a workspace's admin sets it (`audit_retention_days`, default 365), and a
workspace auth-service does not have (deleted) is absent, so log-service keeps its own
default for it."""

from __future__ import annotations

import uuid

from proto.workspaces import (
    AUDIT_RETENTION_GET,
    WORKSPACE_CREATE,
    WORKSPACE_UPDATE,
    AuditRetentionQuery,
    CreateWorkspace,
    UpdateWorkspace,
)
from services.bus.rpc import RpcClient
from tests.fixtures.auth import sign_in


async def test_each_known_workspace_has_its_retention_and_others_none(stack, sandbox, nc) -> None:
    client, pruner = RpcClient(nc, "gateway", timeout_s=15.0), RpcClient(nc, "log")
    alice = await sign_in(stack.url, sandbox)
    ws = (
        await client.call(WORKSPACE_CREATE, CreateWorkspace(name="Kept"), user_id=alice.user_id)
    ).id
    await client.call(
        WORKSPACE_UPDATE,
        UpdateWorkspace(workspace_id=ws, audit_retention_days=45),
        user_id=alice.user_id,
    )
    gone = uuid.uuid4()
    query = AuditRetentionQuery(workspace_ids=[ws, alice.user_id, gone])
    answer = await pruner.call(AUDIT_RETENTION_GET, query)
    assert answer.days == {ws: 45, alice.user_id: 365}
    nothing = await pruner.call(AUDIT_RETENTION_GET, AuditRetentionQuery(workspace_ids=[]))
    assert nothing.days == {}
