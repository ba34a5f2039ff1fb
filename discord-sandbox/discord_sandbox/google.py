"""A Google-style OpenID Connect issuer at `{base}/google`: discovery, JWKS, authorize, token
(RS256 id_token with nonce), userinfo and revoke. Sandbox human users are its accounts
(`sub` = the user id)."""

from __future__ import annotations

import base64
import hashlib
import struct
import time
import zlib
from typing import Any

import jwt
from aiohttp import web

from .consent import authorize_endpoint
from .context import SandboxContext, ctx_of
from .jsonresp import json_response
from .oauth import (
    RefusalTexts,
    form_of,
    token_response,
)
from .oauth_store import TokenGrant
from .state import User

PROVIDER = "google"
PREFIX = "/google"
GOOGLE_REFUSALS = RefusalTexts(
    redirect_mismatch="Bad Request: redirect_uri_mismatch",
    bad_verifier="Missing or invalid code verifier.",
    unsupported_grant="Invalid grant_type: {grant_type}",
)


def issuer(ctx: SandboxContext) -> str:
    return f"{ctx.base_url}{PREFIX}"


async def discovery(request: web.Request) -> web.Response:
    iss = issuer(ctx_of(request))
    return json_response(
        {
            "issuer": iss,
            "authorization_endpoint": f"{iss}/authorize",
            "token_endpoint": f"{iss}/token",
            "userinfo_endpoint": f"{iss}/userinfo",
            "revocation_endpoint": f"{iss}/revoke",
            "jwks_uri": f"{iss}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "claims_supported": [
                "aud",
                "email",
                "email_verified",
                "exp",
                "iat",
                "iss",
                "name",
                "picture",
                "sub",
                "nonce",
                "given_name",
                "family_name",
                "locale",
            ],
            "code_challenge_methods_supported": ["plain", "S256"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
        }
    )


async def jwks(request: web.Request) -> web.Response:
    return json_response({"keys": [ctx_of(request).oauth.public_jwk()]})


async def authorize(request: web.Request) -> web.StreamResponse:
    return await authorize_endpoint(
        request, ctx_of(request), PROVIDER, "Sign in with Google (sandbox)"
    )


def _claims(ctx: SandboxContext, user: User) -> dict[str, Any]:
    return {
        "sub": str(user.id),
        "email": user.email,
        "email_verified": True,
        "name": user.global_name or user.username,
        "given_name": user.global_name or user.username,
        "picture": f"{issuer(ctx)}/picture/{user.id}.png",
        "locale": "en",
    }


def _id_token(ctx: SandboxContext, grant: TokenGrant, client_id: str) -> str:
    user = ctx.state.users[grant.user_id]
    now = int(time.time())
    digest = hashlib.sha256(grant.access_token.encode()).digest()
    claims: dict[str, Any] = {
        "iss": issuer(ctx),
        "aud": client_id,
        "azp": client_id,
        "iat": now,
        "exp": now + 3600,
        "at_hash": base64.urlsafe_b64encode(digest[:16]).decode().rstrip("="),
        **_claims(ctx, user),
    }
    if grant.nonce:
        claims["nonce"] = grant.nonce
    return jwt.encode(
        claims, ctx.oauth.signing_key, algorithm="RS256", headers={"kid": ctx.oauth.key_id}
    )


async def token(request: web.Request) -> web.Response:
    ttl = ctx_of(request).config.tunables.google_access_token_ttl_s
    return await token_response(request, PROVIDER, ttl, GOOGLE_REFUSALS, id_token=_id_token)


async def userinfo(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    header = request.headers.get("Authorization", "")
    grant = ctx.oauth.bearer(header[7:].strip(), PROVIDER) if header.startswith("Bearer ") else None
    if grant is None:
        return json_response(
            {"error": "invalid_token", "error_description": "Invalid Credentials"},
            status=401,
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    claims = _claims(ctx, ctx.state.users[grant.user_id])
    if "email" not in grant.scopes:
        claims.pop("email")
        claims.pop("email_verified")
    return json_response(claims)


async def revoke(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    form = await form_of(request)
    ctx.oauth.revoke(form.get("token") or request.query.get("token", ""))
    return json_response({})


async def picture(request: web.Request) -> web.Response:
    """A small solid-colour PNG per user, so `picture` URLs resolve offline."""
    try:
        user_id = int(request.match_info["user_id"])
    except ValueError:
        raise web.HTTPNotFound() from None
    if user_id not in ctx_of(request).state.users:
        raise web.HTTPNotFound()
    return web.Response(body=solid_png(user_id), content_type="image/png")


def solid_png(seed: int, size: int = 64) -> bytes:
    color = bytes(((seed >> s) & 0xFF) | 0x40 for s in (0, 8, 16))
    row = b"\x00" + color * size
    raw = zlib.compress(row * size)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def install(app: web.Application) -> None:
    app.router.add_get(f"{PREFIX}/.well-known/openid-configuration", discovery)
    app.router.add_get(f"{PREFIX}/jwks", jwks)
    app.router.add_route("GET", f"{PREFIX}/authorize", authorize)
    app.router.add_route("POST", f"{PREFIX}/authorize", authorize)
    app.router.add_post(f"{PREFIX}/token", token)
    app.router.add_get(f"{PREFIX}/userinfo", userinfo)
    app.router.add_post(f"{PREFIX}/revoke", revoke)
    app.router.add_get(PREFIX + "/picture/{user_id}.png", picture)
