"""Contracts of the auth domain. The cross-service part (JWKS, personal-token check,
revocation events) is fixed here first; auth-service adds the rest below."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import Field

from proto.base import Contract, Empty
from proto.events import Event
from proto.registry import CoreSpec, EventSpec, Spec, declared_specs, gateway_rpc, rpc
from proto.values import JsonObject


class Jwks(Contract):
    """The public signing keys (JWK dicts), current and previous, for local JWT checks."""

    keys: list[dict[str, Any]]
    issuer: str
    audience: str
    # Lifetime of access tokens: how far back a verifier replays revocations at start.
    access_ttl_s: int | None = None


class CheckApiToken(Contract):
    """A personal API token (`bcp_...`) presented to the gateway."""

    token: str


class TokenCeiling(Contract):
    """A personal token's ceiling (#17): the one workspace it may act in and the permissions
    (names of proto/access.py PERMISSIONS) it may use there, each None for "all of the
    owner's" (tokens made before teams, or made without a limit). The gateway intersects
    them with the owner's current grants at every use."""

    workspace_id: UUID | None = None
    permissions: list[str] | None = None


class ApiTokenPrincipal(TokenCeiling):
    user_id: UUID
    token_id: UUID
    scopes: list[str] = Field(default_factory=list)
    # When the token stops working (None: it does not expire); a live stream opened with a
    # ticket this token asked for closes then.
    expires_at: datetime | None = None


class SessionsRevoked(Event):
    """`evt.auth.<user>.-.sessions_revoked`: log-out everywhere; open streams must close."""


class SessionRevoked(Event):
    """`evt.auth.<user>.-.session_revoked`: one session signed out (or its refresh token was
    reused); access tokens carrying this `sid` are refused from now on."""

    session_id: UUID


class KeysRotated(Contract):
    """`ctl.auth.keys_rotated`: a new signing key is published (not signing yet).

    Auth replicas reload their keys, verifiers (gateway, log-service) refresh the JWKS."""

    kid: str
    active_from: datetime


class RetireKey(Contract):
    """Operator (`botcenter keys retire`): stop trusting a signing key at once, e.g. because
    it leaked. `current` names the key signing now."""

    kid: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")


class KeyRetired(Contract):
    """`ctl.auth.key_retired`, and the reply of `rpc.auth.keys.retire`: tokens signed with
    `kid` are refused from now on — verifiers drop the key and its cached tokens and never
    take it back from a JWKS; auth replicas reload their keys. `signing_kid` signs new
    tokens (a new key, active at once, when the retired one was signing)."""

    kid: str
    signing_kid: str


class ApiTokenRevoked(Event):
    """`evt.auth.<user>.-.token_revoked`: gateways drop the cached token at once."""

    token_id: UUID


KEYS_ROTATED_SUBJECT = "ctl.auth.keys_rotated"
KEY_RETIRED_SUBJECT = "ctl.auth.key_retired"

JWKS = rpc(
    "rpc.auth.jwks",
    Empty,
    Jwks,
    callers=["gateway", "log"],
    summary="public keys to verify access tokens locally",
)
CHECK_API_TOKEN = rpc(
    "rpc.auth.token.check",
    CheckApiToken,
    ApiTokenPrincipal,
    callers=["gateway", "log"],
    summary="resolve a personal API token to its user and scopes (401 when revoked)",
)


# --------------------------------------------------------------------------------------
# auth-service's own API (called by the gateway on behalf of browsers and scripts)

# Scopes a personal API token may carry. `write` implies `read` in the same area.
API_SCOPES: tuple[str, ...] = (
    "bots:read",
    "bots:write",
    "commands:read",
    "commands:write",
    "files:read",
    "files:write",
    "logs:read",
    # The console's preferences (`/v1/me/settings`).
    "settings:read",
    "settings:write",
)
# Only a signed-in session (never a personal token) holds this one: account management,
# token management, deleting the account.
ACCOUNT_SCOPE = "account"

Provider = Literal["discord", "google"]
LoginMode = Literal["cookie", "token"]


class ProviderInfo(Contract):
    name: Provider
    display_name: str


class ProviderList(Contract):
    providers: list[ProviderInfo]


class Identity(Contract):
    provider: Provider
    subject: str
    email: str | None = None
    display_name: str | None = None
    linked_at: datetime


class User(Contract):
    id: UUID
    display_name: str
    email: str | None = None
    avatar_url: str | None = None
    created_at: datetime
    identities: list[Identity] = Field(default_factory=list)


class LoginStart(Contract):
    """Begin a sign-in (or, with the caller's user id in the headers, link a provider)."""

    provider: str
    redirect_uri: str
    next: str = "/"
    mode: LoginMode = "cookie"
    link: bool = False


class LoginRedirect(Contract):
    authorize_url: str
    state: str


class LoginFinish(Contract):
    """What the provider sent back to the callback URL."""

    provider: str
    state: str | None = None
    code: str | None = None
    error: str | None = None
    error_description: str | None = None


class TokenPair(Contract):
    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105
    expires_in: int
    refresh_expires_in: int
    user: User


