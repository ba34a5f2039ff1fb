"""The audit trail's retention on a running log-service (#17): its pruner loop drops the
records older than the retention and the chain still verifies from its checkpoint
(`botcenter audit verify`).

The workspace here is one auth-service does not have (a deleted one), so it keeps its
records for `LOG_AUDIT_RETENTION_DAYS`; a workspace's own retention is applied in
test_logs_workspaces_db.py. A stand-in answers `rpc.auth.audit.retention` as auth-service
does for such a workspace (nothing known), so this test holds whether or not a real
auth-service shares the session's NATS."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from proto.access import Access, Grant, permission_mask
from proto.audit import AUDIT_LIST, AuditQuery, AuditRecord
from proto.events import new_event_id
from proto.workspaces import AUDIT_RETENTION_GET, AuditRetentionQuery, AuditRetentions
from services.devstack.cli import verify_audit
from tests.fixtures.infra import apoll


async def test_the_pruner_loop_drops_records_past_retention_and_the_chain_verifies(
    start_service, nc, rpc, infra
) -> None:
    asked: list[AuditRetentionQuery] = []

    async def auth(msg: Any) -> None:
        asked.append(AuditRetentionQuery.model_validate_json(msg.data))
        await msg.respond(AuditRetentions(days={}).model_dump_json().encode())

    sub = await nc.subscribe(AUDIT_RETENTION_GET.subject, cb=auth)
    await nc.flush()
    try:
        start_service("log", LOG_AUDIT_RETENTION_DAYS="60", LOG_AUDIT_PRUNE_INTERVAL_S="0.5")
        ws, now = uuid.uuid4(), datetime.now(UTC)
        js = nc.jetstream()
        records = [
            AuditRecord(
                id=new_event_id(),
                at=now - timedelta(days=age),
                actor_user_id=uuid.uuid4(),
                workspace_id=ws,
                action="bot.start",
                target_type="bot",
                target_id=f"aged-{age}",
            )
            for age in (400, 100, 61, 59, 1)
        ]
        for r in records:
            await js.publish(
                f"aud.{ws}.bot", r.model_dump_json().encode(), headers={"Nats-Msg-Id": str(r.id)}
            )
        grant = Grant(workspace_id=ws, role="viewer", permissions=permission_mask(["audit.view"]))
        auditor = Access(user_id=uuid.uuid4(), grants=[grant])

        async def kept() -> list[str]:
            page = await rpc.call(AUDIT_LIST, AuditQuery(workspace_id=ws), access=auditor)
            ids = [str(i.target_id) for i in page.items]
            return ids if ids == ["aged-1", "aged-59"] else []

        await apoll(kept, timeout_s=20, what="records older than 60 days pruned")
    finally:
        await sub.unsubscribe()
    assert any(ws in q.workspace_ids for q in asked)
    [(ok, line)] = await verify_audit(infra.database_url, ws)
    assert ok, line
    assert line.startswith(f"OK {ws} 2 rows head ")
