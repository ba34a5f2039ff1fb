"""`/gateway`, `/gateway/bot`, the application itself and its global and guild commands."""

from __future__ import annotations

import math

from aiohttp import web

from . import commands as command_rules
from .context import ctx_of
from .errors import UNKNOWN_APPLICATION_COMMAND, UNKNOWN_GUILD, missing_access, not_found
from .jsonresp import no_content
from .payloads import application_payload, command_payload, session_start_limit_payload
from .rest import RestRouter, bot_app, ok, read_body, snowflake_param
from .state import Application, Command

router = RestRouter()


@router.get("/gateway", auth="none", global_limit=False)
async def get_gateway(request: web.Request) -> web.Response:
    return ok({"url": ctx_of(request).gateway_url})


@router.get("/gateway/bot")
async def get_gateway_bot(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    app = bot_app(request)
    tunables = ctx.config.tunables
    app.refresh_session_budget(tunables.session_start_reset_after_s)
    shards = max(1, math.ceil(len(app.guild_ids) / tunables.guilds_per_recommended_shard))
    return ok(
        {
            "url": ctx.gateway_url,
            "shards": shards,
            "session_start_limit": session_start_limit_payload(
                app, tunables.session_start_reset_after_s
            ),
        }
    )


@router.get("/oauth2/applications/@me")
async def get_oauth_application(request: web.Request) -> web.Response:
    return ok(application_payload(ctx_of(request).state, bot_app(request)))


@router.get("/applications/@me")
async def get_application(request: web.Request) -> web.Response:
    return ok(application_payload(ctx_of(request).state, bot_app(request)))


def _own_app(request: web.Request) -> Application:
    app = bot_app(request)
    if snowflake_param(request, "application_id") != app.id:
        raise missing_access()
    return app


def _scope(request: web.Request, app: Application) -> int | None:
    if "guild_id" not in request.match_info:
        return None
    guild_id = snowflake_param(request, "guild_id")
    if guild_id not in ctx_of(request).state.guilds:
        raise not_found(UNKNOWN_GUILD, "Guild")
    if guild_id not in app.guild_ids:
        raise missing_access()
    return guild_id


def _command(request: web.Request, app: Application, guild_id: int | None) -> Command:
    command = app.commands.get(snowflake_param(request, "command_id"))
    if command is None or command.guild_id != guild_id:
        raise not_found(UNKNOWN_APPLICATION_COMMAND, "application command")
    return command


async def list_commands(request: web.Request) -> web.Response:
    app = _own_app(request)
    guild_id = _scope(request, app)
    return ok([command_payload(c) for c in app.commands_for(guild_id)])


async def create_command(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    app = _own_app(request)
    guild_id = _scope(request, app)
    payload, _ = await read_body(request)
    command, created = command_rules.upsert(ctx.state, app, guild_id, payload)
    return ok(command_payload(command), status=201 if created else 200)


async def overwrite_commands(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    app = _own_app(request)
    guild_id = _scope(request, app)
    payload, _ = await read_body(request)
    result = command_rules.bulk_overwrite(ctx.state, app, guild_id, payload)
    return ok([command_payload(c) for c in result])


async def get_command(request: web.Request) -> web.Response:
    app = _own_app(request)
    return ok(command_payload(_command(request, app, _scope(request, app))))


async def edit_command(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    app = _own_app(request)
    command = _command(request, app, _scope(request, app))
    payload, _ = await read_body(request)
    return ok(command_payload(command_rules.edit(ctx.state, command, payload)))


async def delete_command(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    app = _own_app(request)
    command = _command(request, app, _scope(request, app))
    del app.commands[command.id]
    ctx.state.touch()
    return no_content()


async def command_permissions(request: web.Request) -> web.Response:
    app = _own_app(request)
    _scope(request, app)
    return ok([])


# Registered before ".../commands/{command_id}" so "permissions" is not taken for an id.
router.get("/applications/{application_id}/guilds/{guild_id}/commands/permissions")(
    command_permissions
)
for base in ("/applications/{application_id}", "/applications/{application_id}/guilds/{guild_id}"):
    major = ("application_id", "guild_id") if "guild_id" in base else ("application_id",)
    router.get(f"{base}/commands", major=major)(list_commands)
    router.post(f"{base}/commands", limit="command_write_limit", major=major)(create_command)
    router.put(f"{base}/commands", limit="command_write_limit", major=major)(overwrite_commands)
    router.get(f"{base}/commands/{{command_id}}", major=major)(get_command)
    router.patch(f"{base}/commands/{{command_id}}", limit="command_write_limit", major=major)(
        edit_command
    )
    router.delete(f"{base}/commands/{{command_id}}", limit="command_write_limit", major=major)(
        delete_command
    )