class LoginResult(Contract):
    tokens: TokenPair
    next: str
    mode: LoginMode
    linked: bool = False


class RefreshRequest(Contract):
    refresh_token: str


class UpdateMe(Contract):
    display_name: str


class UserSettings(Contract):
    """Free-form JSON (the console's preferences): text without NUL or lone surrogates,
    64-bit integers and finite numbers only, as PostgreSQL's jsonb and orjson need."""

    settings: JsonObject


class PurgeOutcome(Contract):
    service: str
    ok: bool
    removed: int = 0
    error: str | None = None


class AccountDeleted(Contract):
    deleted: bool
    purged: list[PurgeOutcome]
    # Services that did not answer; auth-service keeps retrying them in the background.
    pending: list[str]


class ApiTokenInfo(TokenCeiling):
    id: UUID
    name: str
    scopes: list[str]
    last4: str
    created_at: datetime
    last_used_at: datetime | None = None
    expires_at: datetime | None = None


class ApiTokenList(Contract):
    tokens: list[ApiTokenInfo]


# Days a personal access token lives unless asked otherwise, and at most (#17).
API_TOKEN_DAYS_DEFAULT = 90
# A token's name, after its white space is folded (auth-service checks it).
API_TOKEN_NAME_MAX = 64
API_TOKEN_DAYS_MAX = 365


class CreateApiToken(TokenCeiling):
    name: str
    scopes: list[str]
    # 1 to API_TOKEN_DAYS_MAX; null (older clients) = the default.
    expires_in_days: int | None = API_TOKEN_DAYS_DEFAULT


class ApiTokenCreated(Contract):
    token: str  # shown once
    info: ApiTokenInfo


class ApiTokenRef(Contract):
    token_id: UUID


PROVIDERS = gateway_rpc("rpc.auth.providers", Empty, ProviderList)
LOGIN_START = gateway_rpc(
    "rpc.auth.login.start",
    LoginStart,
    LoginRedirect,
    "authorization URL (PKCE, state, nonce) for a provider",
)
LOGIN_FINISH = gateway_rpc(
    "rpc.auth.login.finish",
    LoginFinish,
    LoginResult,
    "exchange the provider's code, create/update/link the user, issue tokens",
)
REFRESH = gateway_rpc(
    "rpc.auth.refresh",
    RefreshRequest,
    TokenPair,
    "rotate a refresh token (reuse revokes the whole family)",
)
LOGOUT = gateway_rpc("rpc.auth.logout", RefreshRequest, Empty)
LOGOUT_ALL = gateway_rpc("rpc.auth.logout_all", Empty, Empty)
ME = gateway_rpc("rpc.auth.me.get", Empty, User)
ME_UPDATE = gateway_rpc("rpc.auth.me.update", UpdateMe, User)
ME_DELETE = gateway_rpc(
    "rpc.auth.me.delete",
    Empty,
    AccountDeleted,
    "delete the account and ask every service to purge the user's data",
)
SETTINGS_GET = gateway_rpc("rpc.auth.settings.get", Empty, UserSettings)
SETTINGS_PUT = gateway_rpc("rpc.auth.settings.put", UserSettings, UserSettings)
TOKENS_LIST = gateway_rpc("rpc.auth.tokens.list", Empty, ApiTokenList)
TOKENS_CREATE = gateway_rpc("rpc.auth.tokens.create", CreateApiToken, ApiTokenCreated)
TOKENS_REVOKE = gateway_rpc("rpc.auth.tokens.revoke", ApiTokenRef, Empty)
KEYS_ROTATE = rpc(
    "rpc.auth.keys.rotate",
    Empty,
    Jwks,
    callers=[],
    summary="operator: publish a new signing key now, sign with it after a delay "
    "(AUTH_KEY_ACTIVATION_S); the previous keys stay published while their tokens live",
)
KEYS_RETIRE = rpc(
    "rpc.auth.keys.retire",
    RetireKey,
    KeyRetired,
    callers=[],
    summary="operator: retire a signing key at once (a leaked one); its tokens are refused "
    "everywhere and a new key signs at once if it was the signing one",
)

SPECS: list[Spec] = [
    *declared_specs(globals()),
    EventSpec("evt.auth.*.*.sessions_revoked", SessionsRevoked, frozenset({"auth"})),
    EventSpec("evt.auth.*.*.token_revoked", ApiTokenRevoked, frozenset({"auth"})),
    EventSpec(
        "evt.auth.*.*.session_revoked",
        SessionRevoked,
        frozenset({"auth"}),
        "one session signed out: its access tokens stop working",
    ),
    CoreSpec(
        KEYS_ROTATED_SUBJECT,
        KeysRotated,
        frozenset({"auth"}),
        frozenset({"auth", "gateway", "log"}),
        "a new signing key is in the JWKS: reload keys / refresh the JWKS cache now",
    ),
    CoreSpec(
        KEY_RETIRED_SUBJECT,
        KeyRetired,
        frozenset({"auth"}),
        frozenset({"auth", "gateway", "log"}),
        "a signing key was retired: refuse its tokens now, never take it back from a JWKS",
    ),
]
