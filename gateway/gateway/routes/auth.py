"""Sign-in, sessions, the account (`/v1/me…`) and the public JWKS.

Browser sign-in ends with HttpOnly session cookies (`bc_access`, `bc_refresh`) plus the
readable CSRF cookie; `?mode=token` ends with JSON tokens instead (scripts and tests).
"""

from __future__ import annotations

import html
from typing import Annotated, Any, Literal
from uuid import UUID

import orjson
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, ORJSONResponse, RedirectResponse
from pydantic import BaseModel

from gateway.auth import (
    ACCESS_COOKIE,
    REFRESH_COOKIE,
    CurrentUser,
    OptionalUser,
    Principal,
    require_scope,
)
from gateway.csrf import CSRF_COOKIE, check_csrf, new_csrf_token
from gateway.deps import Bus, Runtime
from proto import auth as P
from proto.access import permission_names
from proto.base import Empty
from proto.errors import ErrorCode
from proto.workspaces import Me
from services.errors import RpcError

router = APIRouter(tags=["auth"])

STATE_COOKIE = "bc_oauth"
AUTH_PATH = "/v1/auth"
Account = Annotated[Principal, require_scope(P.ACCOUNT_SCOPE)]
# Settings are an area of their own: a personal token reads or writes them only with
# `settings:read` / `settings:write`, like bots, commands, files and logs.
SettingsReader = Annotated[Principal, require_scope("settings:read")]
SettingsWriter = Annotated[Principal, require_scope("settings:write")]


