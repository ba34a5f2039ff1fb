"""Interaction callbacks and the interaction webhook (follow-ups, original-response edits).

Both are authenticated by the interaction token in the URL, as on Discord.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from .context import SandboxContext, ctx_of
from .errors import (
    INTERACTION_ALREADY_ACKNOWLEDGED,
    UNKNOWN_INTERACTION,
    UNKNOWN_MESSAGE,
    UNKNOWN_WEBHOOK,
    DiscordError,
    field_error,
    invalid_form,
    not_found,
)
from .interactions import (
    ALLOWED_CALLBACKS,
    AUTOCOMPLETE_RESULT,
    CHANNEL_MESSAGE,
    DEFERRED_CALLBACKS,
    DEFERRED_CHANNEL_MESSAGE,
    DEFERRED_UPDATE_MESSAGE,
    EPHEMERAL,
    FINAL_CALLBACKS,
    LOADING,
    MODAL,
    UPDATE_MESSAGE,
    InteractionRecord,
)
from .jsonresp import no_content
from .messaging import create_message, edit_message, message_fields
from .payloads import message_payload
from .rest import RestRouter, ok, read_body, snowflake_param
from .state import Message

router = RestRouter()
WEBHOOK = {"auth": "none", "limit": "webhook_limit", "global_limit": False}
# Discord's message types: a follow-up is a DEFAULT message, a response is a CHAT_INPUT_COMMAND one.
DEFAULT = 0
REPLY = 20


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true", "yes")


@router.post(
    "/interactions/{interaction_id}/{interaction_token}/callback",
    auth="none",
    limit="webhook_limit",
    global_limit=False,
)
async def callback(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    record = ctx.interactions.by_id.get(snowflake_param(request, "interaction_id"))
    if record is None or record.token != request.match_info["interaction_token"]:
        raise not_found(UNKNOWN_INTERACTION, "interaction")
    if record.acknowledged:
        raise DiscordError(
            400, INTERACTION_ALREADY_ACKNOWLEDGED, "Interaction has already been acknowledged."
        )
    if time.monotonic() - record.created_mono > ctx.config.tunables.interaction_callback_timeout_s:
        raise not_found(UNKNOWN_INTERACTION, "interaction")
    body, files = await read_body(request)
    if not isinstance(body, dict):
        raise invalid_form(field_error(["type"], "BASE_TYPE_REQUIRED", "This field is required"))
    kind = body.get("type")
    if kind not in ALLOWED_CALLBACKS.get(record.type, frozenset()):
        raise invalid_form(
            field_error(
                ["type"],
                "INTERACTION_CALLBACK_TYPE_INVALID",
                "Interaction callback type is invalid for this interaction",
            )
        )
    data = body.get("data") or {}
    if not isinstance(data, dict):
        raise invalid_form(
            field_error(["data"], "MODEL_TYPE_CONVERT", "Only dictionaries may be used")
        )
    message = _apply_callback(ctx, record, int(kind), data, files)
    record.callback_type = int(kind)
    record.callback_mono = time.monotonic()
    record.callback_data = data
    if record.callback_type in FINAL_CALLBACKS:
        record.mark_final()
    if not _truthy(request.query.get("with_response")):
        return no_content()
    interaction: dict[str, Any] = {
        "id": str(record.id),
        "type": record.type,
        "channel_id": str(record.channel_id),
        "guild_id": str(record.guild_id),
        "activity_instance_id": None,
    }
    result: dict[str, Any] = {"interaction": interaction}
    if message is not None:
        interaction.update(
            {
                "response_message_id": str(message.id),
                "response_message_loading": bool(message.flags & LOADING),
                "response_message_ephemeral": bool(message.flags & EPHEMERAL),
            }
        )
        result["resource"] = {"type": int(kind), "message": message_payload(ctx.state, message)}
    return ok(result)


def _apply_callback(
    ctx: SandboxContext,
    record: InteractionRecord,
    kind: int,
    data: dict[str, Any],
    files: list[dict[str, Any]],
) -> Message | None:
    state = ctx.state
    if kind == CHANNEL_MESSAGE:
        fields = _message_fields(data, files)
        message = _post_as_interaction(ctx, record, fields, REPLY)
        record.original = message
        return message
    if kind == DEFERRED_CHANNEL_MESSAGE:
        flags = LOADING | (int(data.get("flags") or 0) & EPHEMERAL)
        message = _post_as_interaction(ctx, record, {"content": "", "flags": flags}, REPLY)
        record.original = message
        return message
    if kind == UPDATE_MESSAGE:
        target = state.message_index.get(record.message_id or 0)
        if target is None:
            raise not_found(UNKNOWN_MESSAGE, "Message")
        edit_message(ctx, target, message_fields(data, files, partial=True))
        record.original = target
        record.edits.append(_edit_entry(target))
        return target
    if kind == DEFERRED_UPDATE_MESSAGE:
        # "Edit the message later": the original response is the message the component (or
        # the modal's component) is on, so PATCH .../messages/@original edits that message.
        target = state.message_index.get(record.message_id or 0)
        if target is not None:
            record.original = target
        return target
    if kind == AUTOCOMPLETE_RESULT:
        choices = data.get("choices")
        if not isinstance(choices, list) or len(choices) > 25:
            raise invalid_form(
                field_error(
                    ["data", "choices"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."
                )
            )
        return None
    if kind == MODAL:
        for key in ("custom_id", "title", "components"):
            if not data.get(key):
                raise invalid_form(
                    field_error(["data", key], "BASE_TYPE_REQUIRED", "This field is required")
                )
        return None
    return None  # PONG, DEFERRED_UPDATE_MESSAGE (6), premium/activity types: nothing visible


def _post_as_interaction(
    ctx: SandboxContext, record: InteractionRecord, fields: dict[str, Any], message_type: int
) -> Message:
    """A message the application posts in the interaction's channel through the
    interaction's webhook (a response or a follow-up)."""
    channel = ctx.state.get_channel(record.channel_id)
    app = ctx.state.get_application(record.application_id)
    return create_message(
        ctx,
        channel,
        app.bot_user_id,
        fields,
        application_id=app.id,
        webhook_id=app.id,
        interaction_id=record.id,
        message_type=message_type,
    )


