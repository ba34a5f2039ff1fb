"""The live stream: one ordered JetStream consumer per replica fans events out to websockets.

- Isolation: the workspace id is a subject token; a client sees the events of the
  workspaces where it may view logs (`views`, resolved at open from auth-service), within
  its bot limit there. Clients are indexed by workspace for delivery and by user for caps,
  revocations and access changes.
- Each event is rendered once per workspace (not per connection) and offered to that
  workspace's clients; a client whose bounded queue is full is closed with 1013 and its
  queue freed.
- Access changes (#17): an `access_changed` event naming a user re-resolves each of the
  user's streams; one that would lose a workspace or bots it showed (or, showing that
  workspace, whose access cannot be resolved within half a second) closes with 4403, the
  others widen to what the user may now see (a workspace joined shows at once, even on a
  stream opened with a ticket issued before the gateway heard of the join). A stream asked
  for a workspace the caller may not view is refused with 4403 at open.
- Resume: with `last_event_id` the client is replayed (from the table for what JetStream
  no longer has, then from JetStream) while live events for it are held in a bounded
  buffer; both carry the stream sequence, so the hand-over has no gap and no duplicate.
- A stream lives no longer than its credential: a revocation event for its owner
  (`session_revoked`: logout or refresh-token reuse; `sessions_revoked`: sign out
  everywhere; `token_revoked`) re-checks each of the owner's streams and closes those it
  ends with 4401; a timer closes a stream when its token expires (4419: reconnect with a
  fresh token). `admission` refuses a stream before it is registered (revoked, expired,
  not replayed yet, too many streams on this server or for this user), with no await
  between the check and the registration, so concurrent opens cannot overshoot a cap.
- Close codes: `proto.logs.StreamClose`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

import orjson
from starlette.websockets import WebSocket

from log_service import metrics, service
from log_service.service import may_need_redaction, redact_value
from log_service.settings import Settings
from log_service.stream.auth import (
    ACCESS_CHANGED_MESSAGE,
    EXPIRED_MESSAGE,
    NO_WORKSPACE_MESSAGE,
    AccessResolver,
    Revocations,
    StreamPrincipal,
    Views,
    narrowed,
    views_of,
)
from proto.access import AccessChanged
from proto.logs import LEVELS, StreamClose, StreamSubscribe
from services.authn import REVOCATION_KINDS
from services.bus.events import STREAM
from services.bus.jetstream import Following, JetStream, Msg, first_seq, follow_new, replay
from services.db.engine import Database

log = logging.getLogger(__name__)

CLOSE_TOO_SLOW = StreamClose.TRY_AGAIN
CLOSE_REVOKED = StreamClose.UNAUTHORIZED
ACCESS_CHANGED = "access_changed"
Mode = Literal["idle", "replaying", "live"]


def render(
    seq: int, domain: str, bot: str | None, kind: str, data: bytes | str
) -> tuple[bytes, str, str]:
    """(frame, level, event id) of one event; the frame is sent as is to every matching client."""
    raw = data.encode() if isinstance(data, str) else data
    body = orjson.loads(raw)
    text = raw.decode("utf-8", errors="replace")
    if may_need_redaction(text):
        raw = orjson.dumps(redact_value(body))
    level = body.get("level")
    if level not in LEVELS:
        level = "info"
    event_id = str(body.get("id", ""))
    frame = b"".join(
        (
            b'{"type":"event","seq":',
            str(seq).encode(),
            b',"id":',
            orjson.dumps(event_id),
            b',"domain":',
            orjson.dumps(domain),
            b',"kind":',
            orjson.dumps(kind),
            b',"bot_id":',
            orjson.dumps(bot),
            b',"event":',
            raw,
            b"}",
        )
    )
    return frame, level, event_id


def _event_id(data: bytes) -> str:
    try:
        return str(orjson.loads(data).get("id", ""))
    except (orjson.JSONDecodeError, AttributeError):
        return ""


def uuid7_time(event_id: UUID) -> datetime:
    ms = int.from_bytes(event_id.bytes[:6], "big")
    return datetime.fromtimestamp(ms / 1000, UTC)


@dataclass
class Filters:
    bot_ids: frozenset[str] | None = None
    kinds: frozenset[str] | None = None
    levels: frozenset[str] | None = None
    domains: frozenset[str] | None = None
    everything: bool = field(init=False, default=True)

    @classmethod
    def of(cls, sub: StreamSubscribe) -> Filters:
        def opt(values: list[Any]) -> frozenset[str] | None:
            return frozenset(str(v) for v in values) if values else None

        return cls(opt(sub.bot_ids), opt(sub.kinds), opt(sub.levels), opt(sub.domains))

    def __post_init__(self) -> None:
        self.everything = (
            self.bot_ids is None
            and self.kinds is None
            and self.levels is None
            and self.domains is None
        )

    def match(self, domain: str, bot: str | None, kind: str, level: str) -> bool:
        return (
            (self.bot_ids is None or (bot is not None and bot in self.bot_ids))
            and (self.kinds is None or kind in self.kinds)
            and (self.levels is None or level in self.levels)
            and (self.domains is None or domain in self.domains)
        )


_sent = [0]


def _count_sent(n: int = 1) -> None:
    # Counting each delivery on the Prometheus counter costs more than the send itself.
    _sent[0] += n
    if _sent[0] >= 1000:
        metrics.STREAM_SENT.inc(_sent[0])
        _sent[0] = 0


def stream_seq(reply: str) -> int:
    """The stream sequence in a JetStream delivery's reply subject (cheaper than
    `msg.metadata`, which also builds timestamps): `$JS.ACK.<stream>.<consumer>.<delivered>.
    <sseq>...` (9 tokens), or with a domain and account hash first (11 or 12 tokens)."""
    tokens = reply.split(".")
    return int(tokens[5] if len(tokens) == 9 else tokens[7])


class Client:
    """One subscriber's state; subclasses say how frames reach the socket."""

    def __init__(self, principal: StreamPrincipal, buffer_max: int) -> None:
        self.principal = principal
        self.buffer_max = buffer_max
        self.filters = Filters()
        self.mode: Mode = "idle"
        self.last_seq = 0
        self.buffer: list[tuple[int, bytes]] = []
        self.closing = False
        self.room = asyncio.Event()
        self.room.set()
        self.subscribed = False
        self.resume: asyncio.Task[None] | None = None
        self.expiry: asyncio.TimerHandle | None = None
        self.user = str(principal.user_id)
        self.views: Views = (
            views_of(principal.access, principal.workspace_id)
            if principal.access is not None
            else {}
        )

    def sees(self, workspace: str, bot: str | None) -> bool:
        """An event of this workspace and bot is within the client's access."""
        return workspace in self.views and not self.outside_bots(workspace, bot)

    def outside_bots(self, workspace: str, bot: str | None) -> bool:
        """The event is of a bot this client's membership there is limited away from (the
        dispatcher offers only events of the client's workspaces). Events of no bot
        (account, workspace) are visible to a bot-limited member, as the table's row-level
        security has it."""
        bots = self.views.get(workspace)
        return bots is not None and bot is not None and bot not in bots

    # -- what a transport provides -------------------------------------------------------
    def backlogged(self) -> bool:
        """True when the client is too far behind to take another frame."""
        raise NotImplementedError

    def half_full(self) -> bool:
        raise NotImplementedError

    def deliver(self, frame: bytes) -> None:
        raise NotImplementedError

    def shutdown(self, code: int, reason: str) -> None:
        raise NotImplementedError

    def backlog(self) -> str:
        raise NotImplementedError

    def buffered_bytes(self) -> int:
        raise NotImplementedError

    def abort(self) -> None:
        """At shutdown: drop the connection without waiting for a slow reader."""
        raise NotImplementedError

    # -- shared rules ----------------------------------------------------------------------
    def offer(
        self,
        seq: int,
        workspace: str,
        domain: str,
        bot: str | None,
        kind: str,
        level: str,
        frame: bytes,
    ) -> bool:
        """A live event (called by the dispatcher, never awaits); True if it was sent."""
        if self.closing or seq <= self.last_seq:
            return False
        if self.outside_bots(workspace, bot):
            return False
        filters = self.filters
        if not filters.everything and not filters.match(domain, bot, kind, level):
            return False
        if self.mode == "live":
            if self.backlogged():
                metrics.STREAM_SLOW_CLOSED.inc()
                self.close(
                    CLOSE_TOO_SLOW,
                    f"too slow: {self.backlog()} waiting; reconnect with last_event_id",
                )
                return False
            self.deliver(frame)
            self.last_seq = seq
            return True
        if self.mode == "replaying":
            if len(self.buffer) >= self.buffer_max:
                self.close(
                    CLOSE_TOO_SLOW, "fell behind while catching up; reconnect with last_event_id"
                )
            else:
                self.buffer.append((seq, frame))
        return False

    def push(self, frame: bytes, seq: int | None = None, *, force: bool = False) -> None:
        if self.closing:
            return
        if not force and self.backlogged():
            metrics.STREAM_SLOW_CLOSED.inc()
            self.close(
                CLOSE_TOO_SLOW, f"too slow: {self.backlog()} waiting; reconnect with last_event_id"
            )
            return
        self.deliver(frame)
        _count_sent()
        if seq is not None:
            self.last_seq = seq

    def control(self, message: dict[str, Any]) -> None:
        self.push(orjson.dumps(message), force=True)

    async def wait_room(self) -> None:
        while not self.closing and self.half_full():
            self.room.clear()
            await self.room.wait()

    def close(self, code: int, reason: str) -> None:
        if self.closing:
            return
        self.closing = True
        self.room.set()
        self.buffer.clear()
        if self.resume is not None:
            self.resume.cancel()
        self.shutdown(code, reason[:120])


