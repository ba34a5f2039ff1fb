"""`/users/...` and `/oauth2/@me`: the bot's own user (and avatar upload) or, with a Bearer
token, the signed-in person (that is the OAuth2 userinfo endpoint)."""

from __future__ import annotations

import base64
import binascii
import re
import time

from aiohttp import web

from .context import ctx_of
from .errors import UNKNOWN_USER, field_error, invalid_form, merge_errors, not_found, unauthorized
from .payloads import private_user_payload, user_payload
from .rest import RestRouter, bearer_grant, bot_app, json_body, ok, snowflake_param
from .state import User

router = RestRouter()

MAX_AVATAR_BYTES = 10 * 1024 * 1024
_DATA_URI = re.compile(r"^data:(image/(?:png|jpeg|jpg|gif|webp));base64,(.+)$", re.DOTALL)
_MAGIC = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
}


def _me(request: web.Request) -> tuple[User, bool]:
    """(user, is_bot). A Bearer caller sees email only with the `email` scope."""
    state = ctx_of(request).state
    grant = bearer_grant(request)
    if grant is not None:
        return state.users[grant.user_id], False
    return state.users[bot_app(request).bot_user_id], True


@router.get("/users/@me", auth="either")
async def get_me(request: web.Request) -> web.Response:
    user, is_bot = _me(request)
    grant = bearer_grant(request)
    with_email = is_bot or (grant is not None and "email" in grant.scopes)
    return ok(private_user_payload(user, with_email=with_email))


@router.get("/oauth2/@me", auth="bearer")
async def get_authorization(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    grant = bearer_grant(request)
    if grant is None:
        raise unauthorized()
    expires = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(grant.expires_at))
    application = {
        "id": grant.client_id,
        "name": ctx.oauth.clients[grant.client_id].name,
        "icon": None,
        "description": "",
        "type": None,
        "bot_public": True,
        "bot_require_code_grant": False,
        "verify_key": "",
        "flags": 0,
    }
    data = {"application": application, "scopes": grant.scopes, "expires": expires}
    if "identify" in grant.scopes:
        data["user"] = user_payload(ctx.state.users[grant.user_id])
    return ok(data)


@router.patch("/users/@me")
async def patch_me(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    app = bot_app(request)
    user = ctx.state.users[app.bot_user_id]
    body = await json_body(request)
    errors: dict[str, object] = {}
    username = body.get("username")
    if username is not None and (
        not isinstance(username, str) or not 2 <= len(username.strip()) <= 32
    ):
        merge_errors(
            errors,
            field_error(
                ["username"], "BASE_TYPE_BAD_LENGTH", "Must be between 2 and 32 in length."
            ),
        )
    avatar: tuple[bytes, str] | None = None
    if "avatar" in body and body["avatar"] is not None:
        avatar = _decode_avatar(body["avatar"], errors)
    if errors:
        raise invalid_form(errors)
    if "avatar" in body:
        # Avatar changes have their own, small limit on Discord ("You are changing your
        # avatar too fast"); the product surfaces that 429 to its users.
        decision = ctx.limiter.hit(
            f"bot:{app.id}", "avatar", "", ctx.config.tunables.avatar_change_limit
        )
        if not decision.allowed:
            ctx.stats.incr("rate_limits_sent")
            ctx.stats.app(app.id).rate_limited += 1
            return decision.too_many()
        if avatar is None:
            user.set_avatar(None, None)
        else:
            user.set_avatar(*avatar)
    if isinstance(username, str):
        user.username = username.strip()
    ctx.state.touch()
    return ok(private_user_payload(user, with_email=True))


def _decode_avatar(value: object, errors: dict[str, object]) -> tuple[bytes, str] | None:
    match = _DATA_URI.match(value) if isinstance(value, str) else None
    if match is None:
        merge_errors(errors, field_error(["avatar"], "IMAGE_INVALID", "Invalid image data"))
        return None
    mime = "image/jpeg" if match.group(1) == "image/jpg" else match.group(1)
    try:
        data = base64.b64decode(match.group(2), validate=True)
    except (binascii.Error, ValueError):
        merge_errors(errors, field_error(["avatar"], "IMAGE_INVALID", "Invalid image data"))
        return None
    if len(data) > MAX_AVATAR_BYTES:
        merge_errors(
            errors,
            field_error(
                ["avatar"], "BINARY_TYPE_MAX_SIZE", "File cannot be larger than 10240.0 kb."
            ),
        )
        return None
    if not data.startswith(_MAGIC[mime]):
        merge_errors(errors, field_error(["avatar"], "IMAGE_INVALID", "Invalid image data"))
        return None
    return data, mime


@router.get("/users/@me/guilds")
async def my_guilds(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    app = bot_app(request)
    guilds = [ctx.state.guilds[g] for g in app.guild_ids if g in ctx.state.guilds]
    return ok(
        [
            {
                "id": str(g.id),
                "name": g.name,
                "icon": None,
                "banner": None,
                "owner": False,
                "permissions": str((1 << 53) - 1),
                "features": [],
            }
            for g in guilds
        ]
    )


@router.get("/users/{user_id}")
async def get_user(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    bot_app(request)
    user = ctx.state.users.get(snowflake_param(request, "user_id"))
    if user is None:
        raise not_found(UNKNOWN_USER, "User")
    return ok(user_payload(user))
