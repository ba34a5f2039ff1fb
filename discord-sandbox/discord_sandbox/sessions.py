"""Gateway sessions and the hub that routes dispatches to them.

A `Session` is Discord's logical session (id, sequence, replay buffer); it outlives the
websocket `Connection` that carries it, which is what makes RESUME on a new connection — even
from another process — work. The hub owns every session, applies the IDENTIFY rules (token,
intents, shards, session-start budget, identify pacing) and fans dispatches out to the
sessions whose shard owns a guild.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from .compress import FrameEncoder
from .config import Tunables
from .jsonresp import dumps
from .payloads import gateway_guild_payload, private_user_payload
from .snowflake import shard_of
from .state import PRIVILEGED_INTENTS, Application, SandboxState
from .stats import Stats

log = logging.getLogger(__name__)

# Gateway opcodes.
DISPATCH, HEARTBEAT, IDENTIFY, PRESENCE, VOICE_STATE = 0, 1, 2, 3, 4
RESUME, RECONNECT, REQUEST_MEMBERS, INVALID_SESSION, HELLO, HEARTBEAT_ACK = 6, 7, 8, 9, 10, 11
# Intents.
GUILDS = 1 << 0
GUILD_MEMBERS = 1 << 1
GUILD_MESSAGES = 1 << 9
GUILD_MESSAGE_REACTIONS = 1 << 10
DIRECT_MESSAGES = 1 << 12
DIRECT_MESSAGE_REACTIONS = 1 << 13
MESSAGE_CONTENT = 1 << 15
ALL_INTENTS = (1 << 26) - 1  # every bit Discord defines as of API v10 (0..25)
PRIVILEGED_MASK = sum(PRIVILEGED_INTENTS.values())
# Close codes after which Discord will not resume the session.
NON_RESUMABLE_CLOSES = frozenset({4004, 4007, 4009, 4010, 4011, 4012, 4013, 4014})
TRACE = ["discord-sandbox"]


@dataclass(slots=True, frozen=True)
class CloseRequest:
    code: int
    reason: str


class Connection:
    """One gateway websocket: an ordered outbox drained by a writer task.

    Frames are compressed when queued (not when written) so the stream compressor sees them in
    sequence order even when several dispatchers queue at once.
    """

    __slots__ = (
        "closing",
        "encoder",
        "opened_at",
        "outbox",
        "sent_count",
        "sent_window_end",
        "server_close_code",
        "session",
        "writer",
        "ws",
    )

    def __init__(self, ws: web.WebSocketResponse, encoder: FrameEncoder) -> None:
        self.ws = ws
        self.encoder = encoder
        self.outbox: asyncio.Queue[bytes | str | CloseRequest] = asyncio.Queue()
        self.session: Session | None = None
        self.server_close_code: int | None = None
        self.closing = False
        self.opened_at = time.time()
        self.sent_count = 0
        self.sent_window_end = 0.0
        self.writer = asyncio.get_running_loop().create_task(self._write_loop())

    def count_command(self, limit: int, window_s: float) -> bool:
        """Count one command the client sent; False once it exceeds `limit` per window."""
        now = time.monotonic()
        if now >= self.sent_window_end:
            self.sent_window_end = now + window_s
            self.sent_count = 0
        self.sent_count += 1
        return self.sent_count <= limit

    def send_text(self, text: str) -> None:
        if not self.closing:
            self.outbox.put_nowait(self.encoder.encode(text))

    def send_op(self, op: int, data: Any) -> None:
        self.send_text(dumps({"op": op, "d": data, "s": None, "t": None}))

    def close(self, code: int, reason: str = "") -> None:
        """Close after the frames already queued (e.g. INVALID_SESSION, then close)."""
        if self.closing:
            return
        self.closing = True
        self.server_close_code = code
        self.outbox.put_nowait(CloseRequest(code, reason))

    async def _write_loop(self) -> None:
        ws = self.ws
        try:
            while True:
                item = await self.outbox.get()
                if isinstance(item, CloseRequest):
                    await ws.close(code=item.code, message=item.reason.encode())
                    return
                if isinstance(item, bytes):
                    await ws.send_bytes(item)
                else:
                    await ws.send_str(item)
        except (ConnectionError, RuntimeError):
            return  # the peer went away; the reader side notices and cleans up

    async def stop(self) -> None:
        self.writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.writer


class Session:
    __slots__ = (
        "app_id",
        "bot_user_id",
        "buffer",
        "conn",
        "connected_at",
        "created_at",
        "expiry",
        "intents",
        "invalid",
        "resumes",
        "seq",
        "session_id",
        "shard_count",
        "shard_given",
        "shard_id",
    )

    def __init__(
        self,
        app: Application,
        intents: int,
        shard_id: int,
        shard_count: int,
        shard_given: bool,
        replay: int,
    ) -> None:
        self.session_id = secrets.token_hex(16)
        self.app_id = app.id
        self.bot_user_id = app.bot_user_id
        self.intents = intents
        self.shard_id = shard_id
        self.shard_count = shard_count
        self.shard_given = shard_given
        self.seq = 0
        self.buffer: deque[tuple[int, str]] = deque(maxlen=max(replay, 1))
        self.conn: Connection | None = None
        self.created_at = time.time()
        self.connected_at = self.created_at
        self.invalid = False
        self.resumes = 0
        self.expiry: asyncio.TimerHandle | None = None

    def push(self, event: str, data: Any) -> None:
        """Sequence, remember (for RESUME) and send if a connection is attached."""
        self.seq += 1
        text = dumps({"op": DISPATCH, "t": event, "s": self.seq, "d": data})
        self.buffer.append((self.seq, text))
        if self.conn is not None:
            self.conn.send_text(text)

    def has(self, intent: int) -> bool:
        return bool(self.intents & intent)

    def to_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "application_id": str(self.app_id),
            "shard": [self.shard_id, self.shard_count],
            "connected_at": datetime.fromtimestamp(self.connected_at, UTC).isoformat(),
            "created_at": datetime.fromtimestamp(self.created_at, UTC).isoformat(),
            "connected": self.conn is not None,
            "intents": self.intents,
            "seq": self.seq,
            "resumes": self.resumes,
        }


class GatewayHub:
    def __init__(
        self,
        state: SandboxState,
        tunables: Tunables,
        stats: Stats,
        gateway_url: Callable[[], str],
    ) -> None:
        self.state = state
        self.tunables = tunables
        self.stats = stats
        self.gateway_url = gateway_url
        self.sessions: dict[str, Session] = {}
        self.by_app: dict[int, set[Session]] = {}
        self.connections: set[Connection] = set()
        self._identify_last: dict[tuple[int, int], float] = {}
        self.drop_heartbeat_acks = False

    # ------------------------------------------------------------- bookkeeping
    def live_sessions(self) -> list[Session]:
        return [s for s in self.sessions.values() if s.conn is not None]

    def live_on_unit(self, app_id: int, shard_id: int) -> int:
        return sum(
            1 for s in self.by_app.get(app_id, ()) if s.conn is not None and s.shard_id == shard_id
        )

    def _attach(self, session: Session, conn: Connection) -> None:
        if session.expiry is not None:
            session.expiry.cancel()
            session.expiry = None
        session.conn = conn
        session.connected_at = time.time()
        conn.session = session
        self.stats.observe_concurrency(
            session.app_id, session.shard_id, self.live_on_unit(session.app_id, session.shard_id)
        )

    def _destroy(self, session: Session) -> None:
        if session.expiry is not None:
            session.expiry.cancel()
            session.expiry = None
        session.invalid = True
        self.sessions.pop(session.session_id, None)
        group = self.by_app.get(session.app_id)
        if group is not None:
            group.discard(session)
            if not group:
                del self.by_app[session.app_id]

    def connection_lost(self, conn: Connection, client_code: int | None) -> None:
        self.connections.discard(conn)
        session = conn.session
        conn.session = None
        if session is None:
            return
        if session.conn is conn:
            session.conn = None
        if session.conn is not None:
            return  # already resumed on another connection
        server_code = conn.server_close_code
        # A client that closes with 1000/1001 ends its session for good (Discord's rule);
        # server-side closes end it only for the codes Discord documents as non-resumable.
        ended = (server_code is None and client_code in (1000, 1001)) or (
            server_code in NON_RESUMABLE_CLOSES
        )
        if ended or session.invalid:
            self._destroy(session)
            return
        loop = asyncio.get_running_loop()
        session.expiry = loop.call_later(self.tunables.resume_window_s, self._expire, session)

    def _expire(self, session: Session) -> None:
        session.expiry = None
        if session.conn is None:
            self._destroy(session)

    # --------------------------------------------------------------- opcodes
    def hello(self, conn: Connection) -> None:
        conn.send_op(
            HELLO, {"heartbeat_interval": self.tunables.heartbeat_interval_ms, "_trace": TRACE}
        )

    def heartbeat(self, conn: Connection, last_seq: Any = None) -> None:
        self.stats.incr("heartbeats")
        session = conn.session
        if session is not None and isinstance(last_seq, int):
            # The client has everything up to `last_seq` (a later RESUME cannot ask for less),
            # so the replay buffer only needs what came after: bounded memory per session.
            buffer = session.buffer
            while buffer and buffer[0][0] <= last_seq:
                buffer.popleft()
        if self.drop_heartbeat_acks:
            self.stats.incr("heartbeat_acks_dropped")
            return
        conn.send_op(HEARTBEAT_ACK, None)

    def _invalid_session(self, conn: Connection, resumable: bool) -> None:
        self.stats.incr("invalid_sessions")
        conn.send_op(INVALID_SESSION, resumable)

    def _authenticated_app(self, conn: Connection, data: Any) -> Application | None:
        """The checks IDENTIFY and RESUME share: a connection not yet in a session, a JSON
        object, a known bot token. Otherwise the connection is closed with Discord's code."""
        if conn.session is not None:
            conn.close(4005, "Already authenticated.")
            return None
        if not isinstance(data, dict):
            conn.close(4002, "Error while decoding payload.")
            return None
        app = self._app_for(data.get("token"))
        if app is None:
            conn.close(4004, "Authentication failed.")
        return app

    def identify(self, conn: Connection, data: Any) -> None:
        app = self._authenticated_app(conn, data)
        if app is None:
            return
        intents = data.get("intents")
        if (
            not isinstance(intents, int)
            or isinstance(intents, bool)
            or not 0 <= intents <= ALL_INTENTS
        ):
            conn.close(4013, "Invalid intent(s).")
            return
        if intents & PRIVILEGED_MASK & ~app.privileged_mask:
            conn.close(4014, "Disallowed intent(s).")
            return
        shard = data.get("shard")
        shard_given = shard is not None
        if shard is None:
            shard = [0, 1]
        if (
            not isinstance(shard, list)
            or len(shard) != 2
            or not all(isinstance(x, int) and not isinstance(x, bool) for x in shard)
            or shard[1] < 1
            or not 0 <= shard[0] < shard[1]
        ):
            conn.close(4010, "Invalid shard.")
            return
        shard_id, shard_count = shard
        if len(app.guild_ids) > self.tunables.max_guilds_per_shard * shard_count:
            conn.close(4011, "Sharding required.")
            return

        app_stats = self.stats.app(app.id)
        app.refresh_session_budget(self.tunables.session_start_reset_after_s)
        if app.session_start_remaining <= 0:
            app_stats.identify_refused += 1
            self.stats.incr("identify_refused")
            self._invalid_session(conn, False)
            return
        bucket = (app.id, shard_id % app.max_concurrency)
        now = time.monotonic()
        last = self._identify_last.get(bucket)
        if last is not None and now - last < self.tunables.identify_window_s:
            app_stats.identify_violations += 1
            self.stats.incr("identify_violations")
            if self.tunables.identify_limit_mode == "enforce":
                self._invalid_session(conn, False)
                return
        self._identify_last[bucket] = now
        app.session_start_remaining -= 1
        app.refresh_session_budget(self.tunables.session_start_reset_after_s)
        app_stats.identifies += 1
        self.stats.incr("identifies")

        session = Session(
            app, intents, shard_id, shard_count, shard_given, self.tunables.replay_buffer
        )
        self.sessions[session.session_id] = session
        self.by_app.setdefault(app.id, set()).add(session)
        self._attach(session, conn)
        self._send_ready(session, app)

    def _send_ready(self, session: Session, app: Application) -> None:
        state = self.state
        guilds = state.app_guilds(app, session.shard_id, session.shard_count)
        bot = private_user_payload(state.users[app.bot_user_id], with_email=True)
        ready: dict[str, Any] = {
            "v": 10,
            "user": bot,
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": self.gateway_url(),
            "application": {"id": str(app.id), "flags": app.flags},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "user_settings": {},
            "auth_session_id_hash": "",
            "_trace": TRACE,
        }
        if session.shard_given:
            ready["shard"] = [session.shard_id, session.shard_count]
        session.push("READY", ready)
        all_members = session.has(GUILD_MEMBERS)
        for guild in guilds:
            session.push(
                "GUILD_CREATE",
                gateway_guild_payload(
                    state, guild, bot_user_id=app.bot_user_id, all_members=all_members
                ),
            )

    def resume(self, conn: Connection, data: Any) -> None:
        app = self._authenticated_app(conn, data)
        if app is None:
            return
        session = self.sessions.get(str(data.get("session_id")))
        if session is None or session.invalid or session.app_id != app.id:
            self._invalid_session(conn, False)
            return
        seq = data.get("seq")
        if seq is None:
            seq = 0
        if not isinstance(seq, int) or seq > session.seq:
            conn.close(4007, "Invalid seq.")
            self._destroy(session)
            return
        oldest = session.buffer[0][0] if session.buffer else session.seq + 1
        if seq + 1 < oldest:
            # The events the client missed are no longer buffered: it must start over.
            self._invalid_session(conn, False)
            self._destroy(session)
            return
        previous = session.conn
        if previous is not None:
            # The old connection is a zombie the client gave up on; this one takes over.
            previous.session = None
            previous.close(4000, "Session resumed elsewhere.")
        self._attach(session, conn)
        for number, text in session.buffer:
            if number > seq:
                conn.send_text(text)
        session.resumes += 1
        self.stats.app(app.id).resumes += 1
        self.stats.incr("resumes")
        session.push("RESUMED", {"_trace": TRACE})

    def request_members(self, conn: Connection, data: Any) -> None:
        session = conn.session
        if session is None or not isinstance(data, dict):
            return
        try:
            guild_id = int(data["guild_id"])
        except (KeyError, TypeError, ValueError):
            return
        guild = self.state.guilds.get(guild_id)
        app = self.state.applications.get(session.app_id)
        if guild is None or app is None or guild_id not in app.guild_ids:
            return
        members = list(guild.members.values())
        not_found: list[str] = []
        user_ids = data.get("user_ids")
        if user_ids is not None:
            wanted = {int(u) for u in (user_ids if isinstance(user_ids, list) else [user_ids])}
            members = [m for m in members if m.user_id in wanted]
            not_found = [str(u) for u in wanted - {m.user_id for m in members}]
        else:
            query = str(data.get("query") or "").lower()
            if query:
                members = [
                    m
                    for m in members
                    if self.state.users[m.user_id].username.lower().startswith(query)
                ]
            limit = int(data.get("limit") or 0)
            if limit:
                members = members[:limit]
        from .payloads import member_payload  # local: keeps the hub's import list short

        chunk: dict[str, Any] = {
            "guild_id": str(guild.id),
            "members": [member_payload(self.state, guild, m) for m in members],
            "chunk_index": 0,
            "chunk_count": 1,
        }
        if not_found:
            chunk["not_found"] = not_found
        if data.get("nonce") is not None:
            chunk["nonce"] = data["nonce"]
        if data.get("presences"):
            chunk["presences"] = []
        session.push("GUILD_MEMBERS_CHUNK", chunk)

    def _app_for(self, token: Any) -> Application | None:
        if not isinstance(token, str):
            return None
        if token.startswith("Bot "):
            token = token[4:]
        return self.state.app_by_token(token)

    # -------------------------------------------------------------- dispatch
    def sessions_for_guild(self, app_id: int, guild_id: int) -> list[Session]:
        return [
            s
            for s in self.by_app.get(app_id, ())
            if not s.invalid and shard_of(guild_id, s.shard_count) == s.shard_id
        ]

    def dispatch_to_guild(
        self,
        guild_id: int,
        event: str,
        build: Callable[[Session], Any | None],
        app_ids: list[int] | None = None,
    ) -> int:
        """Send `event` to every session (of the given apps, default: all bots in the guild)
        whose shard owns the guild; `build` may return None to skip a session (intents).
        Returns how many sessions received it."""
        guild = self.state.guilds.get(guild_id)
        if guild is None:
            return 0
        sent = 0
        for app_id in app_ids if app_ids is not None else list(guild.application_ids):
            for session in self.sessions_for_guild(app_id, guild_id):
                data = build(session)
                if data is not None:
                    session.push(event, data)
                    sent += 1
        self.stats.incr("dispatches", sent)
        return sent

    def dispatch_to_guild_removed(self, app: Application, guild_id: int) -> int:
        """GUILD_DELETE without `unavailable`: the bot was removed from the guild."""
        return self.dispatch_to_guild(
            guild_id, "GUILD_DELETE", lambda _s: {"id": str(guild_id)}, app_ids=[app.id]
        )

    # ------------------------------------------------------------ control ops
    def close_session(self, session: Session, code: int) -> bool:
        if session.conn is None:
            return False
        if code in NON_RESUMABLE_CLOSES:
            session.invalid = True
        session.conn.close(code, "Closed by the sandbox control API.")
        return True

    def reconnect_session(self, session: Session) -> bool:
        conn = session.conn
        if conn is None:
            return False
        conn.send_op(RECONNECT, None)
        self._close_later(conn, 4000)
        return True

    def invalidate_session(self, session: Session, resumable: bool) -> bool:
        conn = session.conn
        if conn is None:
            return False
        if not resumable:
            session.invalid = True
        self._invalid_session(conn, resumable)
        self._close_later(conn, 4000 if resumable else 4009)
        return True

    def _close_later(self, conn: Connection, code: int) -> None:
        """Discord closes a connection the client did not close itself after op 7/9."""
        loop = asyncio.get_running_loop()
        loop.call_later(5.0, lambda: None if conn.ws.closed else conn.close(code))

    async def shutdown(self) -> None:
        connections = list(self.connections)
        for conn in connections:
            conn.close(1001, "Sandbox shutting down.")
        writers = [conn.writer for conn in connections if not conn.writer.done()]
        if writers:
            # Close frames go out in parallel; a peer that does not answer is not waited for.
            await asyncio.wait(writers, timeout=3.0)
