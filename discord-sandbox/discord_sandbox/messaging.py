"""Creating, editing and dispatching messages — shared by bot REST calls, interaction
responses and the control API's "a person typed this" injection."""

from __future__ import annotations

import re
import time
from typing import Any

from .context import SandboxContext
from .dms import dispatch_to_recipients
from .errors import CANNOT_SEND_EMPTY_MESSAGE, DiscordError, field_error, invalid_form, merge_errors
from .payloads import gateway_message_payload
from .sessions import DIRECT_MESSAGES, GUILD_MESSAGES, MESSAGE_CONTENT, Session
from .snowflake import snowflake_time_ms
from .state import Channel, Message, SandboxState, iso_now

_MENTION = re.compile(r"<@!?(\d+)>")
MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_NONCE = 25
# Discord checks an enforced nonce "in the past few minutes".
NONCE_WINDOW_S = 5 * 60
EPHEMERAL = 1 << 6


def message_fields(
    body: Any, files: list[dict[str, Any]], *, partial: bool = False
) -> dict[str, Any]:
    """Validate a message body (create or, with partial=True, edit) into Message fields."""
    if not isinstance(body, dict):
        raise invalid_form(
            field_error([], "MODEL_TYPE_CONVERT", "Only dictionaries may be used in a ModelType")
        )
    errors: dict[str, Any] = {}
    fields: dict[str, Any] = {}
    if "content" in body or not partial:
        fields["content"] = _content(body, errors)
    if "embeds" in body or "embed" in body or not partial:
        fields["embeds"] = _embeds(body, errors)
    if "components" in body or not partial:
        fields["components"] = body.get("components") or []
    if "flags" in body or not partial:
        try:
            fields["flags"] = int(body.get("flags") or 0)
        except (TypeError, ValueError):
            merge_errors(errors, field_error(["flags"], "NUMBER_TYPE_COERCE", "Value is not int."))
    if files or "attachments" in body or not partial:
        fields["attachments"] = files
    if not partial:
        fields["tts"] = bool(body.get("tts", False))
        fields["nonce"] = _nonce(body, errors)
        reference = body.get("message_reference")
        fields["message_reference"] = reference if isinstance(reference, dict) else None
    if errors:
        raise invalid_form(errors)
    if not partial and not (
        fields["content"]
        or fields["embeds"]
        or fields["components"]
        or files
        or body.get("sticker_ids")
        or body.get("poll")
    ):
        raise DiscordError(400, CANNOT_SEND_EMPTY_MESSAGE, "Cannot send an empty message")
    return fields


