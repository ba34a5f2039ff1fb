"""Public REST routes of the commands area: commands, prompts, API connections, export and
import. Each route validates, calls command-service over NATS as the signed-in user, and
replies; command-service checks that the bot is the caller's (404 otherwise)."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

import yaml
from fastapi import APIRouter, Query, Response, status

from gateway.auth import CurrentUser
from gateway.deps import Bus
from gateway.routes.items import ItemApi, add_item_routes, add_ref_route
from proto import bots as P
from proto import commands as C
from proto import fleet as F
from proto.base import Contract, Empty

router = APIRouter(tags=["commands"])


# Sync now waits for Discord's answer to the bulk overwrites (done by the bot's replica).
SYNC_TIMEOUT_S = 15.0


class TestBody(C.CommandSample):
    """`POST /v1/bots/{id}/commands/{cid}/test`: run the command as a dry run with this
    sample input."""


class ImportBody(Contract):
    """`POST /v1/bots/{id}/import`: a config file uploaded through /v1/files (JSON or YAML)."""

    file_id: UUID
    dry_run: bool = False


# ---- commands ------------------------------------------------------------------------------


@router.get(
    "/v1/commands/variables",
    response_model=C.TemplateVariables,
    summary="the variables a command's templates can use (what the editor lists and the "
    "preview and save check templates against)",
)
async def template_variables(bus: Bus, user: CurrentUser) -> Any:
    return await bus.call(C.VARIABLES, Empty(), user_id=user.user_id)


add_ref_route(
    router, "GET", "/v1/bots/{bot_id}/commands", C.LIST, name="list_commands",
    ref=C.BotCommandRef, response_model=C.CommandList, summary="a bot's commands",
)


@router.post(
    "/v1/bots/{bot_id}/commands",
    response_model=C.CommandOut,
    status_code=status.HTTP_201_CREATED,
    summary="add a command (validated by Discord's rules; synced to Discord)",
)
async def create_command(bot_id: UUID, body: C.CommandIn, bus: Bus, user: CurrentUser) -> Any:
    return await bus.call(
        C.CREATE, C.CreateCommand(bot_id=bot_id, command=body), user_id=user.user_id
    )


@router.post(
    "/v1/bots/{bot_id}/commands/preview",
    response_model=C.CommandReply,
    summary="dry-run an unsaved command (the create body, plus sample input): what the bot "
    "would answer; validated like a create, nothing is stored",
)
async def preview_command(
    bot_id: UUID, body: C.CommandPreviewIn, bus: Bus, user: CurrentUser
) -> Any:
    return await bus.call(
        C.PREVIEW,
        C.PreviewCommand(
            bot_id=bot_id, command=body.command(), sample=body.sample, command_id=body.command_id
        ),
        user_id=user.user_id,
    )


# Before `/v1/bots/{bot_id}/commands/{command_id}`, which would take these names as ids.
add_ref_route(
    router, "GET", "/v1/bots/{bot_id}/commands/sync", C.SYNC_STATUS, name="sync_status",
    ref=C.BotCommandRef, response_model=C.SyncStatus,
    summary="whether Discord has the current commands, and the last sync result",
)
add_ref_route(
    router, "POST", "/v1/bots/{bot_id}/commands/sync", F.SYNC_COMMANDS, name="sync_now",
    ref=P.BotRef, timeout_s=SYNC_TIMEOUT_S, response_model=F.CommandsSynced,
    summary="Sync now: register the running bot's application commands with Discord again",
    responses={409: {"description": "the bot is not running"}},
)
add_ref_route(
    router, "GET", "/v1/bots/{bot_id}/commands/settings", C.SETTINGS_GET, name="get_settings",
    ref=C.BotCommandRef, response_model=C.CommandSettings,
    summary="per-bot command settings (prefix)",
)


@router.put(
    "/v1/bots/{bot_id}/commands/settings",
    response_model=C.CommandSettings,
    summary="change per-bot command settings (prefix)",
)
async def put_settings(bot_id: UUID, body: C.CommandSettings, bus: Bus, user: CurrentUser) -> Any:
    return await bus.call(
        C.SETTINGS_PUT, C.BotCommandSettings(bot_id=bot_id, settings=body), user_id=user.user_id
    )


@router.get(
    "/v1/bots/{bot_id}/commands/{command_id}", response_model=C.CommandOut, summary="one command"
)
async def get_command(bot_id: UUID, command_id: UUID, bus: Bus, user: CurrentUser) -> Any:
    return await bus.call(
        C.GET, C.CommandRef(bot_id=bot_id, command_id=command_id), user_id=user.user_id
    )


@router.patch(
    "/v1/bots/{bot_id}/commands/{command_id}",
    response_model=C.CommandOut,
    summary="change a command (the result is validated as a whole)",
)
async def patch_command(
    bot_id: UUID, command_id: UUID, body: C.CommandPatch, bus: Bus, user: CurrentUser
) -> Any:
    return await bus.call(
        C.UPDATE,
        C.UpdateCommand(bot_id=bot_id, command_id=command_id, patch=body),
        user_id=user.user_id,
    )


@router.delete(
    "/v1/bots/{bot_id}/commands/{command_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="remove a command",
)
async def delete_command(bot_id: UUID, command_id: UUID, bus: Bus, user: CurrentUser) -> Response:
    await bus.call(
        C.DELETE, C.CommandRef(bot_id=bot_id, command_id=command_id), user_id=user.user_id
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/v1/bots/{bot_id}/commands/{command_id}/test",
    response_model=C.CommandReply,
    summary="dry-run a command with given options: what the bot would answer",
)
async def test_command(
    bot_id: UUID, command_id: UUID, body: TestBody, bus: Bus, user: CurrentUser
) -> Any:
    return await bus.call(
        C.TEST,
        C.TestCommand(bot_id=bot_id, command_id=command_id, **body.model_dump()),
        user_id=user.user_id,
    )


# ---- export / import --------------------------------------------------------------------


@router.get(
    "/v1/bots/{bot_id}/export",
    response_model=C.BotImport,
    summary="the bot's commands, prompts and connection references (no secrets)",
)
async def export_bot(
    bot_id: UUID,
    bus: Bus,
    user: CurrentUser,
    format: Annotated[Literal["json", "yaml"], Query()] = "json",
) -> Any:
    doc: C.BotImport = await bus.call(
        C.EXPORT, C.ExportRequest(bot_id=bot_id), user_id=user.user_id
    )
    if format == "yaml":
        text = yaml.safe_dump(doc.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
        return Response(
            text,
            media_type="application/yaml",
            headers={"content-disposition": f'attachment; filename="bot-{bot_id}.yaml"'},
        )
    return doc


@router.post(
    "/v1/bots/{bot_id}/import",
    response_model=C.ImportResult,
    summary="apply an uploaded config file in one transaction (dry_run: only the diff)",
)
async def import_bot(bot_id: UUID, body: ImportBody, bus: Bus, user: CurrentUser) -> Any:
    return await bus.call(
        C.IMPORT,
        C.ImportBot(bot_id=bot_id, file_id=body.file_id, dry_run=body.dry_run),
        user_id=user.user_id,
        timeout_s=30,
    )


# ---- prompts and API connections ----------------------------------------------------------

add_item_routes(
    router,
    ItemApi(
        "prompt",
        "prompts",
        C.PROMPT_LIST,
        C.PROMPT_CREATE,
        C.PROMPT_GET,
        C.PROMPT_UPDATE,
        C.PROMPT_DELETE,
        patch=C.PromptPatch,
        ref=C.PromptRef,
        change=C.UpdatePrompt,
        summaries=(
            "your prompts",
            "add a prompt",
            "one prompt",
            "change a prompt",
            "remove a prompt (409 while commands use it)",
        ),
    ),
)
add_item_routes(
    router,
    ItemApi(
        "connection",
        "connections",
        C.CONNECTION_LIST,
        C.CONNECTION_CREATE,
        C.CONNECTION_GET,
        C.CONNECTION_UPDATE,
        C.CONNECTION_DELETE,
        patch=C.ConnectionPatch,
        ref=C.ConnectionRef,
        change=C.UpdateConnection,
        summaries=(
            "your API connections",
            "add an API connection (secrets are encrypted and never returned)",
            "one connection",
            "change a connection (secrets are kept unless given)",
            "remove a connection (409 while commands use it)",
        ),
    ),
)


@router.post(
    "/v1/connections/{connection_id}/test",
    response_model=C.ConnectionTestResult,
    summary="one GET to the base URL with the connection's auth (SSRF rules apply)",
)
async def test_connection(connection_id: UUID, bus: Bus, user: CurrentUser) -> Any:
    return await bus.call(
        C.CONNECTION_TEST, C.ConnectionRef(connection_id=connection_id), user_id=user.user_id
    )
