"""The `/_sandbox/` control API: create the world, inject what people do, observe and break.

Plain JSON in and out; errors are `{"error": "..."}` with a fitting status. Ids are strings
(snowflakes), as in Discord payloads. What people do to members, roles and reactions (join,
leave, react, a new role) and reading back a member or someone's DMs are in `control_members`;
the README's control table lists every route.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from .bot_authorize import announce_guild
from .context import SandboxContext, ctx_of
from .errors import DiscordError
from .interactions import create_interaction
from .jsonresp import json_response
from .messaging import create_message, message_fields
from .oauth_store import OAuthClient, is_loopback_redirect
from .payloads import (
    command_payload,
    message_payload,
    session_start_limit_payload,
)
from .sessions import Session
from .state import Application, Message, StateError, normalize_privileged

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PREFIX = "/_sandbox"
MAX_WAIT_S = 120.0


def _error(status: int, message: str) -> web.Response:
    return json_response({"error": message}, status=status)


def _guarded(handler: Handler) -> Handler:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except StateError as exc:
            return _error(exc.status, exc.message)
        except DiscordError as exc:
            return json_response({"error": exc.message, **exc.body()}, status=exc.status)
        except (KeyError, TypeError, ValueError) as exc:
            return _error(400, f"invalid request: {exc}")

    return wrapped


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        data = await request.json()
    except ValueError:
        raise StateError(400, "body must be JSON") from None
    if not isinstance(data, dict):
        raise StateError(400, "body must be a JSON object")
    return data


def _id(value: Any, what: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise StateError(400, f"{what} must be a snowflake") from None


def _wait_seconds(request: web.Request) -> float:
    try:
        return max(0.0, min(float(request.query.get("wait", "0")), MAX_WAIT_S))
    except ValueError:
        raise StateError(400, "wait must be a number of seconds") from None


# ------------------------------------------------------------------ basics
async def health(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def get_config(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    return json_response(
        {
            "base_url": ctx.base_url,
            "gateway_url": ctx.gateway_url,
            "tls": ctx.config.tls,
            **ctx.config.tunables.to_dict(),
        }
    )


async def patch_config(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    try:
        ctx.config.tunables.update(await _body(request))
    except ValueError as exc:
        return _error(400, str(exc))
    return await get_config(request)


# ------------------------------------------------------------ applications
def _app_view(ctx: SandboxContext, app: Application) -> dict[str, Any]:
    bot = ctx.state.users[app.bot_user_id]
    tunables = ctx.config.tunables
    app.refresh_session_budget(tunables.session_start_reset_after_s)
    guild_commands: dict[str, list[dict[str, Any]]] = {}
    for command in app.commands.values():
        if command.guild_id is not None:
            guild_commands.setdefault(str(command.guild_id), []).append(command_payload(command))
    return {
        "application_id": str(app.id),
        "name": app.name,
        "bot_user_id": str(bot.id),
        "bot_username": bot.username,
        "bot": {"id": str(bot.id), "username": bot.username, "avatar": bot.avatar},
        "flags": app.flags,
        "privileged_intents": sorted(app.privileged_intents),
        "max_concurrency": app.max_concurrency,
        "guild_ids": [str(g) for g in app.guild_ids],
        "commands": {
            "global": [command_payload(c) for c in app.commands_for(None)],
            "guilds": guild_commands,
        },
        "session_start_limit": session_start_limit_payload(
            app, tunables.session_start_reset_after_s
        ),
    }


def _app(ctx: SandboxContext, request: web.Request) -> Application:
    return ctx.state.get_application(_id(request.match_info["app_id"], "application id"))


async def create_application(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    body = await _body(request)
    try:
        intents = normalize_privileged(body.get("privileged_intents"))
    except ValueError as exc:
        return _error(400, str(exc))
    app = ctx.state.create_application(
        str(body.get("name") or "Sandbox Bot"),
        privileged_intents=intents,
        max_concurrency=int(body.get("max_concurrency") or 1),
        session_start_total=ctx.config.tunables.session_start_total,
    )
    # The application's own credentials also work as an OAuth client (as on Discord).
    ctx.oauth.clients[str(app.id)] = OAuthClient(
        str(app.id), app.client_secret, any_loopback=True, name=app.name
    )
    ctx.state.set_guild_count(app, int(body.get("guild_count") or 0))
    bot = ctx.state.users[app.bot_user_id]
    return json_response(
        {
            "application_id": str(app.id),
            "bot_user_id": str(app.bot_user_id),
            "token": app.token,
            "client_secret": app.client_secret,
            "bot_username": bot.username,
            "guild_ids": [str(g) for g in app.guild_ids],
        },
        status=201,
    )


async def list_applications(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    return json_response([_app_view(ctx, a) for a in ctx.state.applications.values()])


async def get_application(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    return json_response(_app_view(ctx, _app(ctx, request)))


async def patch_application(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    app = _app(ctx, request)
    body = await _body(request)
    if "privileged_intents" in body:
        try:
            app.privileged_intents = normalize_privileged(body["privileged_intents"])
        except ValueError as exc:
            return _error(400, str(exc))
    if body.get("max_concurrency") is not None:
        value = int(body["max_concurrency"])
        if value < 1:
            return _error(400, "max_concurrency must be >= 1")
        app.max_concurrency = value
    if body.get("name"):
        app.name = str(body["name"])[:32]
    limit = body.get("session_start_limit")
    if isinstance(limit, dict):
        if "total" in limit:
            app.session_start_total = int(limit["total"])
        if "remaining" in limit:
            app.session_start_remaining = int(limit["remaining"])
        if "reset_after" in limit:  # milliseconds, as in GET /gateway/bot
            app.session_start_reset_at = time.time() + float(limit["reset_after"]) / 1000
    if body.get("guild_count") is not None:
        added, removed = ctx.state.set_guild_count(app, int(body["guild_count"]))
        for guild in added:
            announce_guild(ctx, app, guild)
        for guild in removed:
            ctx.hub.dispatch_to_guild_removed(app, guild.id)
    ctx.state.touch()
    return json_response(_app_view(ctx, app))


async def reset_token(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    app = _app(ctx, request)
    return json_response({"application_id": str(app.id), "token": ctx.state.reset_token(app)})


# ------------------------------------------------------------- users, guilds
async def create_user(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    body = await _body(request)
    user = ctx.state.create_user(str(body.get("username") or ""), body.get("email"))
    return json_response(
        {"id": str(user.id), "username": user.username, "email": user.email}, status=201
    )


async def list_users(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    return json_response(
        [
            {"id": str(u.id), "username": u.username, "email": u.email}
            for u in ctx.state.human_users()
        ]
    )


async def user_avatar(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    user = ctx.state.get_user(_id(request.match_info["user_id"], "user id"))
    if user.avatar_bytes is None:
        return _error(404, "this user has no avatar")
    return web.Response(
        body=user.avatar_bytes,
        content_type=user.avatar_mime or "application/octet-stream",
        headers={"X-Avatar-Hash": user.avatar or ""},
    )


async def create_guild(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    body = await _body(request)
    members = [_id(m, "member id") for m in body.get("members") or []]
    channels = body.get("channels")
    guild = ctx.state.create_guild(
        str(body.get("name") or ""), members, [str(c) for c in channels] if channels else None
    )
    return json_response(
        {
            "guild_id": str(guild.id),
            "channel_ids": [str(c) for c in guild.channel_ids],
            "everyone_role_id": str(guild.id),
        },
        status=201,
    )


async def get_guild(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    guild = ctx.state.get_guild(_id(request.match_info["guild_id"], "guild id"))
    return json_response(
        {
            "guild_id": str(guild.id),
            "name": guild.name,
            "owner_id": str(guild.owner_id),
            "channel_ids": [str(c) for c in guild.channel_ids],
            "member_ids": [str(m) for m in guild.members],
            "application_ids": [str(a) for a in guild.application_ids],
        }
    )


async def install(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    guild = ctx.state.get_guild(_id(request.match_info["guild_id"], "guild id"))
    body = await _body(request)
    app = ctx.state.get_application(_id(body.get("application_id"), "application_id"))
    permissions = body.get("permissions")
    if permissions is None:
        added = ctx.state.install(guild, app)
    else:
        value = int(permissions) if str(permissions).isdigit() else -1
        if not 0 <= value < 1 << 53:
            raise StateError(400, "permissions must be a permission bit field (an integer)")
        added = ctx.state.install(guild, app, value)
    if added:
        announce_guild(ctx, app, guild)
    return json_response(
        {"guild_id": str(guild.id), "application_id": str(app.id), "installed": added}
    )


async def uninstall(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    guild = ctx.state.get_guild(_id(request.match_info["guild_id"], "guild id"))
    app = ctx.state.get_application(_id(request.match_info["app_id"], "application id"))
    ctx.hub.dispatch_to_guild_removed(app, guild.id)
    removed = ctx.state.uninstall(guild, app)
    return json_response(
        {"guild_id": str(guild.id), "application_id": str(app.id), "removed": removed}
    )


# ------------------------------------------------------- interactions, messages
async def create_interaction_route(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    body = await _body(request)
    for key in ("application_id", "guild_id", "user_id"):
        if body.get(key) is None:
            return _error(400, f"{key} is required")
    app = ctx.state.get_application(_id(body["application_id"], "application_id"))
    record, payload = create_interaction(ctx.state, ctx.interactions, app, body)
    sent = ctx.hub.dispatch_to_guild(
        record.guild_id, "INTERACTION_CREATE", lambda _s: payload, app_ids=[app.id]
    )
    if sent == 0:
        ctx.interactions.by_id.pop(record.id, None)
        ctx.interactions.by_token.pop(record.token, None)
        return _error(409, "no gateway session of this application owns the guild's shard")
    ctx.stats.incr("interactions")
    return json_response(
        {
            "interaction_id": str(record.id),
            "token": record.token,
            "channel_id": str(record.channel_id),
            "dispatched_to": sent,
        },
        status=201,
    )


async def get_interaction(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    record = ctx.interactions.by_id.get(_id(request.match_info["interaction_id"], "interaction id"))
    if record is None:
        return _error(404, "unknown interaction")
    wait = _wait_seconds(request)
    if not record.final.is_set() and wait > 0:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(record.final.wait(), timeout=wait)
    result = record.result(ctx.state)
    if not record.final.is_set():
        return json_response({"error": "no final answer yet", **result}, status=408)
    return json_response(result)


async def create_message_route(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    body = await _body(request)
    channel = ctx.state.get_channel(_id(body.get("channel_id"), "channel_id"))
    author = ctx.state.get_user(_id(body.get("author_id"), "author_id"))
    if channel.guild_id is not None:
        ctx.state.add_member(ctx.state.get_guild(channel.guild_id), author)
    fields = message_fields(
        {k: v for k, v in body.items() if k in ("content", "embeds", "components")}, []
    )
    message = create_message(ctx, channel, author.id, fields)
    return json_response(message_payload(ctx.state, message), status=201)


async def channel_messages(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    channel = ctx.state.get_channel(_id(request.match_info["channel_id"], "channel id"))
    after = int(request.query.get("after", "0") or 0)
    author = request.query.get("author_id")

    def matching() -> list[Message]:
        return [
            m
            for m in ctx.state.channel_messages(channel.id)
            if m.id > after and (author is None or str(m.author_id) == author)
        ]

    found = await long_poll(ctx, request, matching)
    return json_response([message_payload(ctx.state, m) for m in found])


async def long_poll(
    ctx: SandboxContext, request: web.Request, matching: Callable[[], list[Message]]
) -> list[Message]:
    """`matching()` now, or with `?wait=S` once a new message makes it non-empty (or S is up):
    wakes on every posted message."""
    deadline = time.monotonic() + _wait_seconds(request)
    found = matching()
    while not found and time.monotonic() < deadline:
        await ctx.messages_posted.wait(deadline - time.monotonic())
        found = matching()
    return found


# -------------------------------------------------------- sessions and faults
async def list_sessions(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    app_filter = request.query.get("application_id")
    include_all = request.query.get("all", "").lower() in ("1", "true")
    sessions = [
        s.to_dict()
        for s in ctx.hub.sessions.values()
        if (include_all or s.conn is not None)
        and (app_filter is None or str(s.app_id) == app_filter)
    ]
    return json_response(sessions)


def _session(ctx: SandboxContext, request: web.Request) -> Session:
    session = ctx.hub.sessions.get(request.match_info["session_id"])
    if session is None:
        raise StateError(404, "unknown session")
    return session


async def close_session(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    session = _session(ctx, request)
    code = int((await _body(request)).get("code", 4000))
    if not (code == 1000 or 1001 <= code <= 1014 or 4000 <= code <= 4999):
        return _error(400, "code must be 1000-1014 or 4000-4999")
    if not ctx.hub.close_session(session, code):
        return _error(409, "the session has no open connection")
    return json_response({"session_id": session.session_id, "closed": True, "code": code})


async def reconnect_session(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    session = _session(ctx, request)
    if not ctx.hub.reconnect_session(session):
        return _error(409, "the session has no open connection")
    return json_response({"session_id": session.session_id, "reconnect_sent": True})


async def invalidate_session(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    session = _session(ctx, request)
    resumable = bool((await _body(request)).get("resumable", False))
    if not ctx.hub.invalidate_session(session, resumable):
        return _error(409, "the session has no open connection")
    return json_response(
        {"session_id": session.session_id, "invalidated": True, "resumable": resumable}
    )


async def stats(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    return json_response(
        ctx.stats.snapshot(
            live_sessions=len(ctx.hub.live_sessions()), connections=len(ctx.hub.connections)
        )
    )


async def reset(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    ctx.stats.reset()
    ctx.limiter.clear()
    return json_response({"reset": True})


async def get_faults(request: web.Request) -> web.Response:
    return json_response(ctx_of(request).faults.to_dict())


async def set_faults(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    body = await _body(request)
    faults = ctx.faults
    if "rest_error_rate" in body:
        rate = float(body["rest_error_rate"])
        if not 0 <= rate <= 1 or math.isnan(rate):
            return _error(400, "rest_error_rate must be between 0 and 1")
        faults.rest_error_rate = rate
    if "rest_latency_ms" in body:
        latency = int(body["rest_latency_ms"])
        if latency < 0:
            return _error(400, "rest_latency_ms must be >= 0")
        faults.rest_latency_ms = latency
    if "drop_heartbeat_acks" in body:
        faults.drop_heartbeat_acks = bool(body["drop_heartbeat_acks"])
        ctx.hub.drop_heartbeat_acks = faults.drop_heartbeat_acks
    return json_response(faults.to_dict())


async def register_oauth_client(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    body = await _body(request)
    uris = body.get("redirect_uris")
    if not isinstance(uris, list) or not uris or not all(isinstance(u, str) and u for u in uris):
        return _error(400, "redirect_uris must be a non-empty list of URLs")
    client_id = body.get("client_id")
    if client_id is not None and str(client_id) in ctx.oauth.clients:
        return _error(409, "client_id already registered")
    client = ctx.oauth.register(
        uris,
        None if client_id is None else str(client_id),
        None if body.get("client_secret") is None else str(body["client_secret"]),
    )
    return json_response(
        {
            "client_id": client.client_id,
            "client_secret": client.client_secret,
            "redirect_uris": client.redirect_uris,
            "loopback_redirects_only": all(is_loopback_redirect(u) for u in uris),
        },
        status=201,
    )


ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "/health", health),
    ("GET", "/config", get_config),
    ("PATCH", "/config", patch_config),
    ("POST", "/applications", create_application),
    ("GET", "/applications", list_applications),
    ("GET", "/applications/{app_id}", get_application),
    ("PATCH", "/applications/{app_id}", patch_application),
    ("POST", "/applications/{app_id}/reset-token", reset_token),
    ("POST", "/users", create_user),
    ("GET", "/users", list_users),
    ("GET", "/users/{user_id}/avatar", user_avatar),
    ("POST", "/guilds", create_guild),
    ("GET", "/guilds/{guild_id}", get_guild),
    ("POST", "/guilds/{guild_id}/install", install),
    ("DELETE", "/guilds/{guild_id}/install/{app_id}", uninstall),
    ("POST", "/interactions", create_interaction_route),
    ("GET", "/interactions/{interaction_id}", get_interaction),
    ("POST", "/messages", create_message_route),
    ("GET", "/channels/{channel_id}/messages", channel_messages),
    ("GET", "/sessions", list_sessions),
    ("POST", "/sessions/{session_id}/close", close_session),
    ("POST", "/sessions/{session_id}/reconnect", reconnect_session),
    ("POST", "/sessions/{session_id}/invalidate", invalidate_session),
    ("GET", "/stats", stats),
    ("POST", "/reset", reset),
    ("GET", "/faults", get_faults),
    ("POST", "/faults", set_faults),
    ("POST", "/oauth/clients", register_oauth_client),
]


def install_routes(app: web.Application, routes: list[tuple[str, str, Handler]] = ROUTES) -> None:
    for method, path, handler in routes:
        app.router.add_route(method, PREFIX + path, _guarded(handler))
