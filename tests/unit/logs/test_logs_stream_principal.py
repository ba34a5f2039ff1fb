"""What a live stream knows of its credential, without servers: the session, token and
expiry of a bearer token; revocations applied as the stream's consumer sees them; the
admission rules (revoked, expired, per-user cap); close codes the console mirrors."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from log_service.settings import Settings
from log_service.stream.auth import (
    EXPIRED_MESSAGE,
    AccessResolver,
    AuthFailed,
    JwtAuthenticator,
    Revocations,
    StreamPrincipal,
)
from log_service.stream.hub import Client, Hub
from proto.access import Access, AccessChanged, AccessSnapshot, Grant, WorkspaceGrant
from proto.access import permission_mask as mask
from proto.auth import ApiTokenPrincipal, ApiTokenRevoked, SessionRevoked, SessionsRevoked
from proto.events import event_subject
from proto.logs import StreamClose
from services.authn import AccessTokenVerifier, PersonalTokenCache
from tests.unit.auth.test_authn_verifier import Keys

ROOT = Path(__file__).resolve().parents[3]


async def _no_check(token: str) -> ApiTokenPrincipal:
    raise AssertionError("log-service never resolves personal tokens")


def _revocations(keys: Keys | None = None) -> Revocations:
    verifier = AccessTokenVerifier((keys or Keys()).fetch)
    return Revocations(verifier, PersonalTokenCache(_no_check, ttl_s=90))


def _subject(kind: str, owner: uuid.UUID) -> str:
    return event_subject("auth", owner, None, kind)


async def test_a_bearer_token_gives_its_session_and_when_it_stops_being_accepted() -> None:
    keys = Keys()
    user, sid = uuid.uuid4(), uuid.uuid4()
    exp = int(datetime.now(UTC).timestamp()) + 60
    auth = JwtAuthenticator(AccessTokenVerifier(keys.fetch))
    principal = await auth.verify(keys.token(user, sid=str(sid), exp=exp))
    assert (principal.user_id, principal.session_id, principal.token_id) == (user, sid, None)
    # The gateway accepts the token `leeway` seconds past `exp`: so does the stream.
    assert principal.expires_at == datetime.fromtimestamp(exp + 10, UTC)

    with pytest.raises(AuthFailed) as expired:
        await auth.verify(keys.token(user, exp=exp - 3600, iat=exp - 4000))
    assert expired.value.code == StreamClose.TOKEN_EXPIRED
    assert "fresh token" in str(expired.value)
    with pytest.raises(AuthFailed) as forged:
        await auth.verify("not.a.token")
    assert forged.value.code == StreamClose.UNAUTHORIZED


def test_revocation_events_end_the_principals_they_name_and_no_others() -> None:
    rev = _revocations()
    user, sid, other_sid, pat = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    session = StreamPrincipal(user, now, session_id=sid)
    other = StreamPrincipal(user, now, session_id=other_sid)
    by_pat = StreamPrincipal(user, now, token_id=pat)
    assert [rev.refused(p) for p in (session, other, by_pat)] == [None, None, None]

    logout = SessionRevoked(owner_id=user, session_id=sid)
    assert rev.apply(_subject("session_revoked", user), logout.model_dump_json().encode())
    assert rev.refused(session) == "this session was signed out"
    assert rev.refused(other) is None
    assert rev.refused(by_pat) is None

    revoked = ApiTokenRevoked(owner_id=user, token_id=pat)
    assert rev.apply(_subject("token_revoked", user), revoked.model_dump_json().encode())
    assert rev.refused(by_pat) == "the personal API token was revoked"
    assert rev.refused(other) is None

    everywhere = SessionsRevoked(owner_id=user, occurred_at=now + timedelta(seconds=1))
    assert rev.apply(_subject("sessions_revoked", user), everywhere.model_dump_json().encode())
    assert rev.refused(other) == "signed out everywhere"
    later = StreamPrincipal(user, now + timedelta(seconds=2), session_id=uuid.uuid4())
    assert rev.refused(later) is None
    # Anything else on the auth subjects is not a revocation.
    assert not rev.apply(_subject("user_updated", user), b"{}")


class _Fake(Client):
    def __init__(self, principal: StreamPrincipal) -> None:
        super().__init__(principal, 100)
        self.closed: tuple[int, str] | None = None

    def backlogged(self) -> bool:
        return False

    def half_full(self) -> bool:
        return False

    def deliver(self, frame: bytes) -> None:
        pass

    def shutdown(self, code: int, reason: str) -> None:
        self.closed = (code, reason)

    def backlog(self) -> str:
        return ""

    def buffered_bytes(self) -> int:
        return 0

    def abort(self) -> None:
        pass


async def _auth_down(user_id: uuid.UUID) -> AccessSnapshot:
    raise TimeoutError


def _hub(fetch: Any = _auth_down, **settings: Any) -> Hub:
    hub = Hub(None, None, Settings(**settings), _revocations(), AccessResolver(fetch))  # type: ignore[arg-type]
    hub.replayed = True
    return hub


async def test_admission_refuses_until_replayed_then_revoked_expired_and_over_the_cap() -> None:
    hub = _hub(stream_max_per_user=2)
    user, sid = uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    p = StreamPrincipal(user, now, session_id=sid, expires_at=now + timedelta(minutes=5))
    hub.replayed = False
    starting = hub.admission(p)
    assert starting is not None
    assert starting[0] == StreamClose.TRY_AGAIN
    hub.replayed = True
    first, second = _Fake(p), _Fake(p)
    for c in (first, second):
        assert hub.admission(p) is None
        hub.register(c)
    refused = hub.admission(p)
    assert refused is not None
    assert refused[0] == StreamClose.TOO_MANY_STREAMS
    assert "2 live streams" in refused[1]
    assert hub.admission(StreamPrincipal(uuid.uuid4(), now)) is None  # another user
    stale = StreamPrincipal(user, now, expires_at=now - timedelta(seconds=1))
    hub.unregister(second)
    assert hub.admission(stale) == (StreamClose.TOKEN_EXPIRED, EXPIRED_MESSAGE)

    # A logout seen on the stream closes that session's stream and refuses it from now on.
    logout = SessionRevoked(owner_id=user, session_id=sid).model_dump_json().encode()
    hub._revoked(str(user), _subject("session_revoked", user), logout)
    assert first.closed is not None
    assert first.closed[0] == StreamClose.UNAUTHORIZED
    assert hub.admission(p) == (StreamClose.UNAUTHORIZED, "this session was signed out")
    hub.unregister(first)
    assert first.expiry is None


async def test_an_expired_credential_closes_its_stream_with_4419() -> None:
    hub = _hub()
    now = datetime.now(UTC)
    client = _Fake(StreamPrincipal(uuid.uuid4(), now, expires_at=now + timedelta(hours=1)))
    hub.register(client)
    assert client.expiry is not None
    hub._expire(client)  # what the timer calls when the token's time is up
    assert client.closed is not None
    assert client.closed[0] == StreamClose.TOKEN_EXPIRED
    assert "reconnect with a fresh token" in client.closed[1]


def test_the_console_knows_the_close_codes() -> None:
    source = (ROOT / "web" / "src" / "api" / "stream.ts").read_text()
    found = {m[0]: int(m[1]) for m in re.findall(r"export const CLOSE_(\w+) = (\d+);", source)}
    assert found == {c.name: c.value for c in StreamClose}


def _grant(ws: uuid.UUID, *perms: str, bots: list[uuid.UUID] | None = None) -> Grant:
    return Grant(workspace_id=ws, role="viewer", permissions=mask(perms), bot_ids=bots or [])


def _changed(ws: uuid.UUID, user: uuid.UUID) -> bytes:
    event = AccessChanged(workspace_id=ws, users={user: 2}, reason="role")
    return event.model_dump_json().encode()


async def test_an_access_change_closes_with_4403_only_the_streams_that_lost_something() -> None:
    user, team, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    bot_a, bot_b = uuid.uuid4(), uuid.uuid4()
    now: dict[uuid.UUID, list[Grant]] = {}

    async def auth(user_id: uuid.UUID) -> AccessSnapshot:
        grants = [
            WorkspaceGrant(**g.model_dump(), name="ws", personal=False) for g in now[user_id]
        ]
        return AccessSnapshot(user_id=user_id, version=2, grants=grants)

    hub = _hub(auth)
    at = datetime.now(UTC)
    start = [_grant(team, "logs.view", bots=[bot_a, bot_b]), _grant(other, "logs.view")]
    now[user] = start
    principal = await hub.authorize(StreamPrincipal(user, at))
    team_only = await hub.authorize(StreamPrincipal(user, at, workspace_id=other))
    clients = [_Fake(principal), _Fake(team_only)]
    for c in clients:
        hub.register(c)
    assert clients[0].views == {str(team): frozenset({str(bot_a), str(bot_b)}), str(other): None}

    async def changed(ws: uuid.UUID, grants: list[Grant]) -> None:
        now[user] = grants
        hub._access_changed(_changed(ws, user))
        await asyncio.gather(*hub._rechecks)

    # More bots in the team: nothing lost, the stream stays.
    await changed(team, [_grant(team, "logs.view"), _grant(other, "logs.view")])
    assert [c.closed for c in clients] == [None, None]
    # One of its bots taken away: the stream showing the team closes; the one asked for
    # the other workspace does not show the team, and stays.
    await changed(team, [_grant(team, "logs.view", bots=[bot_a]), _grant(other, "logs.view")])
    assert clients[0].closed is not None
    assert clients[0].closed[0] == StreamClose.ACCESS_CHANGED == 4403
    assert "reconnect" in clients[0].closed[1]
    assert clients[1].closed is None
    # `logs.view` lost in the other workspace.
    await changed(other, [_grant(other, "bots.view")])
    assert clients[1].closed is not None
    assert clients[1].closed[0] == 4403


async def test_a_stream_whose_access_cannot_be_resolved_after_a_change_closes() -> None:
    user, team = uuid.uuid4(), uuid.uuid4()
    hub = _hub()  # auth-service does not answer
    ticket_access = Access(user_id=user, grants=[_grant(team, "logs.view")])
    at = datetime.now(UTC)
    principal = await hub.authorize(StreamPrincipal(user, at, access=ticket_access))
    # Auth down at open: the ticket's access (issued by the gateway just before) serves.
    assert principal.access == ticket_access
    client = _Fake(principal)
    hub.register(client)
    hub._access_changed(_changed(team, user))
    await asyncio.gather(*hub._rechecks)
    assert client.closed is not None
    assert client.closed[0] == 4403
    # A ticket issued before that change no longer counts: the personal workspace only,
    # so asking for the team is refused at open.
    stale = await hub.authorize(StreamPrincipal(user, at, workspace_id=team, access=ticket_access))
    assert stale.access is not None
    assert [g.workspace_id for g in stale.access.grants] == [user]
    refused = hub.admission(stale)
    assert refused is not None
    assert refused[0] == StreamClose.ACCESS_CHANGED
    assert "do not retry" in refused[1]


async def test_an_access_change_asks_auth_once_for_all_of_a_users_streams() -> None:
    user, team = uuid.uuid4(), uuid.uuid4()
    asked: list[uuid.UUID] = []

    async def auth(user_id: uuid.UUID) -> AccessSnapshot:
        asked.append(user_id)
        grant = WorkspaceGrant(**_grant(team, "logs.view").model_dump(), name="ws", personal=False)
        return AccessSnapshot(user_id=user_id, version=2, grants=[grant])

    hub = _hub(auth)
    at = datetime.now(UTC)
    tabs = [_Fake(await hub.authorize(StreamPrincipal(user, at))) for _ in range(3)]
    for c in tabs:
        hub.register(c)
    asked.clear()
    hub._access_changed(_changed(team, user))
    await asyncio.gather(*hub._rechecks)
    assert asked == [user]
    assert [c.closed for c in tabs] == [None, None, None]


async def test_a_stream_opened_before_a_join_was_heard_of_shows_the_workspace_joined() -> None:
    user, team, elsewhere = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    now: list[Grant] = [_grant(user, "logs.view")]
    answering = True

    async def auth(user_id: uuid.UUID) -> AccessSnapshot:
        if not answering:
            raise TimeoutError
        grants = [WorkspaceGrant(**g.model_dump(), name="ws", personal=False) for g in now]
        return AccessSnapshot(user_id=user_id, version=2, grants=grants)

    hub = _hub(auth)
    at = datetime.now(UTC)
    # The ticket carries what the gateway knew: the personal workspace only.
    stale = Access(user_id=user, grants=[_grant(user, "logs.view")])
    everything = _Fake(await hub.authorize(StreamPrincipal(user, at, access=stale)))
    pinned = _Fake(await hub.authorize(StreamPrincipal(user, at, workspace_id=user, access=stale)))
    for c in (everything, pinned):
        hub.register(c)
    assert str(team) not in hub.by_workspace

    # Auth-service does not answer the first change: the streams lose nothing, stay, and do
    # not show the team yet.
    answering = False
    now = [_grant(user, "logs.view"), _grant(team, "logs.view")]
    hub._access_changed(_changed(team, user))
    await asyncio.gather(*hub._rechecks)
    assert (everything.closed, pinned.closed) == (None, None)
    assert str(team) not in everything.views

    # It answers: the stream over every workspace now gets the team's events; the one asked
    # for the personal workspace does not.
    answering = True
    hub._access_changed(_changed(team, user))
    await asyncio.gather(*hub._rechecks)
    assert (everything.closed, pinned.closed) == (None, None)
    assert everything.sees(str(team), None)
    assert hub.by_workspace[str(team)] == {everything}
    assert not pinned.sees(str(team), None)
    # A change elsewhere that adds nothing leaves the index as it was.
    hub._access_changed(_changed(elsewhere, user))
    await asyncio.gather(*hub._rechecks)
    assert set(hub.by_workspace) == {str(user), str(team)}
    # Unregistering takes the widened stream out of the team's index too.
    hub.unregister(everything)
    assert hub.by_workspace.get(str(team)) is None