class AsgiClient(Client):
    """A client of the Starlette route: a bounded queue drained by one writer task."""

    def __init__(
        self, ws: WebSocket, principal: StreamPrincipal, queue_max: int, buffer_max: int
    ) -> None:
        super().__init__(principal, buffer_max)
        self.ws = ws
        self.queue_max = queue_max
        self.queue: deque[bytes] = deque()
        self.wake = asyncio.Event()
        self.writer: asyncio.Task[None] | None = None
        self.closer: asyncio.Task[None] | None = None

    def backlogged(self) -> bool:
        return len(self.queue) >= self.queue_max

    def half_full(self) -> bool:
        return len(self.queue) >= self.queue_max // 2

    def backlog(self) -> str:
        return f"{len(self.queue)} events"

    def buffered_bytes(self) -> int:
        return sum(len(f) for f in self.queue)

    def abort(self) -> None:
        for task in (self.writer, self.closer):
            if task is not None:
                task.cancel()

    def deliver(self, frame: bytes) -> None:
        self.queue.append(frame)
        self.wake.set()

    async def write_loop(self) -> None:
        while True:
            while self.queue:
                frame = self.queue.popleft()
                await self.ws.send_text(frame.decode())
                if len(self.queue) < self.queue_max // 2:
                    self.room.set()
            self.room.set()
            self.wake.clear()
            await self.wake.wait()

    def shutdown(self, code: int, reason: str) -> None:
        self.closer = asyncio.create_task(self._close(code, reason), name="stream-close")

    async def _close(self, code: int, reason: str) -> None:
        if self.writer is not None:
            self.writer.cancel()
            with contextlib.suppress(BaseException):
                await self.writer
        self.queue.clear()
        # Sent when the client's socket accepts data again; a client that never reads again
        # is cut by the server's keepalive ping timeout. The backlog is already freed.
        with contextlib.suppress(Exception):
            await self.ws.close(code=code, reason=reason)


