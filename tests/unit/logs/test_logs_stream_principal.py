"""What a live stream knows of its credential, without servers: the session, token and
expiry of a bearer token; revocations applied as the stream's consumer sees them; the
admission rules (revoked, expired, per-user cap); close codes the console mirrors."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from log_service.settings import Settings
from log_service.stream.auth import (
    EXPIRED_MESSAGE,
    AuthFailed,
    JwtAuthenticator,
    Revocations,
    StreamPrincipal,
)
from log_service.stream.hub import Client, Hub
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


def _hub(**settings: Any) -> Hub:
    hub = Hub(None, None, Settings(**settings), _revocations())  # type: ignore[arg-type]
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