def _nonce(body: dict[str, Any], errors: dict[str, Any]) -> str | int | None:
    """An integer or a string of at most 25 characters, as Discord accepts."""
    nonce = body.get("nonce")
    if nonce is None or (isinstance(nonce, int) and not isinstance(nonce, bool)):
        return nonce
    if not isinstance(nonce, str) or len(nonce) > MAX_NONCE:
        merge_errors(
            errors,
            field_error(["nonce"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."),
        )
        return None
    return nonce


def recent_by_nonce(
    state: SandboxState, channel_id: int, author_id: int, nonce: str | int
) -> Message | None:
    """The author's message in the channel with this nonce from the last few minutes:
    what `enforce_nonce` answers instead of creating a second message (Discord's rule)."""
    horizon_ms = time.time() * 1000 - NONCE_WINDOW_S * 1000
    for message in reversed(state.channel_messages(channel_id)):
        if snowflake_time_ms(message.id) < horizon_ms:
            return None
        same = message.nonce is not None and str(message.nonce) == str(nonce)
        if same and message.author_id == author_id:
            return message
    return None


def _content(body: dict[str, Any], errors: dict[str, Any]) -> str:
    content = body.get("content")
    if content is None:
        content = ""
    if not isinstance(content, str):
        content = str(content)
    if len(content) > MAX_CONTENT:
        merge_errors(
            errors,
            field_error(
                ["content"],
                "BASE_TYPE_MAX_LENGTH",
                f"Must be {MAX_CONTENT} or fewer in length.",
            ),
        )
    return content


def _embeds(body: dict[str, Any], errors: dict[str, Any]) -> list[dict[str, Any]]:
    """`embeds`, or the older single `embed`, as rich embeds."""
    embeds = body.get("embeds")
    if embeds is None and body.get("embed") is not None:
        embeds = [body["embed"]]
    embeds = embeds or []
    if not isinstance(embeds, list) or not all(isinstance(e, dict) for e in embeds):
        merge_errors(errors, field_error(["embeds"], "BASE_TYPE_ARRAY", "Must be an array."))
        embeds = []
    elif len(embeds) > MAX_EMBEDS:
        merge_errors(
            errors,
            field_error(["embeds"], "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length."),
        )
    return [{"type": "rich", **e} for e in embeds]


def mentions_in(content: str) -> list[int]:
    return [int(m) for m in dict.fromkeys(_MENTION.findall(content))]


def create_message(
    ctx: SandboxContext,
    channel: Channel,
    author_id: int,
    fields: dict[str, Any],
    *,
    application_id: int | None = None,
    webhook_id: int | None = None,
    interaction_id: int | None = None,
    message_type: int = 0,
    dispatch: bool = True,
) -> Message:
    state = ctx.state
    message = Message(
        id=state.snowflakes.next(),
        channel_id=channel.id,
        guild_id=channel.guild_id,
        author_id=author_id,
        content=fields.get("content", ""),
        timestamp=iso_now(),
        embeds=fields.get("embeds", []),
        components=fields.get("components", []),
        attachments=_attachments(ctx, fields.get("attachments", [])),
        flags=fields.get("flags", 0),
        type=message_type,
        tts=fields.get("tts", False),
        nonce=fields.get("nonce"),
        application_id=application_id,
        webhook_id=webhook_id,
        interaction_id=interaction_id,
        mentions=[u for u in mentions_in(fields.get("content", "")) if u in state.users],
        message_reference=fields.get("message_reference"),
    )
    state.add_message(message)
    ctx.stats.incr("messages")
    ctx.messages_posted.notify()
    if dispatch and not message.flags & EPHEMERAL:
        dispatch_message(ctx, message, "MESSAGE_CREATE")
    return message


def _attachments(ctx: SandboxContext, files: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for item in files:
        attachment_id = ctx.state.snowflakes.next()
        url = f"{ctx.base_url}/attachments/{attachment_id}/{item.get('filename', 'file')}"
        out.append({"id": str(attachment_id), "url": url, "proxy_url": url, **item})
    return out


def edit_message(ctx: SandboxContext, message: Message, fields: dict[str, Any]) -> Message:
    for key, value in fields.items():
        if key == "attachments":
            value = _attachments(ctx, value) if value else message.attachments
        if hasattr(message, key):
            setattr(message, key, value)
    if "content" in fields:
        message.mentions = [u for u in mentions_in(message.content) if u in ctx.state.users]
    message.edited_timestamp = iso_now()
    if not message.flags & EPHEMERAL:
        dispatch_message(ctx, message, "MESSAGE_UPDATE")
    return message


def dispatch_message(ctx: SandboxContext, message: Message, event: str) -> int:
    """MESSAGE_CREATE/UPDATE to the bots in the guild that asked for guild messages; the
    content-bearing fields only with MESSAGE_CONTENT, for the bot's own messages, or when
    the bot is mentioned — Discord's rules. A DM goes whole to the bot in it (DIRECT_MESSAGES)."""
    state = ctx.state
    if message.guild_id is None:
        payload = gateway_message_payload(state, message, include_content=True)
        return dispatch_to_recipients(ctx, message.channel_id, event, DIRECT_MESSAGES, payload)

    def build(session: Session) -> dict[str, Any] | None:
        if not session.has(GUILD_MESSAGES):
            return None
        include = (
            session.has(MESSAGE_CONTENT)
            or message.author_id == session.bot_user_id
            or session.bot_user_id in message.mentions
        )
        return gateway_message_payload(
            state, message, include_content=include, viewer_id=session.bot_user_id
        )

    return ctx.hub.dispatch_to_guild(message.guild_id, event, build)
