"""Discord-style OAuth2: `/oauth2/authorize`, `/api/oauth2/token`, `/api/oauth2/token/revoke`.

The userinfo endpoint is `/api/v10/users/@me` with a Bearer token (see routes_users).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import unquote

from aiohttp import web

from .bot_authorize import bot_authorize, is_bot_authorization
from .consent import authorize_endpoint
from .context import SandboxContext, ctx_of
from .jsonresp import json_response
from .oauth_store import OAuthClient, OAuthError, TokenGrant, verify_pkce

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
    # An invite link (`scope=bot…` without `response_type`) is Discord's bot authorization.
    if request.method == "POST":
        params = await form_of(request)
    else:
        params = dict(request.query)
    if is_bot_authorization(params):
        return await bot_authorize(request, ctx_of(request), params)
    return await authorize_endpoint(
        request, ctx_of(request), PROVIDER, "Sign in with Discord (sandbox)"
    )


@dataclass(frozen=True)
class RefusalTexts:
    """What a provider's token endpoint says when it refuses a grant: each real provider
    words these differently, and clients and tests see the words."""

    redirect_mismatch: str
    bad_verifier: str
    unsupported_grant: str  # `{grant_type}` is filled in


async def grant_from_token_request(
    ctx: SandboxContext,
    request: web.Request,
    provider: str,
    ttl_s: int,
    refusals: RefusalTexts,
) -> tuple[OAuthClient, TokenGrant]:
    """The token endpoint's exchange, shared by every provider: authenticate the client, then
    redeem an authorization code (redirect URI and PKCE checked) or rotate a refresh token.
    Raises `OAuthError` for the caller to turn into the provider's error response."""
    form = await form_of(request)
    client = client_from_request(ctx, request, form)
    grant_type = form.get("grant_type")
    if grant_type == "authorization_code":
        code = ctx.oauth.redeem_code(form.get("code", ""), client, provider)
        if form.get("redirect_uri") != code.redirect_uri:
            raise OAuthError("invalid_grant", refusals.redirect_mismatch)
        if not verify_pkce(
            form.get("code_verifier"), code.code_challenge, code.code_challenge_method
        ):
            raise OAuthError("invalid_grant", refusals.bad_verifier)
        grant = ctx.oauth.issue_tokens(
            provider, client.client_id, code.user_id, code.scopes, ttl_s, code.nonce
        )
        code.issued_tokens += [grant.access_token, grant.refresh_token]
    elif grant_type == "refresh_token":
        grant = ctx.oauth.rotate(form.get("refresh_token", ""), client, provider, ttl_s)
    else:
        raise OAuthError(
            "unsupported_grant_type", refusals.unsupported_grant.format(grant_type=grant_type)
        )
    return client, grant


# An OpenID provider's id_token for a grant: (context, grant, client id) -> signed JWT.
IdTokenSigner = Callable[[SandboxContext, TokenGrant, str], str]


async def token_response(
    request: web.Request,
    provider: str,
    ttl_s: int,
    refusals: RefusalTexts,
    id_token: IdTokenSigner | None = None,
) -> web.Response:
    """A provider's token endpoint: the exchange (`grant_from_token_request`) answered as
    an OAuth token response, or the provider's error response. An OpenID provider passes
    `id_token`, added when the grant has the `openid` scope."""
    ctx = ctx_of(request)
    try:
        client, grant = await grant_from_token_request(ctx, request, provider, ttl_s, refusals)
    except OAuthError as exc:
        return oauth_error_response(exc)
    body = {
        "access_token": grant.access_token,
        "token_type": "Bearer",
        "expires_in": ttl_s,
        "refresh_token": grant.refresh_token,
        "scope": " ".join(grant.scopes),
    }
    if id_token is not None and "openid" in grant.scopes:
        body["id_token"] = id_token(ctx, grant, client.client_id)
    return json_response(body, headers={"Cache-Control": "no-store"})


DISCORD_REFUSALS = RefusalTexts(
    redirect_mismatch='Invalid "redirect_uri" in request.',
    bad_verifier='Invalid "code_verifier" in request.',
    unsupported_grant="Unsupported grant type: {grant_type}",
)


async def token(request: web.Request) -> web.Response:
    ttl = ctx_of(request).config.tunables.oauth_access_token_ttl_s
    return await token_response(request, PROVIDER, ttl, DISCORD_REFUSALS)


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
