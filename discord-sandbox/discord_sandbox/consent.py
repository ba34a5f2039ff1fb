"""The authorization step both OAuth providers share: validate the request, show the consent
page (pick a sandbox user), and redirect back with a code or `error=access_denied`."""

from __future__ import annotations

import html
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

from aiohttp import web

from .context import SandboxContext
from .oauth_store import AuthCode, OAuthClient
from .state import StateError, User

PASSED_THROUGH = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "access_type",
)


@dataclass(slots=True)
class AuthorizeRequest:
    provider: str
    client: OAuthClient
    redirect_uri: str
    scopes: list[str]
    params: dict[str, str]


def with_query(uri: str, params: Mapping[str, str | None]) -> str:
    parts = urlsplit(uri)
    extra = urlencode({k: v for k, v in params.items() if v is not None})
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def error_page(message: str, status: int = 400) -> web.Response:
    body = (
        "<!doctype html><title>Sandbox sign-in</title><h1>Cannot sign in</h1>"
        f"<p>{html.escape(message)}</p>"
    )
    return web.Response(text=body, status=status, content_type="text/html")


def parse_authorize(
    ctx: SandboxContext, provider: str, params: Mapping[str, str]
) -> AuthorizeRequest | web.Response:
    """Errors about the client or redirect_uri are shown, never redirected (RFC 6749 §4.1.2.1)."""
    client = ctx.oauth.client(params.get("client_id"))
    if client is None:
        return error_page("Unknown client_id.")
    redirect_uri = params.get("redirect_uri", "")
    if not redirect_uri or not client.allows(redirect_uri):
        return error_page("Invalid redirect_uri for this client.")
    if params.get("response_type") != "code":
        raise web.HTTPFound(
            with_query(
                redirect_uri, {"error": "unsupported_response_type", "state": params.get("state")}
            )
        )
    method = params.get("code_challenge_method")
    if params.get("code_challenge") and method not in (None, "", "S256", "plain"):
        raise web.HTTPFound(
            with_query(
                redirect_uri,
                {
                    "error": "invalid_request",
                    "error_description": "unsupported code_challenge_method",
                    "state": params.get("state"),
                },
            )
        )
    scopes = [s for s in params.get("scope", "").replace("+", " ").split() if s]
    kept = {k: params[k] for k in PASSED_THROUGH if params.get(k)}
    return AuthorizeRequest(provider, client, redirect_uri, scopes, kept)


def find_user(ctx: SandboxContext, hint: str | None) -> User | None:
    if not hint:
        return None
    if hint.isdigit():
        user = ctx.state.users.get(int(hint))
        return user if user is not None and not user.bot else None
    for user in ctx.state.human_users():
        if user.email == hint:
            return user
    return None


def approve(ctx: SandboxContext, request: AuthorizeRequest, user: User) -> web.HTTPFound:
    params = request.params
    code = AuthCode(
        code=secrets.token_urlsafe(24),
        provider=request.provider,
        client_id=request.client.client_id,
        user_id=user.id,
        redirect_uri=request.redirect_uri,
        scopes=request.scopes,
        expires_at=time.time() + ctx.config.tunables.oauth_code_ttl_s,
        code_challenge=params.get("code_challenge"),
        code_challenge_method=params.get("code_challenge_method")
        or ("plain" if params.get("code_challenge") else None),
        nonce=params.get("nonce"),
    )
    ctx.oauth.issue_code(code)
    return web.HTTPFound(
        with_query(request.redirect_uri, {"code": code.code, "state": params.get("state")})
    )


def deny(request: AuthorizeRequest) -> web.HTTPFound:
    return web.HTTPFound(
        with_query(
            request.redirect_uri, {"error": "access_denied", "state": request.params.get("state")}
        )
    )


