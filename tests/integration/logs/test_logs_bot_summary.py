"""`rpc.log.summary` of one bot (`GET /v1/bots/{bot_id}/events/summary`) answers like every
other bot route (#17): 404 for a bot the caller cannot see (no member, or limited to other
bots), 403 naming `logs.view` without it, and 503 when bot-service, which alone knows the
bot's workspace, does not answer."""

from __future__ import annotations

import uuid

import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from proto.access import Access, Grant, permission_mask
from proto.bots import GET_BOT
from proto.errors import MISSING_PERMISSION, ErrorCode
from proto.logs import SUMMARY, SummaryQuery
from services.errors import RpcError
from tests.fixtures.infra import apoll
from tests.fixtures.logs import log_line


def member(ws: uuid.UUID, *perms: str, bots: list[uuid.UUID] | None = None) -> Access:
    """A member of `ws` and owner of their own personal workspace."""
    user = uuid.uuid4()
    own = Grant(workspace_id=user, role="owner", permissions=permission_mask(["logs.view"]))
    grant = Grant(
        workspace_id=ws, role="viewer", permissions=permission_mask(perms), bot_ids=bots or []
    )
    return Access(user_id=user, grants=[own, grant])


async def refused(call: object) -> RpcError:
    with pytest.raises(RpcError) as caught:
        await call  # type: ignore[misc]
    return caught.value


async def test_one_bots_summary_is_404_outside_reach_and_403_without_logs_view(
    start_service, publisher, rpc, bot_directory
) -> None:
    start_service("log")
    team, elsewhere = uuid.uuid4(), uuid.uuid4()
    bot, other_bot = bot_directory.add(team), bot_directory.add(team)
    for i in range(3):
        await publisher.publish("log", "error", log_line(team, bot, f"line {i}", "error"))
    viewer = member(team, "bots.view", "logs.view")

    async def counted() -> int:
        summary = await rpc.call(SUMMARY, SummaryQuery(bot_id=bot, bucket_s=0), access=viewer)
        return summary.total if summary.total == 3 else 0

    await apoll(counted, timeout_s=20, what="the bot's three lines counted")
    summary = await rpc.call(SUMMARY, SummaryQuery(bot_id=bot, workspace_id=team), access=viewer)
    assert summary.bot_id == bot
    assert {(c.kind, c.level, c.count) for c in summary.counts} == {("error", "error", 3)}

    # Not a member of the bot's workspace: the bot does not exist for them.
    outsider = member(elsewhere, "bots.view", "logs.view")
    gone = await refused(rpc.call(SUMMARY, SummaryQuery(bot_id=bot), access=outsider))
    assert gone.code is ErrorCode.NOT_FOUND
    # A member limited to another bot of the workspace: the same.
    limited = member(team, "bots.view", "logs.view", bots=[other_bot])
    gone = await refused(rpc.call(SUMMARY, SummaryQuery(bot_id=bot), access=limited))
    assert gone.code is ErrorCode.NOT_FOUND
    # A bot that does not exist at all answers exactly like one out of reach.
    unknown = await refused(rpc.call(SUMMARY, SummaryQuery(bot_id=uuid.uuid4()), access=viewer))
    assert (unknown.code, unknown.message) == (gone.code, gone.message)
    # The bot exists, but not in the workspace asked for.
    moved = await refused(
        rpc.call(SUMMARY, SummaryQuery(bot_id=bot, workspace_id=viewer.user_id), access=viewer)
    )
    assert moved.code is ErrorCode.NOT_FOUND

    # A member who sees the bot but may not read its logs: 403 naming the permission.
    blind = member(team, "bots.view", "bots.control")
    denied = await refused(rpc.call(SUMMARY, SummaryQuery(bot_id=bot), access=blind))
    assert denied.code is ErrorCode.FORBIDDEN
    assert denied.details[MISSING_PERMISSION] == "logs.view"


async def test_one_bots_summary_is_503_when_bot_service_does_not_answer(
    start_service, rpc, nc: NATS
) -> None:
    start_service("log")
    viewer = member(uuid.uuid4(), "bots.view", "logs.view")
    query = SummaryQuery(bot_id=uuid.uuid4())
    # Nobody serves `rpc.bot.get`.
    down = await refused(rpc.call(SUMMARY, query, access=viewer))
    assert down.code is ErrorCode.UNAVAILABLE
    assert "bot service" in down.message

    # Someone listens but never answers.
    async def silent(msg: Msg) -> None:
        return None

    sub = await nc.subscribe(GET_BOT.subject, cb=silent)
    try:
        hung = await refused(rpc.call(SUMMARY, query, access=viewer))
        assert hung.code is ErrorCode.UNAVAILABLE
        assert "did not answer" in hung.message
    finally:
        await sub.unsubscribe()
    # All of the caller's events need no bot-service.
    assert (await rpc.call(SUMMARY, SummaryQuery(), access=viewer)).total == 0
