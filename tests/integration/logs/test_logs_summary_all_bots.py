"""`GET /v1/events/summary` through the gateway, signed in for real: counts per kind and level
(and per minute) over all of the caller's bots — never another user's events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.fixtures.auth import sign_in
from tests.fixtures.infra import apoll
from tests.fixtures.logs import log_line

LEVELS = {"debug", "info", "warning", "error", "critical"}


def _log_counts(summary: dict[str, Any]) -> dict[str, int]:
    """Counts of the log lines (kind = level) by level; sign-in events have other kinds."""
    out: dict[str, int] = {}
    for c in summary["counts"]:
        if c["kind"] in LEVELS:
            out[c["level"]] = out.get(c["level"], 0) + c["count"]
    return out


async def test_all_bots_summary_counts_only_the_callers_events(
    auth_stack, sandbox, start_service, publisher, bot_directory
) -> None:
    start_service("log")
    alice = await sign_in(auth_stack.url, sandbox)
    bob = await sign_in(auth_stack.url, sandbox)
    bot1, bot2 = bot_directory.add(alice.user_id), bot_directory.add(alice.user_id)
    bobs_bot = bot_directory.add(bob.user_id)
    lines = [
        log_line(alice.user_id, bot1, "a", "info"),
        log_line(alice.user_id, bot1, "b", "info"),
        log_line(alice.user_id, bot1, "c", "error"),
        log_line(alice.user_id, bot2, "d", "warning"),
        log_line(bob.user_id, bobs_bot, "bob 1", "critical"),
        log_line(bob.user_id, bobs_bot, "bob 2", "critical"),
    ]
    for ev in lines:
        await publisher.publish("log", ev.level, ev)

    async with httpx.AsyncClient(base_url=auth_stack.url, headers=alice.headers) as api:

        async def stored() -> dict[str, Any] | None:
            answer = await api.get("/v1/events/summary", params={"bucket_s": 60})
            assert answer.status_code == 200, answer.text
            body: dict[str, Any] = answer.json()
            return body if sum(_log_counts(body).values()) == 4 else None

        summary = await apoll(stored, timeout_s=20, what="alice's four log lines counted")
        assert summary["bot_id"] is None
        # Both of alice's bots, none of bob's critical lines.
        assert _log_counts(summary) == {"info": 2, "error": 1, "warning": 1}
        assert summary["total"] == sum(c["count"] for c in summary["counts"])
        # The per-minute series adds up to the totals, in buckets aligned on `since`.
        since = datetime.fromisoformat(summary["since"])
        in_series = 0
        for bucket in summary["series"]:
            start = datetime.fromisoformat(bucket["start"])
            assert (start - since).total_seconds() % 60 == 0
            in_series += sum(c["count"] for c in bucket["counts"])
        assert in_series == summary["total"]
        # The same as the total the history lists without a bot filter.
        listed = (await api.get("/v1/logs", params={"limit": 1000})).json()["items"]
        assert len(listed) == summary["total"]

        # The per-bot route still answers for one bot only.
        one = (await api.get(f"/v1/bots/{bot2}/events/summary")).json()
        assert one["bot_id"] == str(bot2)
        assert _log_counts(one) == {"warning": 1}

        # Windows and buckets: totals only, an empty past window, refused parameters.
        totals = (await api.get("/v1/events/summary", params={"bucket_s": 0})).json()
        assert totals["series"] == []
        assert totals["total"] == summary["total"]
        past = datetime.now(UTC) - timedelta(days=3)
        empty = await api.get(
            "/v1/events/summary",
            params={"since": past.isoformat(), "until": (past + timedelta(hours=1)).isoformat()},
        )
        assert empty.status_code == 200, empty.text
        assert empty.json()["total"] == 0
        backwards = await api.get(
            "/v1/events/summary",
            params={"since": datetime.now(UTC).isoformat(), "until": past.isoformat()},
        )
        assert backwards.status_code == 422
        assert backwards.json()["error"]["fields"][0]["loc"][-1] == "since"
        too_many = await api.get("/v1/events/summary", params={"bucket_s": 1})
        assert too_many.status_code == 422
        assert too_many.json()["error"]["fields"][0]["loc"][-1] == "bucket_s"
        assert (await api.get("/v1/events/summary", params={"bucket_s": -1})).status_code == 422

    # Bob sees his own lines only.
    async with httpx.AsyncClient(base_url=auth_stack.url, headers=bob.headers) as api:

        async def bobs() -> dict[str, int] | None:
            counts = _log_counts((await api.get("/v1/events/summary")).json())
            return counts if sum(counts.values()) >= 2 else None

        assert await apoll(bobs, timeout_s=20, what="bob's lines") == {"critical": 2}

    async with httpx.AsyncClient(base_url=auth_stack.url) as anon:
        assert (await anon.get("/v1/events/summary")).status_code == 401


async def test_all_bots_summary_of_one_workspace(
    auth_stack, sandbox, start_service, publisher
) -> None:
    """`?workspace_id=` (the console's Logs chart with a workspace chosen): that workspace's
    events only; another user's workspace is 404, as on every list route."""
    start_service("log")
    alice = await sign_in(auth_stack.url, sandbox)
    bob = await sign_in(auth_stack.url, sandbox)
    async with httpx.AsyncClient(base_url=auth_stack.url, headers=alice.headers) as api:
        team = (await api.post("/v1/workspaces", json={"name": "Ops"})).json()["id"]
        for ev in (
            log_line(alice.user_id, uuid.uuid4(), "mine", "info"),
            log_line(uuid.UUID(team), uuid.uuid4(), "team 1", "error"),
            log_line(uuid.UUID(team), uuid.uuid4(), "team 2", "error"),
        ):
            await publisher.publish("log", ev.level, ev)

        async def counted(workspace: str, n: int) -> dict[str, int] | None:
            answer = await api.get("/v1/events/summary", params={"workspace_id": workspace})
            if answer.status_code == 404:  # the new workspace is not in alice's access yet
                return None
            assert answer.status_code == 200, answer.text
            counts = _log_counts(answer.json())
            return counts if sum(counts.values()) >= n else None

        assert await apoll(lambda: counted(team, 2), timeout_s=20, what="team lines") == {
            "error": 2
        }
        assert await apoll(
            lambda: counted(str(alice.user_id), 1), timeout_s=20, what="personal line"
        ) == {"info": 1}
    async with httpx.AsyncClient(base_url=auth_stack.url, headers=bob.headers) as api:
        theirs = await api.get("/v1/events/summary", params={"workspace_id": team})
        assert theirs.status_code == 404, theirs.text
