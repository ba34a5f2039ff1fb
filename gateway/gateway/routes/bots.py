"""Public REST routes of the bots area: validate, call the owning service over NATS, reply.

Bots and their desired state are served by bot-service's API half (`rpc.bot.*`); live
status and shards by its fleet half (`rpc.bot.runtime.*`). Start/stop/restart change the
desired state and answer at once (202); the fleet converges in the background.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query, status
from pydantic import Field

from gateway.auth import CurrentUser
from gateway.deps import Bus
from gateway.routes.items import WorkspaceFilter, add_ref_route
from proto import bots as P
from proto import commands as C
from proto import fleet as F
from proto.base import Contract, Empty
from proto.errors import ErrorCode
from services.errors import RpcError

router = APIRouter(tags=["bots"])
bots = APIRouter(prefix="/v1/bots")


# DELETE waits for the fleet to stop the bot before removing its data.
DELETE_TIMEOUT_S = 20.0


class PatchBot(Contract):
    """`PATCH /v1/bots/{id}`: only the fields present change.

    `shard_count`: a number fixes it; `null` or `"auto"` follows Discord's recommendation.
    """

    name: P.BotName | None = None
    description: P.Description | None = None
    intents: P.IntentsInput | None = Field(default=None, description="bit field or intent names")
    presence: P.BotPresence | None = None
    shard_count: P.ShardCount | Literal["auto"] | None = None
    auto_start: bool | None = None
    tags: list[P.Tag] | None = Field(default=None, max_length=P.MAX_TAGS)


class TokenBody(Contract):
    """`PUT /v1/bots/{id}/token`."""

    token: P.BotToken


@bots.get("", response_model=P.BotPage, summary="your bots")
async def list_bots(
    bus: Bus,
    user: CurrentUser,
    tag: Annotated[str | None, Query(max_length=32)] = None,
    workspace_id: WorkspaceFilter = None,
) -> Any:
    req = P.ListBots(tag=tag, workspace_id=workspace_id)
    return await bus.call(P.LIST_BOTS, req, user_id=user.user_id)


@bots.post(
    "",
    response_model=P.BotView,
    status_code=status.HTTP_201_CREATED,
    summary="add a bot by its token (checked against Discord)",
)
async def create_bot(body: P.CreateBot, bus: Bus, user: CurrentUser) -> Any:
    return await bus.call(P.CREATE_BOT, body, user_id=user.user_id)


add_ref_route(
    bots, "GET", "/{bot_id}", P.READ_BOT, name="read_bot", ref=P.BotRef,
    response_model=P.BotView, summary="one of your bots",
)


@bots.patch("/{bot_id}", response_model=P.BotView, summary="change a bot's settings")
async def update_bot(bot_id: UUID, body: PatchBot, bus: Bus, user: CurrentUser) -> Any:
    fields = body.model_dump(exclude_unset=True)
    if "shard_count" in fields and fields["shard_count"] is None:
        fields["shard_count"] = "auto"
    req = P.UpdateBot(bot_id=bot_id, **fields)
    return await bus.call(P.UPDATE_BOT, req, user_id=user.user_id)


@bots.delete("/{bot_id}", response_model=P.BotDeleted, summary="stop a bot and delete it")
async def delete_bot(bot_id: UUID, bus: Bus, user: CurrentUser) -> Any:
    return await bus.call(
        P.DELETE_BOT,
        P.BotRef(bot_id=bot_id),
        user_id=user.user_id,
        timeout_s=DELETE_TIMEOUT_S,
    )


@bots.put("/{bot_id}/token", response_model=P.BotView, summary="replace a bot's token")
async def replace_token(bot_id: UUID, body: TokenBody, bus: Bus, user: CurrentUser) -> Any:
    req = P.ReplaceToken(bot_id=bot_id, token=body.token)
    return await bus.call(P.REPLACE_TOKEN, req, user_id=user.user_id)


# A desired-state change answers 202 with the bot at once; the fleet converges later.
for _name, _spec, _summary in (
    ("start", P.START_BOT, "desired state: running (watch /status for the result)"),
    ("stop", P.STOP_BOT, "desired state: stopped"),
    ("restart", P.RESTART_BOT, "restart every shard (new generation)"),
):
    add_ref_route(
        bots, "POST", f"/{{bot_id}}/{_name}", _spec, name=f"{_name}_bot", ref=P.BotRef,
        response_model=P.BotView, status_code=status.HTTP_202_ACCEPTED, summary=_summary,
    )

# Views of the running bot, from the fleet.
for _view, _read, _model, _about, _responses in (
    ("status", F.GET_STATUS, F.BotStatus, "live status with shards", None),
    ("shards", F.GET_SHARDS, F.ShardList, "shards and their replicas", None),
    (
        "guilds",
        F.GET_GUILDS,
        F.GuildList,
        "the servers of a running bot, with channels and roles, from its live connection",
        {409: {"description": "the bot is not running"}},
    ),
):
    add_ref_route(
        bots, "GET", f"/{{bot_id}}/{_view}", _read, name=f"bot_{_view}", ref=P.BotRef,
        response_model=_model, summary=_about, responses=_responses,
    )


# ------------------------------------------------------------------ try it (sandbox)
# The try call waits for the bot's answer (up to `wait_s`, 10 s) after a command lookup.
TRY_TIMEOUT_S = 20.0


@router.get(
    "/v1/sandbox",
    response_model=P.SandboxInfo,
    tags=["bots"],
    summary="does this server run against the local discord-sandbox (Try it)?",
)
async def sandbox_info(bus: Bus, user: CurrentUser) -> Any:
    return await bus.call(P.SANDBOX_INFO, Empty(), user_id=user.user_id)


@bots.post(
    "/{bot_id}/try",
    response_model=P.TryResult,
    summary="invoke a command as the sandbox's try-it user and return the bot's answer",
    responses={
        404: {"description": "unknown bot or command, or not running against the sandbox"},
        409: {"description": "the bot is not online"},
    },
)
async def try_command(bot_id: UUID, body: P.TryCommand, bus: Bus, user: CurrentUser) -> Any:
    if body.command_id is None and body.name is None:
        raise RpcError(ErrorCode.VALIDATION, "give command_id or name")
    name, kind, prefix = body.name, "slash", None
    if body.command_id is not None:
        cmd = await bus.call(
            C.GET, C.CommandRef(bot_id=bot_id, command_id=body.command_id), user_id=user.user_id
        )
        name, kind = cmd.name, cmd.kind
        if kind == "prefix":
            settings = await bus.call(
                C.SETTINGS_GET, C.BotCommandRef(bot_id=bot_id), user_id=user.user_id
            )
            prefix = settings.prefix
    assert name is not None
    req = P.TryInvoke(
        bot_id=bot_id,
        name=name,
        kind=kind,
        prefix=prefix,
        options=body.options,
        content=body.content,
        guild_id=body.guild_id,
        channel_id=body.channel_id,
    )
    return await bus.call(P.TRY_COMMAND, req, user_id=user.user_id, timeout_s=TRY_TIMEOUT_S)


router.include_router(bots)
