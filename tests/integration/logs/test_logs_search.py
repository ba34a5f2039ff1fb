"""History search through the gateway: substrings (not whole words), `%`, `_` and `\\`
taken literally, and the `since`/`until` time range with plain 422s for bad values."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx

from proto.logs import LogRecorded
from tests.fixtures.auth import sign_in
from tests.fixtures.infra import apoll


def _line(owner: uuid.UUID, bot: uuid.UUID, message: str, at: datetime) -> LogRecorded:
    return LogRecorded(owner_id=owner, bot_id=bot, message=message, level="info", occurred_at=at)


async def test_search_matches_substrings_literally_within_a_time_range(
    auth_stack, sandbox, start_service, publisher
) -> None:
    start_service("log")
    alice = await sign_in(auth_stack.url, sandbox)
    bob = await sign_in(auth_stack.url, sandbox)
    bot = uuid.uuid4()
    now = datetime.now(UTC)
    old = now - timedelta(hours=2)
    messages = {
        "command /greet: ok in 3.1 ms": now,
        "command /ask failed: timeout": now,
        "Greeting sent to #general": now,
        "disk 50% full": now,
        "disk 500 blocks free": now,
        "set user_name": now,
        "set username": now,
        "path C:\\bots\\x": now,
        "command /greet: ok in 2 ms (two hours ago)": old,
    }
    for message, at in messages.items():
        ev = _line(alice.user_id, bot, message, at)
        await publisher.publish("log", ev.level, ev)
    theirs = _line(bob.user_id, uuid.uuid4(), "bob's /greet", now)
    await publisher.publish("log", theirs.level, theirs)

    async with httpx.AsyncClient(base_url=auth_stack.url, headers=alice.headers) as api:

        async def found(q: str, **params: str) -> list[str]:
            page = await api.get("/v1/logs", params={"q": q, **params})
            assert page.status_code == 200, page.text
            return sorted(i["message"] for i in page.json()["items"])

        async def all_stored() -> bool:
            return len((await api.get("/v1/logs")).json()["items"]) == len(messages)

        await apoll(all_stored, timeout_s=20, what="alice's lines stored")

        # A part of a word finds it, whatever the case; bob's line stays his.
        assert await found("greet") == [
            "Greeting sent to #general",
            "command /greet: ok in 2 ms (two hours ago)",
            "command /greet: ok in 3.1 ms",
        ]
        assert await found("GREET") == await found("greet")
        assert await found("/ask") == ["command /ask failed: timeout"]
        assert await found("ed: tim") == ["command /ask failed: timeout"]
        # LIKE's wildcards and escape are plain characters in a search.
        assert await found("50%") == ["disk 50% full"]
        assert await found("r_n") == ["set user_name"]
        assert await found("%") == ["disk 50% full"]
        assert await found("\\bots") == ["path C:\\bots\\x"]
        assert await found("nothing like it") == []

        # The time range: since (inclusive) .. until (exclusive), ISO 8601.
        recent = {"since": (now - timedelta(minutes=15)).isoformat()}
        assert await found("greet", **recent) == [
            "Greeting sent to #general",
            "command /greet: ok in 3.1 ms",
        ]
        earlier = {
            "since": (now - timedelta(hours=3)).isoformat(),
            "until": (now - timedelta(hours=1)).isoformat(),
        }
        assert await found("", **earlier) == ["command /greet: ok in 2 ms (two hours ago)"]
        # No offset means UTC; "Z" works too.
        naive = (now - timedelta(hours=3)).replace(tzinfo=None).isoformat()
        zulu = (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert await found("", since=naive, until=zulu) == [
            "command /greet: ok in 2 ms (two hours ago)"
        ]

        # Bad values: 422 with a message a person can act on, never a 500.
        bad = await api.get("/v1/logs", params={"since": "yesterday"})
        assert bad.status_code == 422
        assert bad.json()["error"]["message"] == (
            "invalid query.since: should be a date and time in ISO 8601, like 2026-12-07T10:00:00Z"
        )
        backwards = await api.get(
            "/v1/logs", params={"since": now.isoformat(), "until": old.isoformat()}
        )
        assert backwards.status_code == 422
        assert "since must be before until" in backwards.json()["error"]["message"]
        too_long = await api.get("/v1/logs", params={"q": "x" * 257})
        assert too_long.status_code == 422
        bad_summary = await api.get("/v1/events/summary", params={"until": "12/07/2026"})
        assert bad_summary.status_code == 422
        assert "ISO 8601" in bad_summary.json()["error"]["message"]
