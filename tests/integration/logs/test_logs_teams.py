"""log-service for teams (#17), with hand-built `bc-access` headers on the running service:
logs by workspace (404 / 403 naming `logs.view` / bot limits), the audit lane from the
`AUDIT` stream to `rpc.log.audit.list`, the workspace purge, and live streams closing
with 4403 within a second of an access change (and refused with it at open)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest

from proto.access import Access, AccessChanged, Grant, permission_mask
from proto.audit import AUDIT_LIST, AuditQuery, AuditRecord
from proto.errors import MISSING_PERMISSION, ErrorCode
from proto.events import new_event_id
from proto.logs import QUERY, STREAM_TICKET, LogQuery, StreamClose, StreamTicketRequest
from proto.system import PurgeWorkspace, workspace_purge_spec
from services.errors import RpcError
from tests.fixtures.infra import apoll
from tests.fixtures.logs import close_code, log_line, next_frame, open_stream, subscribe

PURGE = workspace_purge_spec("log")


def member(ws: uuid.UUID, *perms: str, bots: list[uuid.UUID] | None = None) -> Access:
    grant = Grant(
        workspace_id=ws, role="viewer", permissions=permission_mask(perms), bot_ids=bots or []
    )
    return Access(user_id=uuid.uuid4(), grants=[grant])


async def _denied(call: object) -> RpcError:
    with pytest.raises(RpcError) as caught:
        await call  # type: ignore[misc]
    return caught.value


async def test_logs_of_a_workspace_need_membership_and_logs_view_within_bot_limits(
    start_service, publisher, rpc
) -> None:
    start_service("log")
    team, personal, bot_a, bot_b = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    sent = [log_line(team, bot_a, "a"), log_line(team, bot_b, "b"), log_line(team, None, "ws")]
    sent.append(log_line(personal, None, "mine"))
    for ev in sent:
        await publisher.publish("log", ev.level, ev)
    viewer = member(team, "logs.view")

    async def stored() -> list[str]:
        page = await rpc.call(QUERY, LogQuery(workspace_id=team), access=viewer)
        return [i.message for i in page.items] if len(page.items) == 3 else []

    assert sorted(await apoll(stored, timeout_s=20, what="team events stored")) == ["a", "b", "ws"]
    page = await rpc.call(QUERY, LogQuery(workspace_id=team), access=viewer)
    assert {i.workspace_id for i in page.items} == {team}

    # A member limited to one bot sees that bot's events and the workspace's own.
    limited = member(team, "logs.view", bots=[bot_a])
    page = await rpc.call(QUERY, LogQuery(), access=limited)
    assert sorted(i.message for i in page.items) == ["a", "ws"]

    # Member without `logs.view`: 403 naming it; not a member: 404; no workspace named:
    # only the workspaces where the caller may view logs (none here).
    no_logs = member(team, "bots.view")
    err = await _denied(rpc.call(QUERY, LogQuery(workspace_id=team), access=no_logs))
    assert err.code == ErrorCode.FORBIDDEN
    assert err.details[MISSING_PERMISSION] == "logs.view"
    assert (await rpc.call(QUERY, LogQuery(), access=no_logs)).items == []
    stranger = member(uuid.uuid4(), "logs.view")
    err = await _denied(rpc.call(QUERY, LogQuery(workspace_id=team), access=stranger))
    assert err.code == ErrorCode.NOT_FOUND
    # The personal workspace's owner (a caller sending only their user id) sees theirs.
    assert [i.message for i in (await rpc.call(QUERY, LogQuery(), user_id=personal)).items] == [
        "mine"
    ]

    # The workspace purge removes the team's events only, and is idempotent.
    assert (await rpc.call(PURGE, PurgeWorkspace(workspace_id=team))).removed == 3
    assert (await rpc.call(PURGE, PurgeWorkspace(workspace_id=team))).removed == 0
    assert (await rpc.call(QUERY, LogQuery(workspace_id=team), access=viewer)).items == []
    assert len((await rpc.call(QUERY, LogQuery(), user_id=personal)).items) == 1


def audit_record(ws: uuid.UUID, n: int, action: str = "bot.start") -> AuditRecord:
    return AuditRecord(
        id=new_event_id(),
        at=datetime.now(UTC),
        actor_user_id=uuid.uuid4(),
        workspace_id=ws,
        action=action,
        target_type="bot",
        target_id=f"bot-{n}",
        changes={"n": n},
    )


async def test_audit_records_from_the_stream_are_listed_newest_first_with_filters(
    start_service, nc, rpc
) -> None:
    start_service("log")
    ws = uuid.uuid4()
    js = nc.jetstream()
    records = [audit_record(ws, n, "bot.stop" if n % 3 == 0 else "bot.start") for n in range(7)]
    for r in records:
        # What a service's outbox relay publishes (the record's id de-duplicates).
        await js.publish(
            f"aud.{ws}.bot", r.model_dump_json().encode(), headers={"Nats-Msg-Id": str(r.id)}
        )
    auditor = member(ws, "audit.view")

    async def listed() -> list[AuditRecord]:
        page = await rpc.call(AUDIT_LIST, AuditQuery(workspace_id=ws, limit=50), access=auditor)
        return page.items if len(page.items) == len(records) else []

    items = await apoll(listed, timeout_s=20, what="audit records chained and listed")
    assert [i.id for i in items] == [r.id for r in reversed(records)]
    assert items[0] == records[-1]

    first = await rpc.call(AUDIT_LIST, AuditQuery(workspace_id=ws, limit=4), access=auditor)
    assert first.head_seq == 7
    assert first.next_cursor is not None
    rest = await rpc.call(
        AUDIT_LIST, AuditQuery(workspace_id=ws, limit=4, cursor=first.next_cursor), access=auditor
    )
    assert [i.id for i in first.items + rest.items] == [r.id for r in reversed(records)]
    assert rest.next_cursor is None
    stops = await rpc.call(
        AUDIT_LIST, AuditQuery(workspace_id=ws, action="bot.stop"), access=auditor
    )
    assert [i.target_id for i in stops.items] == ["bot-6", "bot-3", "bot-0"]

    err = await _denied(
        rpc.call(AUDIT_LIST, AuditQuery(workspace_id=ws), access=member(ws, "logs.view"))
    )
    assert err.code == ErrorCode.FORBIDDEN
    assert err.details[MISSING_PERMISSION] == "audit.view"
    err = await _denied(
        rpc.call(AUDIT_LIST, AuditQuery(workspace_id=ws), access=member(uuid.uuid4(), "audit.view"))
    )
    assert err.code == ErrorCode.NOT_FOUND
    err = await _denied(
        rpc.call(AUDIT_LIST, AuditQuery(workspace_id=ws, cursor="nope"), access=auditor)
    )
    assert err.code == ErrorCode.INVALID


@pytest.mark.parametrize("server", ["picows", "asgi"])
async def test_an_access_change_closes_a_stream_with_4403_within_a_second(
    start_service, publisher, rpc, server
) -> None:
    log = start_service("log", LOG_STREAM_SERVER=server)
    team, bot = uuid.uuid4(), uuid.uuid4()
    access = member(team, "logs.view")
    user = access.user_id
    assert user is not None
    ticket = await rpc.call(STREAM_TICKET, StreamTicketRequest(workspace_id=team), access=access)
    ws = await open_stream(log.url, ticket=ticket.ticket)
    hello = await next_frame(ws)
    assert hello["workspace_ids"] == [str(team)]
    await subscribe(ws)
    line = log_line(team, bot, "team line")
    await publisher.publish("log", "info", line)
    while (frame := await next_frame(ws))["type"] != "event":
        pass
    assert frame["id"] == str(line.id)

    # A ticket issued now, before the change, must not open a stream after it.
    later = await rpc.call(STREAM_TICKET, StreamTicketRequest(workspace_id=team), access=access)
    # auth-service removes the member (it is not running here: the stream cannot learn its
    # new access, and closes rather than keep showing the team).
    changed = AccessChanged(workspace_id=team, users={user: 5}, reason="removed")
    started = time.monotonic()
    await publisher.publish("auth", "access_changed", changed)
    code, reason = await close_code(ws, timeout_s=5.0)
    assert code == StreamClose.ACCESS_CHANGED == 4403
    assert time.monotonic() - started < 1.0
    assert "reconnect" in reason

    again = await open_stream(log.url, ticket=later.ticket)
    code, reason = await close_code(again, timeout_s=5.0)
    assert code == 4403
    assert "do not retry" in reason

    # Asking for a workspace without `logs.view` there is refused when asking for a ticket.
    err = await _denied(
        rpc.call(STREAM_TICKET, StreamTicketRequest(workspace_id=team), access=member(team))
    )
    assert err.code == ErrorCode.FORBIDDEN