@dataclass(eq=False)
class Hub:
    js: JetStream
    db: Database
    settings: Settings
    revocations: Revocations
    resolver: AccessResolver
    by_user: dict[str, set[Client]] = field(default_factory=dict, init=False)
    by_workspace: dict[str, set[Client]] = field(default_factory=dict, init=False)
    # Set once the revocations of the last token lifetime are replayed: no stream is
    # accepted before (a restarted replica would let signed-out tokens in).
    replayed: bool = field(default=False, init=False)
    live_seq: int = field(default=0, init=False)
    count: int = field(default=0, init=False)
    yield_per_event: bool = field(init=False)
    _following: Following | None = field(default=None, init=False, repr=False)
    _rechecks: set[asyncio.Task[None]] = field(default_factory=set, init=False, repr=False)

    def __post_init__(self) -> None:
        self.yield_per_event = self.settings.stream_server == "asgi"

    async def start(self) -> None:
        # Each replica follows the stream itself (new events only), with stream sequences.
        self._following = await follow_new(
            self.js, "evt.>", stream=STREAM, cb=self._on_msg, pending_msgs_limit=100_000
        )

    async def stop(self) -> None:
        if self._following is not None:
            await self._following.stop()
        for task in list(self._rechecks):
            task.cancel()
        for clients in list(self.by_user.values()):
            for c in list(clients):
                c.close(1001, "server shutting down")
                c.abort()

    async def _on_msg(self, msg: Msg) -> None:
        if not msg.reply:
            return
        seq = stream_seq(msg.reply)
        self.live_seq = seq
        parts = msg.subject.split(".")
        if len(parts) != 5:
            return
        _, domain, workspace, bot_part, kind = parts
        if domain == "auth":
            if kind in REVOCATION_KINDS:
                # A person's events go to their personal workspace, whose id is theirs.
                self._revoked(workspace, msg.subject, msg.data)
            elif kind == ACCESS_CHANGED:
                self._access_changed(msg.data)
        clients = self.by_workspace.get(workspace)
        if not clients:
            return
        bot = None if bot_part == "-" else bot_part
        try:
            frame, level, _ = render(seq, domain, bot, kind, msg.data)
        except orjson.JSONDecodeError:
            return
        sent = 0
        for c in list(clients):
            if c.offer(seq, workspace, domain, bot, kind, level, frame):
                sent += 1
        if sent:
            _count_sent(sent)
        if self.yield_per_event:
            # asgi: let the writer tasks run between messages of a burst, so a queue fills
            # only when its client really cannot keep up. (picows clients gather a burst's
            # frames and write them together when the dispatcher yields.)
            await asyncio.sleep(0)

    def _revoked(self, owner: str, subject: str, data: bytes) -> None:
        """A revocation for `owner`: apply it (the core-NATS copy may come later) and close
        every stream of the owner whose credential it ends."""
        self.revocations.apply(subject, data)
        for c in list(self.by_user.get(owner, ())):
            reason = self.revocations.refused(c.principal)
            if reason is not None:
                c.close(CLOSE_REVOKED, reason)

    def _access_changed(self, data: bytes) -> None:
        """Re-check (in the background) the streams of each user named whose stream shows
        the workspace; the others cannot have lost anything there."""
        try:
            event = AccessChanged.model_validate_json(data)
        except ValueError:
            log.warning("ignoring a malformed access_changed event")
            return
        workspace = str(event.workspace_id)
        now = datetime.now(UTC)
        for user in event.users:
            self.resolver.note_change(user, now)
            # Streams showing the workspace may have lost something there; the others of the
            # user (not asked for another workspace) may now show it: a stream opened on a
            # ticket issued just before the gateway heard of a join would otherwise never
            # show the workspace joined.
            affected = [
                c
                for c in self.by_user.get(str(user), ())
                if workspace in c.views or c.principal.workspace_id in (None, event.workspace_id)
            ]
            if affected:
                task = asyncio.create_task(
                    self._recheck(user, workspace, affected), name="stream-access"
                )
                self._rechecks.add(task)
                task.add_done_callback(self._rechecks.discard)

    async def _recheck(self, user: UUID, workspace: str, clients: list[Client]) -> None:
        # One question to auth-service for all of the user's streams; each stream keeps its
        # own token's ceiling.
        snapshot = await self.resolver.snapshot(user)
        for client in clients:
            if client.closing:
                continue
            shown = workspace in client.views
            access = None if snapshot is None else self.resolver.bounded(client.principal, snapshot)
            if access is None:
                # Unknown now: a stream showing the workspace may show what it lost, so it
                # closes; one that did not show it has nothing to lose and stays as it was.
                if shown:
                    client.close(StreamClose.ACCESS_CHANGED, ACCESS_CHANGED_MESSAGE)
                continue
            views = views_of(access, client.principal.workspace_id)
            if narrowed(client.views, views):
                client.close(StreamClose.ACCESS_CHANGED, ACCESS_CHANGED_MESSAGE)
            else:
                # Still allowed: it shows what it may now (a workspace joined, more bots).
                client.principal = dataclasses.replace(client.principal, access=access)
                self._show(client, views)

    def _show(self, client: Client, views: Views) -> None:
        """Widen what a registered client shows to `views` (a superset of its own)."""
        for added in views.keys() - client.views.keys():
            self.by_workspace.setdefault(added, set()).add(client)
        client.views = views

    async def authorize(self, principal: StreamPrincipal) -> StreamPrincipal:
        """The principal with the access it may stream with now (see `AccessResolver`)."""
        return dataclasses.replace(principal, access=await self.resolver.resolve(principal))

    def admission(self, principal: StreamPrincipal) -> tuple[int, str] | None:
        """(close code, reason) when this stream may not open now, else None. Call it right
        before `register`/`serve` with no await in between."""
        if not self.replayed:
            return CLOSE_TOO_SLOW, "the stream server is starting; try again"
        reason = self.revocations.refused(principal)
        if reason is not None:
            return CLOSE_REVOKED, reason
        expires = principal.expires_at
        if expires is not None and expires <= datetime.now(UTC):
            return StreamClose.TOKEN_EXPIRED, EXPIRED_MESSAGE
        asked = principal.workspace_id
        if asked is not None and (
            principal.access is None or str(asked) not in views_of(principal.access, asked)
        ):
            return StreamClose.ACCESS_CHANGED, NO_WORKSPACE_MESSAGE
        if self.count >= self.settings.stream_max_clients:
            return CLOSE_TOO_SLOW, "too many stream clients on this server; try again"
        mine = self.by_user.get(str(principal.user_id))
        cap = self.settings.stream_max_per_user
        if mine is not None and len(mine) >= cap:
            return (
                StreamClose.TOO_MANY_STREAMS,
                f"this account has {cap} live streams open on this server (the limit); "
                "close one and retry",
            )
        return None

    def _expire(self, client: Client) -> None:
        client.expiry = None
        client.close(StreamClose.TOKEN_EXPIRED, EXPIRED_MESSAGE)

    # -- one connection ------------------------------------------------------------------

    def buffered_bytes(self) -> int:
        """Bytes waiting for clients right now (scraped as a gauge)."""
        return sum(c.buffered_bytes() for cs in list(self.by_user.values()) for c in cs)

    def register(self, client: Client) -> None:
        self.by_user.setdefault(client.user, set()).add(client)
        for workspace in client.views:
            self.by_workspace.setdefault(workspace, set()).add(client)
        self.count += 1
        metrics.STREAM_CLIENTS.set(self.count)
        hello: dict[str, Any] = {
            "type": "hello",
            "user_id": client.user,
            "workspace_ids": sorted(client.views),
        }
        expires = client.principal.expires_at
        if expires is not None:
            # Closed with 4419 then; a client may also reconnect a little earlier.
            hello["expires_at"] = expires.isoformat()
            delay = (expires - datetime.now(UTC)).total_seconds()
            client.expiry = asyncio.get_running_loop().call_later(
                max(0.0, delay), self._expire, client
            )
        client.control(hello)

    def unregister(self, client: Client) -> None:
        client.closing = True
        if client.resume is not None:
            client.resume.cancel()
        if client.expiry is not None:
            client.expiry.cancel()
            client.expiry = None
        for workspace in client.views:
            members = self.by_workspace.get(workspace)
            if members is not None:
                members.discard(client)
                if not members:
                    del self.by_workspace[workspace]
        clients = self.by_user.get(client.user)
        if clients is not None and client in clients:
            clients.discard(client)
            if not clients:
                del self.by_user[client.user]
            self.count -= 1
            metrics.STREAM_CLIENTS.set(self.count)

    async def serve(self, ws: WebSocket, principal: StreamPrincipal) -> None:
        """The Starlette route's connection loop."""
        client = AsgiClient(
            ws,
            principal,
            queue_max=self.settings.stream_queue_max,
            buffer_max=self.settings.stream_resume_buffer_max,
        )
        client.writer = asyncio.create_task(client.write_loop(), name="stream-writer")
        self.register(client)
        try:
            while not client.closing:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                self.on_message(client, message.get("text") or message.get("bytes") or b"")
        finally:
            self.unregister(client)
            if client.writer is not None:
                client.writer.cancel()
            if client.closer is not None:
                with contextlib.suppress(BaseException):
                    await client.closer

    def on_message(self, client: Client, raw: str | bytes) -> None:
        if client.closing:
            return
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            client.control({"type": "error", "message": "messages must be JSON objects"})
            return
        if isinstance(data, dict) and data.get("type") == "ping":
            client.control({"type": "pong"})
            return
        try:
            sub = StreamSubscribe.model_validate(data)
        except ValueError as exc:
            client.control({"type": "error", "message": f"invalid subscribe message: {exc}"[:500]})
            return
        client.filters = Filters.of(sub)
        client.control(
            {
                "type": "subscribed",
                "filters": sub.model_dump(mode="json", exclude={"last_event_id", "type"}),
            }
        )
        if client.subscribed:
            return  # a filter change: takes effect with the next event
        client.subscribed = True
        if sub.last_event_id is None:
            client.last_seq = self.live_seq
            client.mode = "live"
            return
        client.mode = "replaying"
        client.resume = asyncio.create_task(
            self._resume(client, sub.last_event_id), name="stream-resume"
        )

    async def _resume(self, client: Client, last_event_id: UUID) -> None:
        replayed = 0
        found = True
        if last_event_id.version != 7:
            # Not an event id of ours: nothing to find; say so and go live from here.
            client.last_seq = max(client.last_seq, self.live_seq)
            client.control({"type": "resume_failed", "reason": "last_event_id is not an event id"})
            client.control({"type": "resumed", "replayed": 0})
            self._go_live(client)
            return
        try:
            around = uuid7_time(last_event_id)
            async with self._scope(client) as s:
                seq = await service.seq_of(
                    s, last_event_id, around - timedelta(days=7), around + timedelta(days=1)
                )
            first = await first_seq(self.js, STREAM)
            if seq is not None and seq + 1 < first:
                replayed += await self._replay_table(client, seq, first)
                seq = first - 1
            if seq is not None:
                client.last_seq = max(client.last_seq, seq)
                n, _ = await self._replay_stream(client, start_seq=seq + 1, skip_until=None)
            else:
                n, found = await self._replay_stream(
                    client, start_time=around - timedelta(seconds=10), skip_until=str(last_event_id)
                )
            replayed += n
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("resume failed")
            client.close(1011, "could not replay missed events; reconnect with last_event_id")
            return
        if client.closing:
            return
        if not found:
            client.control(
                {"type": "resume_failed", "reason": "last_event_id is unknown or too old"}
            )
        client.control({"type": "resumed", "replayed": replayed})
        self._go_live(client)

    @staticmethod
    def _go_live(client: Client) -> None:
        for seq_, frame in client.buffer:
            if seq_ > client.last_seq:
                client.push(frame, seq_, force=True)
        client.buffer = []
        client.mode = "live"

    def _scope(self, client: Client) -> contextlib.AbstractAsyncContextManager[Any]:
        # Row-level security of the stream's access: its workspaces, within its bot limits.
        access = client.principal.access
        assert access is not None, "a registered client's access was resolved"
        return self.db.access_scope(access)

    async def _replay_table(self, client: Client, after: int, before: int) -> int:
        n = 0
        while not client.closing:
            async with self._scope(client) as s:
                rows = await service.rows_after_seq(
                    s, [UUID(w) for w in client.views], after, before, 1000
                )
            if not rows:
                break
            for seq, payload, domain, bot, kind, _level in rows:
                frame, level, _ = render(seq, domain, bot, kind, payload)
                await client.wait_room()
                if client.filters.match(domain, bot, kind, level):
                    client.push(frame, seq, force=True)
                    n += 1
                client.last_seq = max(client.last_seq, seq)
                after = seq
            if n > self.settings.stream_resume_max:
                client.close(CLOSE_TOO_SLOW, "too many missed events; query /v1/logs instead")
                break
        return n

    async def _replay_stream(
        self,
        client: Client,
        *,
        start_seq: int | None = None,
        start_time: datetime | None = None,
        skip_until: str | None,
    ) -> tuple[int, bool]:
        """Replay the client's events from JetStream until caught up; (sent, found start)."""
        n = 0
        # One filter per consumer: a stream of one workspace reads only its subjects, one of
        # several reads every event and keeps its own (`sees` below).
        only = next(iter(client.views)) if len(client.views) == 1 else None
        async with replay(
            self.js,
            STREAM,
            f"evt.*.{only}.>" if only is not None else "evt.>",
            start_seq=start_seq,
            start_time=start_time,
        ) as missed:
            pending = missed.pending
            while pending and not client.closing:
                msgs = await missed.fetch(500, timeout_s=2.0)
                if msgs is None:
                    break
                for m in msgs:
                    seq = m.stream_seq
                    pending = m.pending
                    if skip_until is not None:
                        if skip_until.encode() in m.data and _event_id(m.data) == skip_until:
                            skip_until = None
                            client.last_seq = max(client.last_seq, seq)
                        continue
                    if seq <= client.last_seq:
                        continue
                    parts = m.subject.split(".")
                    bot = None if parts[3] == "-" else parts[3]
                    if not client.sees(parts[2], bot):
                        client.last_seq = max(client.last_seq, seq)
                        continue
                    frame, level, _ = render(seq, parts[1], bot, parts[4], m.data)
                    await client.wait_room()
                    if client.filters.match(parts[1], bot, parts[4], level):
                        client.push(frame, seq, force=True)
                        n += 1
                    client.last_seq = max(client.last_seq, seq)
                    if n > self.settings.stream_resume_max:
                        client.close(
                            CLOSE_TOO_SLOW, "too many missed events; query /v1/logs instead"
                        )
                        return n, True
        return n, skip_until is None
