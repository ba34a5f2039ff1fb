"""Discord's bot authorization flow: `GET /oauth2/authorize?client_id=…&scope=bot…&permissions=…`
(an invite link) shows a server picker; Authorize adds the bot to the picked server with a
managed role holding the asked permissions, and a connected bot gets GUILD_CREATE, as on Discord.

Told apart from the sign-in flow as Discord does: `bot` in the scopes and no `response_type`.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from .context import SandboxContext
from .payloads import gateway_guild_payload
from .sessions import GUILD_MEMBERS, GUILDS, Session
from .state import Application, Guild, StateError

# Discord's permission bit field is a 53-bit-safe integer string.
MAX_PERMISSIONS = (1 << 53) - 1
NEW_GUILD = "new"
PASSED_THROUGH = ("client_id", "scope", "permissions", "redirect_uri", "state")


def announce_guild(ctx: SandboxContext, app: Application, guild: Guild) -> None:
    """GUILD_CREATE to the application's live sessions that cover the guild (GUILDS intent)."""

    def build(session: Session) -> dict[str, Any] | None:
        if not session.has(GUILDS):
            return None
        return gateway_guild_payload(
            ctx.state, guild, bot_user_id=app.bot_user_id, all_members=session.has(GUILD_MEMBERS)
        )

    ctx.hub.dispatch_to_guild(guild.id, "GUILD_CREATE", build, app_ids=[app.id])


def scopes_of(params: Mapping[str, str]) -> list[str]:
    return [s for s in params.get("scope", "").replace("+", " ").split() if s]


def is_bot_authorization(params: Mapping[str, str]) -> bool:
    return "bot" in scopes_of(params) and not params.get("response_type")


def _page(title: str, body: str, status: int = 200) -> web.Response:
    text = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title></head>
<body style="font-family: sans-serif; max-width: 34em; margin: 3em auto">
<h1>{html.escape(title)}</h1>
{body}
</body></html>"""
    return web.Response(text=text, status=status, content_type="text/html")


def _refusal(message: str, status: int = 400) -> web.Response:
    return _page("Cannot add the bot", f'<p role="alert">{html.escape(message)}</p>', status)


def _application(ctx: SandboxContext, client_id: str | None) -> Application | None:
    if not client_id or not client_id.isdigit():
        return None
    return ctx.state.applications.get(int(client_id))


def _permissions(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return 0
    if not raw.isdigit() or int(raw) > MAX_PERMISSIONS:
        return None
    return int(raw)


def _picker(
    ctx: SandboxContext, app: Application, params: Mapping[str, str], path: str, error: str = ""
) -> web.Response:
    guilds = sorted(ctx.state.guilds.values(), key=lambda g: g.name.lower())
    open_guilds = [g for g in guilds if app.id not in g.application_ids]
    wanted = params.get("guild_id", "")
    checked = next((str(g.id) for g in open_guilds if str(g.id) == wanted), None)
    if checked is None:
        checked = str(open_guilds[0].id) if open_guilds else NEW_GUILD
    rows = []
    for g in guilds:
        added = app.id in g.application_ids
        mark = " checked" if str(g.id) == checked else ""
        state = " disabled" if added else ""
        note = " <small>(already added)</small>" if added else ""
        rows.append(
            f'<label><input type="radio" name="guild_id" value="{g.id}"{mark}{state}> '
            f"{html.escape(g.name)}{note}</label><br>"
        )
    new_mark = " checked" if checked == NEW_GUILD else ""
    rows.append(
        f'<label><input type="radio" name="guild_id" value="{NEW_GUILD}"{new_mark}> '
        "a new server named</label> "
        f'<input type="text" name="new_guild_name" aria-label="New server name" maxlength="100"'
        f' value="{html.escape(app.name + " server")}"><br>'
    )
    hidden = "".join(
        f'<input type="hidden" name="{k}" value="{html.escape(params[k])}">'
        for k in PASSED_THROUGH
        if params.get(k)
    )
    scopes = html.escape(", ".join(scopes_of(params)))
    problem = f'<p role="alert" style="color: #b00020">{html.escape(error)}</p>' if error else ""
    asked = html.escape(params.get("permissions") or "0")
    body = f"""<p><b>{html.escape(app.name)}</b> wants to join a server (scopes: {scopes};
permissions: <code data-testid="permissions">{asked}</code>).</p>
{problem}
<form method="post" action="{html.escape(path)}">
{hidden}
<fieldset><legend>Add to server</legend>{"".join(rows)}</fieldset>
<p><button type="submit" name="decision" value="approve">Authorize</button>
<button type="submit" name="decision" value="deny">Cancel</button></p>
</form>"""
    return _page(f"Add {app.name} to a server (sandbox)", body, 400 if error else 200)


async def bot_authorize(
    request: web.Request, ctx: SandboxContext, params: dict[str, str]
) -> web.Response:
    """GET: the server picker. POST: install the bot (or cancel) and say what happened."""
    app = _application(ctx, params.get("client_id"))
    if app is None:
        return _refusal("Unknown application: client_id names no application of this sandbox.")
    permissions = _permissions(params.get("permissions"))
    if permissions is None:
        return _refusal("Invalid permissions: give the permission bit field as a decimal number.")
    if request.method == "GET":
        return _picker(ctx, app, params, request.path)
    if params.get("decision") != "approve":
        return _page("Cancelled", f'<p role="status">{html.escape(app.name)} was not added.</p>')
    picked = params.get("guild_id", "")
    try:
        if picked == NEW_GUILD:
            guild = ctx.state.create_guild(params.get("new_guild_name", ""), [])
        elif picked.isdigit() and int(picked) in ctx.state.guilds:
            guild = ctx.state.guilds[int(picked)]
        else:
            return _picker(ctx, app, params, request.path, "Pick a server.")
    except StateError as exc:
        return _picker(ctx, app, params, request.path, exc.message)
    if ctx.state.install(guild, app, permissions):
        announce_guild(ctx, app, guild)
        said = f"{app.name} was added to {guild.name}."
    else:
        said = f"{app.name} is already in {guild.name}."
    return _page(
        "Authorized",
        f'<p role="status" data-guild-id="{guild.id}">{html.escape(said)}</p>'
        "<p>You can close this tab and go back.</p>",
    )