# Keeps the "will be signed in as" line true while the person picks: typing a new name
# clears the radio choice (the typed name wins on the server too), picking a user clears it.
CONSENT_SCRIPT = """
(function () {
  var form = document.getElementById('consent');
  var typed = form.elements['new_username'];
  var who = document.getElementById('who');
  function radios() { return form.querySelectorAll('input[name=user_id]'); }
  function say() {
    var name = typed.value.trim();
    if (name) { who.textContent = 'You will be signed in as a new user, ' + name + '.'; return; }
    var picked = form.querySelector('input[name=user_id]:checked');
    who.textContent = picked
      ? 'You will be signed in as ' + picked.getAttribute('data-username') + '.'
      : 'Pick a user or type a new name.';
  }
  typed.addEventListener('input', function () {
    if (typed.value.trim()) { radios().forEach(function (r) { r.checked = false; }); }
    say();
  });
  radios().forEach(function (r) {
    r.addEventListener('change', function () { typed.value = ''; say(); });
  });
  say();
})();
"""


def consent_page(
    ctx: SandboxContext,
    request: AuthorizeRequest,
    action: str,
    title: str,
    *,
    error: str | None = None,
    typed: str = "",
) -> web.Response:
    users = ctx.state.human_users()
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in request.params.items()
    )
    preselect = not typed
    choices = (
        "".join(
            f'<label><input type="radio" name="user_id" value="{u.id}"'
            f' data-username="{html.escape(u.username)}"'
            f"{' checked' if preselect and i == 0 else ''}> "
            f"{html.escape(u.username)} <small>{html.escape(u.email or '')}</small></label><br>"
            for i, u in enumerate(users)
        )
        or "<p>No sandbox users yet: create one below.</p>"
    )
    if typed:
        who = f"You will be signed in as a new user, {html.escape(typed)}."
    elif users:
        who = f"You will be signed in as {html.escape(users[0].username)}."
    else:
        who = "Type a name to create a sandbox user."
    problem = f'<p role="alert" style="color: #b00020">{html.escape(error)}</p>' if error else ""
    scopes = html.escape(", ".join(request.scopes) or "(none)")
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title></head>
<body style="font-family: sans-serif; max-width: 32em; margin: 3em auto">
<h1>{html.escape(title)}</h1>
<p><b>{html.escape(request.client.name)}</b> wants to sign you in (scopes: {scopes}).</p>
{problem}
<form id="consent" method="post" action="{html.escape(action)}">
{hidden}
<fieldset><legend>Sign in as</legend>{choices}
<label>or a new user: <input type="text" name="new_username" placeholder="username"
 value="{html.escape(typed)}" maxlength="32"></label>
<p><small>A name typed here wins over the user picked above.</small></p>
</fieldset>
<p id="who" role="status" aria-live="polite">{who}</p>
<p><button type="submit" name="decision" value="approve">Authorize</button>
<button type="submit" name="decision" value="deny">Cancel</button></p>
</form>
<script>{CONSENT_SCRIPT}</script>
</body></html>"""
    return web.Response(text=body, status=400 if error else 200, content_type="text/html")


async def authorize_endpoint(
    request: web.Request, ctx: SandboxContext, provider: str, title: str
) -> web.StreamResponse:
    """GET shows the consent page (or approves at once with `login_hint`); POST decides."""
    if request.method == "POST":
        form = await request.post()
        params = {k: str(v) for k, v in form.items()}
    else:
        params = dict(request.query)
    parsed = parse_authorize(ctx, provider, params)
    if isinstance(parsed, web.Response):
        return parsed
    if request.method == "GET":
        hinted = find_user(ctx, params.get("login_hint"))
        if hinted is not None:
            raise approve(ctx, parsed, hinted)
        return consent_page(ctx, parsed, request.path, title)
    if params.get("decision") == "deny":
        raise deny(parsed)
    # A typed new name wins over the (pre-checked) existing user: the person typed it last.
    typed = params.get("new_username", "").strip()
    if typed:
        try:
            user: User | None = ctx.state.create_user(typed)
        except StateError as exc:
            return consent_page(ctx, parsed, request.path, title, error=exc.message, typed=typed)
    else:
        user = find_user(ctx, params.get("user_id"))
    if user is None:
        return consent_page(
            ctx, parsed, request.path, title, error="Pick a user or type a new name."
        )
    raise approve(ctx, parsed, user)