class TokenResponse(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105
    expires_in: int
    refresh_expires_in: int
    user: P.User


class SessionResponse(BaseModel):
    """A cookie session was set or renewed; the tokens themselves stay in HttpOnly cookies."""

    token_type: Literal["cookie"] = "cookie"  # noqa: S105
    expires_in: int
    user: P.User


class RefreshBody(BaseModel):
    refresh_token: str | None = None


def _settings(runtime: Runtime) -> Any:
    return runtime.settings


def _callback_url(request: Request, runtime: Runtime, provider: str) -> str:
    base = _settings(runtime).public_url.rstrip("/") or str(request.base_url).rstrip("/")
    return f"{base}{AUTH_PATH}/{provider}/callback"


def _set_session_cookies(response: Response, runtime: Runtime, tokens: P.TokenPair) -> None:
    s = _settings(runtime)
    common: dict[str, Any] = {
        "secure": s.secure_cookies,
        "domain": s.cookie_domain,
        "samesite": "lax",
    }
    response.set_cookie(
        ACCESS_COOKIE,
        tokens.access_token,
        max_age=tokens.expires_in,
        httponly=True,
        path="/",
        **common,
    )
    response.set_cookie(
        REFRESH_COOKIE,
        tokens.refresh_token,
        max_age=tokens.refresh_expires_in,
        httponly=True,
        path=AUTH_PATH,
        **common,
    )
    response.set_cookie(
        CSRF_COOKIE,
        new_csrf_token(),
        max_age=tokens.refresh_expires_in,
        httponly=False,
        path="/",
        **common,
    )


def _clear_session_cookies(response: Response, runtime: Runtime) -> None:
    s = _settings(runtime)
    for name, path in ((ACCESS_COOKIE, "/"), (REFRESH_COOKIE, AUTH_PATH), (CSRF_COOKIE, "/")):
        response.delete_cookie(
            name, path=path, domain=s.cookie_domain, secure=s.secure_cookies, httponly=True
        )


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def _error_page(err: RpcError) -> HTMLResponse:
    body = (
        "<!doctype html><meta charset=utf-8><title>Sign-in failed</title>"
        "<h1>Sign-in failed</h1>"
        f"<p>{html.escape(err.message)}</p><p><a href='/'>Back to botcenter</a></p>"
    )
    return HTMLResponse(body, status_code=err.envelope().http_status)


def _error_json(err: RpcError) -> ORJSONResponse:
    env = err.envelope()
    return ORJSONResponse({"error": env.model_dump(mode="json")}, status_code=env.http_status)


# --------------------------------------------------------------------------- sign-in
@router.get("/v1/auth/providers", response_model=P.ProviderList, summary="Sign-in providers")
async def providers(bus: Bus) -> P.ProviderList:
    return await bus.call(P.PROVIDERS, Empty())


@router.get(
    "/v1/auth/{provider}/login",
    status_code=302,
    summary="Start signing in (302 to the provider); `link=true` links it to your account",
    responses={302: {"description": "redirect to the provider"}},
)
async def login(
    provider: str,
    request: Request,
    bus: Bus,
    runtime: Runtime,
    user: OptionalUser,
    next: Annotated[str, Query(max_length=2048)] = "/",
    mode: Literal["cookie", "token"] = "cookie",
    link: bool = False,
) -> Response:
    if link and user is None:
        raise RpcError(ErrorCode.UNAUTHENTICATED, "sign in first to link another account")
    if link and user is not None and user.kind != "session":
        raise RpcError(ErrorCode.FORBIDDEN, "a personal API token cannot link accounts")
    started = await bus.call(
        P.LOGIN_START,
        P.LoginStart(
            provider=provider,
            redirect_uri=_callback_url(request, runtime, provider),
            next=next,
            mode=mode,
            link=link,
        ),
        user_id=user.user_id if link and user is not None else None,
    )
    response = RedirectResponse(started.authorize_url, status_code=302)
    s = _settings(runtime)
    response.set_cookie(
        STATE_COOKIE,
        started.state,
        max_age=900,
        httponly=True,
        samesite="lax",
        path=AUTH_PATH,
        secure=s.secure_cookies,
        domain=s.cookie_domain,
    )
    return response


@router.get(
    "/v1/auth/{provider}/callback",
    summary="Where the provider sends the browser back",
    response_model=TokenResponse,
    responses={302: {"description": "signed in; redirect to `next` with session cookies"}},
)
async def callback(
    provider: str,
    request: Request,
    bus: Bus,
    runtime: Runtime,
    state: Annotated[str | None, Query(max_length=512)] = None,
    code: Annotated[str | None, Query(max_length=2048)] = None,
    error: Annotated[str | None, Query(max_length=256)] = None,
    error_description: Annotated[str | None, Query(max_length=1024)] = None,
) -> Response:
    try:
        bound = request.cookies.get(STATE_COOKIE)
        if not state or not bound or bound != state:
            raise RpcError(
                ErrorCode.INVALID,
                "this sign-in did not start in this browser (state mismatch); please start again",
                details={"reason": "state_mismatch"},
            )
        result = await bus.call(
            P.LOGIN_FINISH,
            P.LoginFinish(
                provider=provider,
                state=state,
                code=code,
                error=error,
                error_description=error_description,
            ),
        )
    except RpcError as err:
        response: Response = _error_page(err) if _wants_html(request) else _error_json(err)
        response.delete_cookie(STATE_COOKIE, path=AUTH_PATH)
        return response
    tokens = result.tokens
    if result.mode == "token":
        response = ORJSONResponse(TokenResponse(**tokens.model_dump()).model_dump(mode="json"))
    else:
        response = RedirectResponse(result.next, status_code=302)
        _set_session_cookies(response, runtime, tokens)
    response.delete_cookie(STATE_COOKIE, path=AUTH_PATH)
    return response


# --------------------------------------------------------------------------- sessions
def _refresh_token_of(
    request: Request, body: RefreshBody | None, runtime: Runtime
) -> tuple[str, bool]:
    if body is not None and body.refresh_token:
        return body.refresh_token, False
    cookie = request.cookies.get(REFRESH_COOKIE)
    if not cookie:
        raise RpcError(
            ErrorCode.UNAUTHENTICATED,
            'no refresh token: send {"refresh_token": …} or the session cookie',
        )
    check_csrf(request, list(_settings(runtime).cors_origins))
    return cookie, True


@router.post(
    "/v1/auth/refresh",
    response_model=TokenResponse | SessionResponse,
    summary="Trade a refresh token for new tokens (rotation; reuse signs the session out)",
)
async def refresh(
    request: Request, bus: Bus, runtime: Runtime, body: RefreshBody | None = None
) -> Response:
    token, via_cookie = _refresh_token_of(request, body, runtime)
    try:
        tokens = await bus.call(P.REFRESH, P.RefreshRequest(refresh_token=token))
    except RpcError as err:
        response = _error_json(err)
        if via_cookie and err.code is ErrorCode.UNAUTHENTICATED:
            _clear_session_cookies(response, runtime)
        return response
    if via_cookie:
        response = ORJSONResponse(
            SessionResponse(expires_in=tokens.expires_in, user=tokens.user).model_dump(mode="json")
        )
        _set_session_cookies(response, runtime, tokens)
        return response
    return ORJSONResponse(TokenResponse(**tokens.model_dump()).model_dump(mode="json"))


@router.post("/v1/auth/logout", status_code=204, summary="Sign this session out")
async def logout(
    request: Request, bus: Bus, runtime: Runtime, body: RefreshBody | None = None
) -> Response:
    token, _ = _refresh_token_of(request, body, runtime)
    await bus.call(P.LOGOUT, P.RefreshRequest(refresh_token=token))
    response = Response(status_code=204)
    _clear_session_cookies(response, runtime)
    return response


@router.post("/v1/auth/logout-all", status_code=204, summary="Sign out everywhere")
async def logout_all(bus: Bus, runtime: Runtime, user: Account) -> Response:
    await bus.call(P.LOGOUT_ALL, Empty(), user_id=user.user_id)
    response = Response(status_code=204)
    _clear_session_cookies(response, runtime)
    return response


@router.get("/.well-known/jwks.json", summary="Public keys that verify access tokens")
async def jwks(bus: Bus) -> dict[str, Any]:
    reply = await bus.call(P.JWKS, Empty())
    return {"keys": reply.keys}


# --------------------------------------------------------------------------- account
def my_workspaces(user: Principal) -> list[dict[str, Any]]:
    """From the access the request was authenticated with (no call on this hot path)."""
    if user.snapshot is None or user.access is None:
        return []
    out = []
    for ws in user.snapshot.grants:
        grant = user.access.grant(ws.workspace_id)
        if grant is None:  # a token limited to another workspace
            continue
        out.append(
            {
                "id": str(ws.workspace_id),
                "name": ws.name,
                "personal": ws.personal,
                "role": ws.role,
                "permissions": permission_names(grant.permissions),
                "bot_ids": [str(b) for b in grant.bot_ids],
            }
        )
    return out


@router.get("/v1/me", response_model=Me, summary="Who am I, and my workspaces")
async def me(bus: Bus, user: CurrentUser) -> Response:
    # The reply is already a validated contract: extend its JSON without a model (hot path).
    _, raw = await bus.call_raw(P.ME, Empty(), user_id=user.user_id)
    body = orjson.loads(raw)
    body["workspaces"] = my_workspaces(user)
    return Response(orjson.dumps(body), media_type="application/json")


class MePatch(BaseModel):
    display_name: str


@router.patch("/v1/me", response_model=P.User, summary="Change my display name")
async def update_me(body: MePatch, bus: Bus, user: Account) -> P.User:
    return await bus.call(
        P.ME_UPDATE, P.UpdateMe(display_name=body.display_name), user_id=user.user_id
    )


@router.delete(
    "/v1/me",
    response_model=P.AccountDeleted,
    summary="Delete my account and all my data in every service (idempotent)",
)
async def delete_me(bus: Bus, runtime: Runtime, user: Account) -> Response:
    result = await bus.call(P.ME_DELETE, Empty(), user_id=user.user_id, timeout_s=30)
    response = ORJSONResponse(result.model_dump(mode="json"))
    _clear_session_cookies(response, runtime)
    return response


@router.get("/v1/me/settings", response_model=P.UserSettings, summary="My settings (JSON)")
async def get_settings(bus: Bus, user: SettingsReader) -> P.UserSettings:
    return await bus.call(P.SETTINGS_GET, Empty(), user_id=user.user_id)


@router.put(
    "/v1/me/settings", response_model=P.UserSettings, summary="Replace my settings (≤ 64 KiB)"
)
async def put_settings(body: P.UserSettings, bus: Bus, user: SettingsWriter) -> P.UserSettings:
    return await bus.call(P.SETTINGS_PUT, body, user_id=user.user_id)


@router.get("/v1/me/tokens", response_model=P.ApiTokenList, summary="My personal API tokens")
async def list_tokens(bus: Bus, user: Account) -> P.ApiTokenList:
    return await bus.call(P.TOKENS_LIST, Empty(), user_id=user.user_id)


@router.post(
    "/v1/me/tokens",
    response_model=P.ApiTokenCreated,
    status_code=201,
    summary="Create a personal API token (the secret is shown once)",
)
async def create_token(body: P.CreateApiToken, bus: Bus, user: Account) -> P.ApiTokenCreated:
    return await bus.call(P.TOKENS_CREATE, body, user_id=user.user_id)


@router.delete("/v1/me/tokens/{token_id}", status_code=204, summary="Revoke a personal API token")
async def revoke_token(token_id: UUID, bus: Bus, user: Account) -> Response:
    await bus.call(P.TOKENS_REVOKE, P.ApiTokenRef(token_id=token_id), user_id=user.user_id)
    return Response(status_code=204)
