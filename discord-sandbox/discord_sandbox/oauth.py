"""Discord-style OAuth2: `/oauth2/authorize`, `/api/oauth2/token`, `/api/oauth2/token/revoke`.

The userinfo endpoint is `/api/v10/users/@me` with a Bearer token (see routes_users).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from urllib.parse import unquote

from aiohttp import web

from .consent import authorize_endpoint
from .context import SandboxContext, ctx_of
from .jsonresp import json_response
from .oauth_store import OAuthClient, OAuthError, verify_pkce

PROVIDER = "discord"
TOKEN_PATHS = ("/api/oauth2/token", "/api/v10/oauth2/token", "/api/v9/oauth2/token")


def client_from_request(
    ctx: SandboxContext, request: web.Request, form: Mapping[str, str]
) -> OAuthClient:
    """client_secret_basic or client_secret_post; a wrong secret is `invalid_client` (401)."""
    client_id, secret = form.get("client_id"), form.get("client_secret")
    header = request.headers.get("Authorization", "")
    if header.startswith("Basic "):
        try:
            decoded = base64.b64decode(header[6:]).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise OAuthError("invalid_client", "Malformed Basic credentials.", 401) from None
        raw_id, _, raw_secret = decoded.partition(":")
        client_id, secret = unquote(raw_id), unquote(raw_secret)
    client = ctx.oauth.client(client_id)
    if client is None or not client.check_secret(secret):
        raise OAuthError("invalid_client", "Invalid client credentials.", 401)
    return client


def oauth_error_response(exc: OAuthError) -> web.Response:
    headers = {"Cache-Control": "no-store"}
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="discord-sandbox"'
    return json_response(exc.body(), status=exc.status, headers=headers)


async def form_of(request: web.Request) -> dict[str, str]:
    form = await request.post()
    return {k: str(v) for k, v in form.items()}


async def authorize(request: web.Request) -> web.StreamResponse:
    return await authorize_endpoint(
        request, ctx_of(request), PROVIDER, "Sign in with Discord (sandbox)"
    )


async def token(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    tunables = ctx.config.tunables
    try:
        form = await form_of(request)
        client = client_from_request(ctx, request, form)
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            code = ctx.oauth.redeem_code(form.get("code", ""), client, PROVIDER)
            if form.get("redirect_uri") != code.redirect_uri:
                raise OAuthError("invalid_grant", 'Invalid "redirect_uri" in request.')
            if not verify_pkce(
                form.get("code_verifier"), code.code_challenge, code.code_challenge_method
            ):
                raise OAuthError("invalid_grant", 'Invalid "code_verifier" in request.')
            grant = ctx.oauth.issue_tokens(
                PROVIDER,
                client.client_id,
                code.user_id,
                code.scopes,
                tunables.oauth_access_token_ttl_s,
            )
            code.issued_tokens += [grant.access_token, grant.refresh_token]
        elif grant_type == "refresh_token":
            grant = ctx.oauth.rotate(
                form.get("refresh_token", ""), client, PROVIDER, tunables.oauth_access_token_ttl_s
            )
        else:
            raise OAuthError("unsupported_grant_type", f"Unsupported grant type: {grant_type}")
    except OAuthError as exc:
        return oauth_error_response(exc)
    return json_response(
        {
            "access_token": grant.access_token,
            "token_type": "Bearer",
            "expires_in": tunables.oauth_access_token_ttl_s,
            "refresh_token": grant.refresh_token,
            "scope": " ".join(grant.scopes),
        },
        headers={"Cache-Control": "no-store"},
    )


async def revoke(request: web.Request) -> web.Response:
    ctx = ctx_of(request)
    try:
        form = await form_of(request)
        client_from_request(ctx, request, form)
    except OAuthError as exc:
        return oauth_error_response(exc)
    ctx.oauth.revoke(form.get("token", ""))
    return json_response({})


def install(app: web.Application) -> None:
    app.router.add_route("GET", "/oauth2/authorize", authorize)
    app.router.add_route("POST", "/oauth2/authorize", authorize)
    app.router.add_route("GET", "/api/oauth2/authorize", authorize)
    app.router.add_route("POST", "/api/oauth2/authorize", authorize)
    for path in TOKEN_PATHS:
        app.router.add_route("POST", path, token)
        app.router.add_route("POST", f"{path}/revoke", revoke)