def _message_fields(data: dict[str, Any], files: list[dict[str, Any]]) -> dict[str, Any]:
    try:
        return message_fields(data, files)
    except DiscordError as exc:
        if exc.errors:
            exc.errors = {"data": exc.errors}
        raise


def _edit_entry(message: Message) -> dict[str, Any]:
    return {
        "message_id": str(message.id),
        "content": message.content,
        "embeds": message.embeds,
        "components": message.components,
        "at": message.edited_timestamp,
    }


# ------------------------------------------------------------------- webhooks
def _record(ctx: SandboxContext, request: web.Request) -> InteractionRecord:
    record = ctx.interactions.by_token.get(request.match_info["webhook_token"])
    if record is None or record.application_id != snowflake_param(request, "webhook_id"):
        raise not_found(UNKNOWN_WEBHOOK, "Webhook")
    if time.monotonic() - record.created_mono > ctx.config.tunables.interaction_token_ttl_s:
        raise DiscordError(401, 50027, "Invalid Webhook Token")
    if not record.acknowledged:
        raise not_found(UNKNOWN_WEBHOOK, "Webhook")
    return record


def _target(ctx: SandboxContext, request: web.Request, record: InteractionRecord) -> Message:
    raw = request.match_info["message_id"]
    if raw == "@original":
        if record.original is None:
            raise not_found(UNKNOWN_MESSAGE, "Message")
        return record.original
    message_id = snowflake_param(request, "message_id")
    for message in record.followups:
        if message.id == message_id:
            return message
    if record.original is not None and record.original.id == message_id:
        return record.original
    raise not_found(UNKNOWN_MESSAGE, "Message")


@router.post(
    "/webhooks/{webhook_id}/{webhook_token}", major=("webhook_id", "webhook_token"), **WEBHOOK
)
async def execute(request: web.Request) -> web.Response:
    """A follow-up message. After a deferred "thinking" response (type 5) the first
    follow-up replaces the loading message, as on Discord."""
    ctx = ctx_of(request)
    record = _record(ctx, request)
    body, files = await read_body(request)
    fields = message_fields(body, files)
    original = record.original
    if (
        record.callback_type == DEFERRED_CHANNEL_MESSAGE
        and original is not None
        and original.flags & LOADING
    ):
        fields["flags"] = (original.flags & EPHEMERAL) | (fields.get("flags", 0) & ~LOADING)
        message = edit_message(ctx, original, fields)
    else:
        message = _post_as_interaction(ctx, record, fields, DEFAULT)
    record.followups.append(message)
    if record.callback_type in DEFERRED_CALLBACKS:
        record.mark_final()
    if _truthy(request.query.get("wait")):
        return ok(message_payload(ctx.state, message))
    return no_content()


@router.get("/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}", **WEBHOOK)
async def get_webhook_message(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    record = _record(ctx, request)
    return ok(message_payload(ctx.state, _target(ctx, request, record)))


@router.patch("/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}", **WEBHOOK)
async def edit_webhook_message(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    record = _record(ctx, request)
    message = _target(ctx, request, record)
    body, files = await read_body(request)
    fields = message_fields(body, files, partial=True)
    if message.flags & LOADING:
        fields["flags"] = message.flags & EPHEMERAL  # the edit ends the "thinking" state
    edit_message(ctx, message, fields)
    record.edits.append(_edit_entry(message))
    if message is record.original and record.callback_type in DEFERRED_CALLBACKS:
        record.mark_final()
    return ok(message_payload(ctx.state, message))


@router.delete("/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}", **WEBHOOK)
async def delete_webhook_message(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    record = _record(ctx, request)
    message = _target(ctx, request, record)
    ctx.state.delete_message(message)
    return no_content()
