"""auth-service rules: sign-in and linking, sessions (refresh rotation with reuse
detection), personal API tokens, account settings and deletion.

Pre-authentication work (login flows, refresh, token checks) runs in the system scope and
commits on its own where a refusal must still leave a trace (a consumed state, a revoked
family); everything a signed-in user does runs in the message's RLS-scoped session.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from auth_service import repository as repo
from auth_service.keys import KeyRing
from auth_service.providers import OAuthProvider, Profile
from auth_service.settings import Settings
from auth_service.tokens import API_TOKEN_PREFIX, REFRESH_PREFIX, access_claims, digest, new_secret
from proto.access import (
    BUILTIN_ROLES,
    MAX_CUSTOM_ROLES_PER_WORKSPACE,
    MAX_MEMBERS_PER_WORKSPACE,
    MAX_MEMBERSHIPS_PER_USER,
    Access,
    AccessChanged,
    AccessChangeReason,
    AccessSnapshot,
    AccessTooLarge,
    Grant,
    WorkspaceGrant,
    permission_mask,
    permission_names,
    unknown_permissions,
)
from proto.auth import (
    API_SCOPES,
    API_TOKEN_DAYS_DEFAULT,
    API_TOKEN_DAYS_MAX,
    API_TOKEN_NAME_MAX,
    AccountDeleted,
    ApiTokenCreated,
    ApiTokenInfo,
    ApiTokenPrincipal,
    ApiTokenRevoked,
    CreateApiToken,
    Identity,
    LoginFinish,
    LoginRedirect,
    LoginResult,
    LoginStart,
    ProviderInfo,
    ProviderList,
    PurgeOutcome,
    SessionRevoked,
    SessionsRevoked,
    TokenPair,
    User,
)
from proto.base import Empty
from proto.errors import ErrorCode, FieldError
from proto.events import Event, event_subject, new_event_id
from proto.storage import FileInfo
from proto.workspaces import (
    AuditRetentions,
    CreateInvitation,
    CreateRole,
    CreateWorkspace,
    DeleteWorkspace,
    Invitation,
    InvitationAccepted,
    InvitationCreated,
    InvitationList,
    InvitationPreview,
    InvitationRef,
    Member,
    MemberList,
    MemberRef,
    Role,
    RoleIdRef,
    RoleList,
    TransferWorkspace,
    UpdateMember,
    UpdateRole,
    UpdateWorkspace,
    Workspace,
    WorkspaceDeleted,
    WorkspaceList,
)
from services.access import forbidden, personal_access
from services.audit import audit_subject, diff, new_record
from services.bus.events import AUDIT_STREAM
from services.bus.events import STREAM as EVENTS_STREAM
from services.db.engine import Database
from services.errors import RpcError, conflict, peer_answer
from services.outbox import Outbox

log = logging.getLogger(__name__)
# What auth asks another service for before a change (nothing is written without it).
_CHECK = ", so nothing was changed"

Publish = Callable[[str, Event], Awaitable[None]]
Purge = Callable[[str, UUID], Awaitable[int]]
# Other services asked before a change, with the caller's access in the one workspace, as
# auth knows it first-hand (the gateway's cached `bc-access` may predate it):
# which of the ids are not bots of the workspace (bot-service's `rpc.bot.ids.check`);
UnknownBots = Callable[[Access, UUID, list[UUID]], Awaitable[list[UUID]]]
# the file as storage-service shows it to the caller (`rpc.storage.file.get`; NOT_FOUND
# when it is no file of theirs).
WorkspaceFile = Callable[[Access, UUID], Awaitable[FileInfo]]


def now_utc() -> datetime:
    return datetime.now(UTC)


# Pending targets (accounts or workspaces) retried at the same time in one pass.
PURGE_RETRY_PARALLEL = 16


async def attempt_purge(purge: Purge, service: str, target_id: UUID) -> PurgeOutcome:
    """Ask one data service to delete a user's or a workspace's data; a refusal or no
    answer is an outcome to retry, not an error."""
    try:
        removed = await purge(service, target_id)
    except RpcError as err:
        return PurgeOutcome(service=service, ok=False, error=err.message)
    return PurgeOutcome(service=service, ok=True, removed=removed)


async def retry_pending_purges(
    db: Database,
    kind: str,
    purge: Purge,
    finished: Callable[[AsyncSession, UUID], Awaitable[None]] | None = None,
) -> int:
    """One pass over the `pending_purges` of one kind (system scope): each answered one is
    done; `finished` runs in the transaction that completes the last one of a target.
    How many completed."""
    async with db.system_scope() as s:
        rows = await repo.all_pending_purges(s, kind=kind)
    by_target: dict[UUID, list[Any]] = {}
    for row in rows:
        by_target.setdefault(row.target_id, []).append(row)
    # Targets in parallel, and a target's services in parallel: a service that does not
    # answer costs one RPC timeout per pass, not one per pending row (four services down
    # made a pass of one workspace 4 x the timeout, and every other target waited for it).
    # A target's outcomes are written in one transaction, so the one that sees no pending
    # row left runs `finished` exactly then.
    gate = asyncio.Semaphore(PURGE_RETRY_PARALLEL)

    async def one_target(target_id: UUID, target_rows: list[Any]) -> int:
        async with gate:
            outcomes = await asyncio.gather(
                *(attempt_purge(purge, row.service, target_id) for row in target_rows)
            )
            async with db.system_scope() as s:
                for outcome in outcomes:
                    if outcome.ok:
                        await repo.purge_done(s, target_id, outcome.service, kind)
                    else:
                        await repo.purge_failed(
                            s, target_id, outcome.service, outcome.error or "", kind
                        )
                done = sum(o.ok for o in outcomes)
                if (
                    done
                    and finished is not None
                    and not await repo.pending_purge_services(s, target_id, kind)
                ):
                    await finished(s, target_id)
        return done

    return sum(await asyncio.gather(*(one_target(t, r) for t, r in by_target.items())))


@dataclass(frozen=True)
class Caller:
    """Who made a request, for the audit records of what it changes: their access (the
    actor and the personal access token used) and the message's headers (client address
    and user agent from `bc-client`, the request id)."""

    access: Access | None
    headers: Mapping[str, str]

    def acting_as(self, user_id: UUID) -> Caller:
        """The same request made by `user_id`: sign-in and refresh happen before the
        message names a user, yet their records name the person."""
        if self.access is not None and self.access.user_id == user_id:
            return self
        return Caller(personal_access(user_id), self.headers)


async def audit(
    outbox: Outbox,
    s: AsyncSession,
    who: Caller,
    workspace_id: UUID,
    action: str,
    target_type: str | None = None,
    target_id: UUID | str | None = None,
    changes: Mapping[str, Any] | None = None,
) -> UUID:
    """Queue the audit record of a change in the change's transaction (AUDIT stream,
    `aud.<workspace_id>.auth`): it is published if and only if the change commits."""
    record = new_record(
        who.access,
        who.headers,
        workspace_id=workspace_id,
        action=action,
        target_type=target_type,
        target_id=target_id,
        changes=changes,
    )
    subject = audit_subject(workspace_id, "auth")
    return await outbox.add(s, subject, record, stream=AUDIT_STREAM)


def safe_next(value: str | None) -> str:
    """Only same-site relative paths: `/bots`, never `//evil`, `/\\evil`, `https://…`."""
    if not value:
        return "/"
    if (
        not value.startswith("/")
        or value.startswith(("//", "/\\"))
        or any(ch in value for ch in "\\\r\n\t\x00")
        or len(value) > 2048
    ):
        raise RpcError(
            ErrorCode.INVALID,
            "`next` must be a path on this site, such as /bots",
            fields=[FieldError(loc=["next"], message="must be a relative path starting with /")],
        )
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        raise RpcError(ErrorCode.INVALID, "`next` must be a path on this site, such as /bots")
    return value


@dataclass(eq=False)
class AuthService:
    settings: Settings
    db: Database
    keys: KeyRing
    providers: dict[str, OAuthProvider]
    publish: Publish
    purge: Purge
    purge_services: Sequence[str]
    reader: repo.UserReader
    outbox: Outbox

    def __post_init__(self) -> None:
        # A copy: the caller's sequence may change after the service is built.
        self.purge_services = list(self.purge_services)

    # ------------------------------------------------------------------ sign-in
    def list_providers(self) -> ProviderList:
        return ProviderList(
            providers=[
                ProviderInfo(name=p.name, display_name=p.display_name)
                for p in self.providers.values()
            ]
        )

    def _provider(self, name: str) -> OAuthProvider:
        provider = self.providers.get(name)
        if provider is None:
            raise RpcError(
                ErrorCode.NOT_FOUND,
                f"unknown sign-in provider {name!r}",
                details={"providers": sorted(self.providers)},
            )
        return provider

    async def start_login(self, req: LoginStart, user_id: UUID | None) -> LoginRedirect:
        provider = self._provider(req.provider)
        next_path = safe_next(req.next)
        if req.link and user_id is None:
            raise RpcError(ErrorCode.UNAUTHENTICATED, "sign in first to link another account")
        state = secrets.token_urlsafe(24)
        verifier = secrets.token_urlsafe(48)
        nonce = secrets.token_urlsafe(16) if provider.name == "google" else None
        url = await provider.authorization_url(req.redirect_uri, state, verifier, nonce)
        async with self.db.system_scope() as s:
            await repo.prune_login_flows(s, now_utc())
            await repo.insert_login_flow(
                s,
                state=state,
                provider=provider.name,
                code_verifier=verifier,
                nonce=nonce,
                redirect_uri=req.redirect_uri,
                next_path=next_path,
                mode=req.mode,
                link_user_id=user_id if req.link else None,
                expires_at=now_utc() + timedelta(seconds=self.settings.login_flow_ttl_s),
            )
        return LoginRedirect(authorize_url=url, state=state)

    async def finish_login(self, req: LoginFinish, s: AsyncSession, who: Caller) -> LoginResult:
        provider = self._provider(req.provider)
        if not req.state:
            raise RpcError(ErrorCode.INVALID, "the sign-in answer has no state; start again")
        # The state is consumed in its own transaction: whatever happens next, it is gone.
        async with self.db.system_scope() as own:
            flow = await repo.take_login_flow(own, req.state)
        if flow is None or flow.provider != provider.name or flow.expires_at < now_utc():
            raise RpcError(
                ErrorCode.INVALID,
                "this sign-in link expired or was already used; please start the sign-in again",
                details={"reason": "bad_state"},
            )
        if req.error:
            if req.error == "access_denied":
                raise RpcError(
                    ErrorCode.FORBIDDEN,
                    f"the sign-in was cancelled at {provider.display_name}",
                    details={"reason": "access_denied", "provider": provider.name},
                )
            raise RpcError(
                ErrorCode.INVALID,
                f"{provider.display_name} could not complete the sign-in ({req.error[:80]})",
                details={"reason": req.error[:80], "provider": provider.name},
            )
        if not req.code:
            raise RpcError(ErrorCode.INVALID, "the sign-in answer has no code; start again")
        profile = await provider.profile(
            req.code, flow.redirect_uri, flow.code_verifier, flow.nonce
        )
        if flow.link_user_id is not None:
            user_id = await self._link(s, flow.link_user_id, profile)
        else:
            user_id = await self._sign_in(s, profile)
        family = new_event_id()
        tokens = await self._issue(s, user_id, family_id=family)
        # A security event of the person: their personal workspace's chain (id = user id).
        await audit(
            self.outbox,
            s,
            who.acting_as(user_id),
            user_id,
            "auth.link" if flow.link_user_id is not None else "auth.sign_in",
            "session",
            family,
            {"provider": {"old": None, "new": provider.name}},
        )
        return LoginResult(
            tokens=tokens,
            next=flow.next_path,
            mode=flow.mode,
            linked=flow.link_user_id is not None,
        )

    async def _sign_in(self, s: AsyncSession, profile: Profile) -> UUID:
        identity = await repo.find_identity(s, profile.provider, profile.subject)
        if identity is not None:
            await repo.update_identity(
                s,
                identity.id,
                email=profile.email,
                display_name=profile.display_name,
                avatar_url=profile.avatar_url,
            )
            changes: dict[str, Any] = {}
            if profile.email:
                changes["email"] = profile.email
            if profile.avatar_url:
                changes["avatar_url"] = profile.avatar_url
            if changes:
                await repo.update_user(s, identity.owner_id, **changes)
            return UUID(str(identity.owner_id))
        user_id = new_event_id()
        await repo.insert_user(
            s, user_id, profile.display_name[:64], profile.email, profile.avatar_url
        )
        await self._add_identity(s, user_id, profile)
        await repo.insert_personal_workspace(s, user_id)
        return user_id

    async def _link(self, s: AsyncSession, user_id: UUID, profile: Profile) -> UUID:
        if await repo.get_user(s, user_id) is None:
            raise RpcError(ErrorCode.UNAUTHENTICATED, "this account no longer exists")
        identity = await repo.find_identity(s, profile.provider, profile.subject)
        if identity is not None:
            if identity.owner_id != user_id:
                raise RpcError(
                    ErrorCode.CONFLICT,
                    f"this {profile.provider.capitalize()} account is already linked to another "
                    "botcenter user; sign in with it and delete that account first",
                    details={"reason": "identity_taken", "provider": profile.provider},
                )
            return user_id
        for own in await repo.user_identities(s, user_id):
            if own.provider == profile.provider:
                raise RpcError(
                    ErrorCode.CONFLICT,
                    f"your account already has a {profile.provider.capitalize()} account linked",
                    details={"reason": "provider_linked", "provider": profile.provider},
                )
        await self._add_identity(s, user_id, profile)
        return user_id

    @staticmethod
    async def _add_identity(s: AsyncSession, user_id: UUID, profile: Profile) -> None:
        await repo.insert_identity(
            s,
            id=new_event_id(),
            owner_id=user_id,
            provider=profile.provider,
            subject=profile.subject,
            email=profile.email,
            display_name=profile.display_name,
            avatar_url=profile.avatar_url,
        )

    # ------------------------------------------------------------------ sessions
    async def _issue(self, s: AsyncSession, user_id: UUID, family_id: UUID | None) -> TokenPair:
        family = family_id or new_event_id()
        refresh = new_secret(REFRESH_PREFIX)
        await repo.insert_refresh(
            s,
            id=new_event_id(),
            owner_id=user_id,
            family_id=family,
            token_hash=digest(refresh),
            expires_at=now_utc() + timedelta(seconds=self.settings.refresh_ttl_s),
        )
        access = self.keys.sign(
            access_claims(
                issuer=self.settings.issuer,
                audience=self.settings.audience,
                user_id=user_id,
                session_id=family,
                ttl_s=self.settings.access_ttl_s,
            )
        )
        return TokenPair(
            access_token=access,
            refresh_token=refresh,
            expires_in=self.settings.access_ttl_s,
            refresh_expires_in=self.settings.refresh_ttl_s,
            user=await self._user(s, user_id),
        )

    async def refresh(self, token: str, who: Caller) -> TokenPair:
        hashed = digest(token)
        now = now_utc()
        async with self.db.system_scope() as s:
            row = await repo.use_refresh(s, hashed, now)
            if row is not None:
                if await repo.get_user(s, row.owner_id) is None:
                    raise RpcError(ErrorCode.UNAUTHENTICATED, "this account no longer exists")
                return await self._issue(s, row.owner_id, family_id=row.family_id)
            known = await repo.find_refresh(s, hashed)
            reused = known is not None and known.used_at is not None and known.revoked_at is None
            if reused:
                assert known is not None
                await repo.revoke_family(s, known.family_id, now)
                await self._session_event(s, who, known, "auth.refresh_reuse")
        if reused:
            assert known is not None
            log.warning("refresh token reuse: session family revoked")
            await self._session_revoked(known.owner_id, known.family_id, "refresh token reused")
            raise RpcError(
                ErrorCode.UNAUTHENTICATED,
                "this refresh token was already used; for safety this session was signed out "
                "everywhere it was used — please sign in again",
                details={"reason": "refresh_reuse"},
            )
        raise RpcError(
            ErrorCode.UNAUTHENTICATED,
            "the refresh token is unknown, expired or revoked; please sign in again",
            details={"reason": "refresh_invalid"},
        )

    async def logout(self, token: str, who: Caller) -> None:
        async with self.db.system_scope() as s:
            row = await repo.find_refresh(s, digest(token))
            # Signing out of a session already ended changes nothing: no record.
            if row is not None and await repo.revoke_family(s, row.family_id, now_utc()):
                await self._session_event(s, who, row, "auth.sign_out")
        if row is not None:
            await self._session_revoked(row.owner_id, row.family_id, "signed out")

    async def _session_event(self, s: AsyncSession, who: Caller, refresh: Any, action: str) -> None:
        """The audit record of what happened to the session of a refresh token row, in
        its owner's personal chain (the request names no user: it is theirs)."""
        owner = refresh.owner_id
        await audit(
            self.outbox, s, who.acting_as(owner), owner, action, "session", refresh.family_id
        )

    async def _session_revoked(self, user_id: UUID, session_id: UUID, why: str) -> None:
        """The session's access tokens (they carry `sid` = the refresh family) stop working
        at every gateway; sent after the family is revoked in the database."""
        await self.publish(
            "session_revoked",
            SessionRevoked(owner_id=user_id, session_id=session_id, message=why),
        )

    async def logout_all(self, s: AsyncSession, user_id: UUID, who: Caller) -> None:
        await repo.revoke_user_refresh(s, user_id, now_utc())
        await audit(self.outbox, s, who.acting_as(user_id), user_id, "auth.sign_out_all")
        await self.publish(
            "sessions_revoked",
            SessionsRevoked(owner_id=user_id, message="signed out everywhere"),
        )

    # ------------------------------------------------------------------ account
    async def _user(self, s: AsyncSession, user_id: UUID) -> User:
        row = await repo.user_with_identities(s, user_id)
        if row is None:
            raise _account_gone()
        # `Row._mapping` is SQLAlchemy's public API, underscored to avoid column names.
        return _account(row._mapping, row.identities)  # noqa: SLF001

    async def me(self, user_id: UUID) -> User:
        """The caller's account, read on the reader's own connections (no ORM session)."""
        row = await self.reader.user_with_identities(user_id)
        if row is None:
            raise _account_gone()
        return _account(row, orjson.loads(row["identities"]))

    async def update_me(
        self, s: AsyncSession, user_id: UUID, display_name: str, who: Caller
    ) -> User:
        name = " ".join(display_name.split())
        if not 1 <= len(name) <= 64:
            raise RpcError(
                ErrorCode.VALIDATION,
                "the display name must have 1 to 64 characters",
                fields=[FieldError(loc=["display_name"], message="1 to 64 characters")],
            )
        before = await repo.get_user(s, user_id)
        if before is None or await repo.update_user(s, user_id, display_name=name) is None:
            raise RpcError(ErrorCode.UNAUTHENTICATED, "this account no longer exists")
        changes = diff({"display_name": before.display_name}, {"display_name": name})
        if changes:
            await audit(self.outbox, s, who, user_id, "account.update", "account", user_id, changes)
        return await self._user(s, user_id)

    async def get_settings(self, s: AsyncSession, user_id: UUID) -> dict[str, Any]:
        row = await repo.get_user(s, user_id)
        if row is None:
            raise RpcError(ErrorCode.UNAUTHENTICATED, "this account no longer exists")
        return dict(row.settings)

    async def put_settings(
        self, s: AsyncSession, user_id: UUID, settings: dict[str, Any], who: Caller
    ) -> dict[str, Any]:
        size = len(orjson.dumps(settings))
        limit = self.settings.settings_max_bytes
        if size > limit:
            raise RpcError(
                ErrorCode.TOO_LARGE,
                f"settings are {size} bytes as JSON; the limit is {limit} bytes",
                details={"limit_bytes": limit, "size_bytes": size},
            )
        before = await repo.get_user(s, user_id)
        row = await repo.update_user(s, user_id, settings=settings)
        if before is None or row is None:
            raise RpcError(ErrorCode.UNAUTHENTICATED, "this account no longer exists")
        # The console's preferences, key by key (values through the same redaction).
        changes = diff(dict(before.settings), dict(row.settings))
        if changes:
            await audit(
                self.outbox, s, who, user_id, "account.settings_update", "account", user_id, changes
            )
        return dict(row.settings)

    async def delete_account(self, s: AsyncSession, user_id: UUID, who: Caller) -> AccountDeleted:
        """Delete the account now; every data-owning service is asked to purge the user.

        Services that do not answer are recorded in `pending_purges` and retried in the
        background until they confirm, so the call succeeds even if one is down and nothing
        is left behind. Repeating the call is harmless.
        """
        await repo.scope_workspaces(s, user_id)
        owned = await repo.owned_team_workspaces(s, user_id)
        if owned:
            raise conflict(
                "you own team workspaces; transfer or delete them first: " + ", ".join(owned),
                workspaces=owned,
            )
        deleted = await repo.delete_user(s, user_id)
        if deleted:
            # In the personal chain, which outlives the account (append-only), so the
            # deletion itself stays on record; a repeated call deletes nothing, no record.
            await audit(self.outbox, s, who, user_id, "account.delete", "account", user_id)
        await repo.add_pending_purges(s, user_id, self.purge_services)
        outcomes = await asyncio.gather(
            *(self._purge_one(name, user_id) for name in self.purge_services)
        )
        for outcome in outcomes:
            if outcome.ok:
                await repo.purge_done(s, user_id, outcome.service)
        if deleted:
            await self.publish(
                "sessions_revoked", SessionsRevoked(owner_id=user_id, message="account deleted")
            )
        return AccountDeleted(
            deleted=True,
            purged=list(outcomes),
            pending=[o.service for o in outcomes if not o.ok],
        )

    async def _purge_one(self, service: str, user_id: UUID) -> PurgeOutcome:
        return await attempt_purge(self.purge, service, user_id)

    async def retry_purges(self) -> int:
        """One pass over pending account purges (system scope); how many completed."""
        return await retry_pending_purges(self.db, "user", self.purge)

    # ------------------------------------------------------------- API tokens
    @staticmethod
    def _token_info(row: Any) -> ApiTokenInfo:
        return ApiTokenInfo(
            id=row.id,
            name=row.name,
            scopes=list(row.scopes),
            last4=row.last4,
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            expires_at=row.expires_at,
            workspace_id=row.workspace_id,
            permissions=list(row.permissions) if row.permissions is not None else None,
        )

    async def list_tokens(self, s: AsyncSession, user_id: UUID) -> list[ApiTokenInfo]:
        return [self._token_info(r) for r in await repo.list_api_tokens(s, user_id, now_utc())]

    async def create_token(
        self, s: AsyncSession, user_id: UUID, req: CreateApiToken, who: Caller
    ) -> ApiTokenCreated:
        name = " ".join(req.name.split())
        problems: list[FieldError] = []
        if not 1 <= len(name) <= API_TOKEN_NAME_MAX:
            problems.append(
                FieldError(loc=["name"], message=f"1 to {API_TOKEN_NAME_MAX} characters")
            )
        unknown = sorted(set(req.scopes) - set(API_SCOPES))
        if unknown or not req.scopes:
            problems.append(
                FieldError(
                    loc=["scopes"],
                    message=f"pick one or more of {', '.join(API_SCOPES)}"
                    + (f" (unknown: {', '.join(unknown)})" if unknown else ""),
                )
            )
        days = API_TOKEN_DAYS_DEFAULT if req.expires_in_days is None else req.expires_in_days
        if not 1 <= days <= API_TOKEN_DAYS_MAX:
            problems.append(
                FieldError(loc=["expires_in_days"], message=f"1 to {API_TOKEN_DAYS_MAX} days")
            )
        permissions = _token_permissions(req.permissions, problems)
        if problems:
            raise RpcError(ErrorCode.VALIDATION, "invalid API token request", fields=problems)
        if await repo.get_user(s, user_id) is None:
            raise RpcError(ErrorCode.UNAUTHENTICATED, "this account no longer exists")
        if req.workspace_id is not None:
            await repo.scope_workspaces(s, user_id)
            if not await repo.is_member(s, req.workspace_id, user_id):
                # Not a member: the same answer as for a workspace that does not exist.
                raise RpcError(ErrorCode.NOT_FOUND, "workspace not found")
        if await repo.count_api_tokens(s, user_id) >= self.settings.max_api_tokens:
            raise RpcError(
                ErrorCode.CONFLICT,
                f"you already have {self.settings.max_api_tokens} API tokens; revoke one first",
            )
        secret = new_secret(API_TOKEN_PREFIX)
        expires = now_utc() + timedelta(days=days)
        row = await repo.insert_api_token(
            s,
            id=new_event_id(),
            owner_id=user_id,
            name=name,
            token_hash=digest(secret),
            last4=secret[-4:],
            scopes=sorted(set(req.scopes)),
            expires_at=expires,
            workspace_id=req.workspace_id,
            permissions=permissions,
        )
        info = self._token_info(row)
        # The token's description, never its value.
        described = info.model_dump(
            include={"name", "scopes", "expires_at", "workspace_id", "permissions"}
        )
        await audit(
            self.outbox, s, who, user_id, "token.create", "token", row.id, diff(None, described)
        )
        return ApiTokenCreated(token=secret, info=info)

    async def revoke_token(
        self, s: AsyncSession, user_id: UUID, token_id: UUID, who: Caller
    ) -> None:
        if not await repo.revoke_api_token(s, token_id, now_utc()):
            raise RpcError(ErrorCode.NOT_FOUND, "no such API token")
        await audit(self.outbox, s, who, user_id, "token.revoke", "token", token_id)
        await self.publish(
            "token_revoked",
            ApiTokenRevoked(owner_id=user_id, token_id=token_id, message="API token revoked"),
        )

    async def check_token(self, s: AsyncSession, token: str) -> ApiTokenPrincipal:
        if not token.startswith(API_TOKEN_PREFIX):
            raise RpcError(ErrorCode.UNAUTHENTICATED, "not a personal API token")
        now = now_utc()
        row = await repo.check_api_token(
            s, digest(token), now, now - timedelta(seconds=self.settings.token_touch_s)
        )
        if row is None:
            raise RpcError(
                ErrorCode.UNAUTHENTICATED,
                "this API token is unknown, expired or revoked",
                details={"reason": "token_invalid"},
            )
        return ApiTokenPrincipal(
            user_id=row.owner_id,
            token_id=row.id,
            scopes=list(row.scopes),
            expires_at=row.expires_at,
            workspace_id=row.workspace_id,
            permissions=list(row.permissions) if row.permissions is not None else None,
        )


def _token_permissions(names: list[str] | None, problems: list[FieldError]) -> list[str] | None:
    """A token's permission subset in PERMISSIONS order, or None (all of the owner's);
    unknown names or an empty subset are problems of the request."""
    if names is None:
        return None
    unknown = unknown_permissions(names)
    for i, name in enumerate(names):
        if name in unknown:
            problems.append(
                FieldError(loc=["permissions", i], message=f"unknown permission {name!r}")
            )
    if not names:
        problems.append(FieldError(loc=["permissions"], message="name at least one permission"))
    if unknown or not names:
        return None
    return permission_names(permission_mask(names))


def _account_gone() -> RpcError:
    return RpcError(
        ErrorCode.UNAUTHENTICATED,
        "this account no longer exists",
        details={"reason": "account_deleted"},
    )


def _account(row: Mapping[Any, Any], identities: list[Any]) -> User:
    """The account view of a users row (ORM or asyncpg) and its identities."""
    return User(
        id=row["id"],
        display_name=row["display_name"],
        email=row["email"],
        avatar_url=row["avatar_url"],
        created_at=row["created_at"],
        identities=[Identity.model_validate(i) for i in identities],
    )


# ====================================================================== teams (#17)
# auth-service owns workspaces, memberships, roles and invitations. Every check reads the
# caller's membership from the database in the same transaction as the change (auth holds
# the truth; the `bc-access` header others trust is derived from it). Not a member → 404
# (no existence leak); a member without the permission → 403 naming it.

INVITATION_PREFIX = "bci_"
# `pending_purges.kind` of a deleted workspace's data.
_WORKSPACE = "workspace"
# Ownership moves only by a transfer, never by a role change or an invitation.
_OWNER = "owner"


def _grant(row: Any) -> Grant:
    """The proto grant of a membership row (with its custom role's permissions)."""
    if row.builtin_role is not None:
        role, mask = row.builtin_role, BUILTIN_ROLES[row.builtin_role].mask
    else:
        role, mask = str(row.role_id), permission_mask(row.role_permissions or [])
    return Grant(
        workspace_id=row.workspace_id,
        role=role,
        permissions=mask,
        bot_ids=list(row.bot_ids),
    )


def _narrowed(grant: Grant, who: Caller | None) -> Grant:
    """A personal access token acts with what the gateway narrowed its access to (its
    workspace and permission subset): the membership row is the ceiling, the token's grant
    the limit. A session's access comes from the same rows, so it is not re-checked."""
    access = who.access if who is not None else None
    if access is None or access.token_id is None:
        return grant
    mine = access.grant(grant.workspace_id)
    if mine is None:
        raise _no_workspace()
    return grant.model_copy(update={"permissions": grant.permissions & mine.permissions})


def _require(grant: Grant, permission: str) -> None:
    if not grant.allows(permission):
        raise forbidden(permission)  # type: ignore[arg-type]


def _within(caller: Grant, mask: int, what: str) -> None:
    """No escalation: nobody grants or touches permissions they do not hold themselves."""
    beyond = permission_names(mask & ~caller.permissions)
    if beyond:
        error = forbidden(beyond[0])  # type: ignore[arg-type]
        error.message = f"{what} has permissions you do not hold: {', '.join(beyond)}"
        raise error


def _owner_only(grant: Grant, operation: str) -> None:
    if grant.role != _OWNER:
        raise RpcError(
            ErrorCode.FORBIDDEN,
            f"only the workspace's owner can {operation}",
            details={"reason": "owner_only"},
        )


def _not_personal(row: Any, what: str) -> None:
    if row.personal:
        raise RpcError(
            ErrorCode.CONFLICT,
            f"a personal workspace cannot be {what}; create a team workspace to share",
            details={"reason": "personal_workspace"},
        )


def _no_workspace() -> RpcError:
    return RpcError(ErrorCode.NOT_FOUND, "workspace not found")


def _as(user_id: UUID, grant: Grant) -> Access:
    """The caller in one workspace, for a call to another service about it."""
    return Access(user_id=user_id, grants=[grant])


def _invalid(field: str, message: str) -> RpcError:
    return RpcError(
        ErrorCode.VALIDATION, message, fields=[FieldError(loc=[field], message=message)]
    )


def _over(limit: str, most: int, message: str) -> RpcError:
    """A limit of proto/access.py reached: 422 naming it."""
    return RpcError(ErrorCode.VALIDATION, message, details={"limit": limit, "max": most})


async def _room_for(s: AsyncSession, user_id: UUID) -> None:
    """One more membership for this user stays within MAX_MEMBERSHIPS_PER_USER."""
    if await repo.count_memberships(s, user_id) >= MAX_MEMBERSHIPS_PER_USER:
        raise _over(
            "MAX_MEMBERSHIPS_PER_USER",
            MAX_MEMBERSHIPS_PER_USER,
            f"you are in {MAX_MEMBERSHIPS_PER_USER} workspaces already; leave one first",
        )


def _workspace(row: Any, grant: Grant) -> Workspace:
    return Workspace(
        id=row.workspace_id,
        name=row.name,
        personal=row.personal,
        role=grant.role,
        permissions=permission_names(grant.permissions),
        created_at=row.created_at,
        avatar_file_id=row.avatar_file_id,
        audit_retention_days=row.audit_retention_days,
    )


def _member(row: Any) -> Member:
    grant = _grant(row)
    return Member(
        user_id=row.user_id,
        display_name=row.display_name,
        avatar_url=row.avatar_url,
        role=grant.role,
        permissions=permission_names(grant.permissions),
        bot_ids=list(row.bot_ids),
        joined_at=row.joined_at,
    )


def _custom_role(row: Any, members: int) -> Role:
    mask = permission_mask(row.permissions)
    return Role(
        id=str(row.id),
        name=row.name,
        permissions=permission_names(mask),
        builtin=False,
        members=members,
    )


def _known_permissions(names: list[str]) -> int:
    unknown = unknown_permissions(names)
    if unknown:
        raise RpcError(
            ErrorCode.VALIDATION,
            f"unknown permissions: {', '.join(unknown)}",
            fields=[
                FieldError(loc=["permissions", i], message=f"unknown permission {name!r}")
                for i, name in enumerate(names)
                if name in unknown
            ],
        )
    return permission_mask(names)


def _gone(inv: Any, now: datetime) -> tuple[str, str] | None:
    """Why an invitation can no longer be accepted (reason, phrase), or None."""
    if inv.revoked_at is not None or inv.state != "active":
        return "revoked", "was revoked"
    if inv.used_at is not None:
        return "used", "was already used"
    if inv.expires_at <= now:
        return "expired", "has expired"
    return None


def _gone_error(gone: tuple[str, str]) -> RpcError:
    return RpcError(
        ErrorCode.GONE,
        f"this invitation {gone[1]}; ask for a new one",
        details={"reason": gone[0]},
    )


def _token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True)
class _RoleChoice:
    builtin_role: str | None
    role_id: UUID | None
    mask: int

    @property
    def ref(self) -> str:
        return self.builtin_role or str(self.role_id)


@dataclass(eq=False)
class TeamService:
    db: Database
    outbox: Outbox
    # The services that hold a workspace's data: each purges it when it is deleted.
    data_services: Sequence[str]
    # `rpc.<service>.workspace.purge{workspace_id}`: how many rows the service removed.
    purge: Purge
    unknown_bots: UnknownBots
    workspace_file: WorkspaceFile

    async def _changed(
        self,
        s: AsyncSession,
        workspace_id: UUID,
        user_ids: Sequence[UUID],
        reason: AccessChangeReason,
    ) -> None:
        """Bump the users' access versions and queue the AccessChanged event in the same
        transaction: it is published (by the outbox relay) exactly when the change commits."""
        versions = await repo.bump_access(s, user_ids)
        event = AccessChanged(
            owner_id=workspace_id,
            workspace_id=workspace_id,
            users=versions,
            reason=reason,
            message=f"access changed ({reason})",
        )
        subject = event_subject("auth", workspace_id, None, "access_changed")
        await self.outbox.add(s, subject, event, stream=EVENTS_STREAM)

    async def _audit(
        self,
        s: AsyncSession,
        who: Caller,
        workspace_id: UUID,
        action: str,
        target_type: str,
        target_id: UUID | str,
        changes: Mapping[str, Any] | None = None,
    ) -> None:
        """The team's chain: one record per change, in its transaction."""
        await audit(self.outbox, s, who, workspace_id, action, target_type, target_id, changes)

    # ------------------------------------------------------------------ helpers
    async def _caller(
        self,
        s: AsyncSession,
        user_id: UUID,
        workspace_id: UUID,
        *,
        lock: bool = False,
        who: Caller | None = None,
    ) -> tuple[Any, Grant]:
        await repo.scope_workspaces(s, user_id)
        row = await repo.grant_row(s, workspace_id, user_id, lock=lock)
        if row is None:
            raise _no_workspace()
        return row, _narrowed(_grant(row), who)

    async def _role(self, s: AsyncSession, workspace_id: UUID, ref: str) -> _RoleChoice:
        if ref in BUILTIN_ROLES:
            return _RoleChoice(ref, None, BUILTIN_ROLES[ref].mask)
        row = await repo.get_role(s, workspace_id, UUID(ref))
        if row is None:
            raise _invalid("role", f"no role {ref} in this workspace")
        return _RoleChoice(None, row.id, permission_mask(row.permissions))

    async def _bots_of(self, access: Access, workspace_id: UUID, ids: Sequence[UUID]) -> list[UUID]:
        """`ids` without repeats, each a bot of the workspace (bot-service says which are
        not: 422 naming them); asked before anything is written, so a refusal or a
        bot-service that does not answer leaves nothing half-done."""
        given = list(dict.fromkeys(ids))
        if not given:
            return given
        unknown = await peer_answer(
            "bot", self.unknown_bots(access, workspace_id, given), _CHECK
        )
        if unknown:
            names = ", ".join(str(i) for i in unknown)
            message = f"not bots of this workspace: {names}"
            raise RpcError(
                ErrorCode.VALIDATION,
                message,
                fields=[FieldError(loc=["bot_ids"], message=message)],
                details={"unknown_bot_ids": [str(i) for i in unknown]},
            )
        return given

    async def _avatar_of(self, access: Access, workspace_id: UUID, file_id: UUID) -> None:
        """A workspace's avatar is an uploaded avatar file of that workspace (422 otherwise:
        another workspace's file, a config file, or no such file)."""
        try:
            info = await peer_answer("storage", self.workspace_file(access, file_id), _CHECK)
        except RpcError as err:
            if err.code != ErrorCode.NOT_FOUND:
                raise
            info = None
        if info is None or info.workspace_id != workspace_id:
            raise _invalid("avatar_file_id", f"{file_id} is not a file of this workspace")
        if info.kind != "avatar":
            raise _invalid(
                "avatar_file_id", f"{file_id} is a {info.kind} file; upload an avatar (kind=avatar)"
            )

    @staticmethod
    async def _fits(s: AsyncSession, user_id: UUID) -> None:
        """The member's `bc-access` header must stay encodable (MAX_ACCESS_BYTES)."""
        grants = [_grant(r) for r in await repo.user_grants(s, user_id)]
        try:
            Access(user_id=user_id, grants=grants).encode()
        except AccessTooLarge:
            raise _invalid(
                "bot_ids",
                "this would make the member's access too large; use fewer bot limits",
            ) from None

    # --------------------------------------------------------------- access
    async def access(self, user_id: UUID) -> AccessSnapshot:
        async with self.db.system_scope() as s:
            version = await repo.access_version(s, user_id)
            rows = await repo.user_grants(s, user_id) if version is not None else []
        grants = []
        for row in rows:
            grant = _grant(row)
            grants.append(
                WorkspaceGrant(**grant.model_dump(), name=row.name, personal=row.personal)
            )
        return AccessSnapshot(user_id=user_id, version=version or 0, grants=grants)

    async def audit_retentions(self, workspace_ids: Sequence[UUID]) -> AuditRetentions:
        """Each known workspace's audit retention, for log-service's pruner (which keeps
        a deleted workspace's records for its own default)."""
        if not workspace_ids:
            return AuditRetentions(days={})
        async with self.db.system_scope() as s:
            return AuditRetentions(days=await repo.audit_retentions(s, workspace_ids))

    # ----------------------------------------------------------- workspaces
    async def list_workspaces(self, s: AsyncSession, user_id: UUID) -> WorkspaceList:
        await repo.scope_workspaces(s, user_id)
        rows = await repo.user_grants(s, user_id)
        return WorkspaceList(workspaces=[_workspace(r, _grant(r)) for r in rows])

    async def create_workspace(
        self, s: AsyncSession, user_id: UUID, req: CreateWorkspace, who: Caller
    ) -> Workspace:
        await repo.scope_workspaces(s, user_id)
        await _room_for(s, user_id)
        workspace_id = new_event_id()
        await repo.enter_workspace(s, workspace_id)
        await repo.insert_workspace(
            s, id=workspace_id, name=req.name.strip(), personal=False, owner_user_id=user_id
        )
        await repo.insert_membership(
            s, workspace_id=workspace_id, user_id=user_id, builtin_role=_OWNER
        )
        await self._changed(s, workspace_id, [user_id], "role")
        row, grant = await self._caller(s, user_id, workspace_id)
        await self._audit(
            s,
            who,
            workspace_id,
            "workspace.create",
            "workspace",
            workspace_id,
            diff(None, {"name": row.name}),
        )
        return _workspace(row, grant)

    async def get_workspace(
        self, s: AsyncSession, user_id: UUID, workspace_id: UUID, who: Caller | None = None
    ) -> Workspace:
        row, grant = await self._caller(s, user_id, workspace_id, who=who)
        return _workspace(row, grant)

    async def update_workspace(
        self, s: AsyncSession, user_id: UUID, req: UpdateWorkspace, who: Caller
    ) -> Workspace:
        row, grant = await self._caller(s, user_id, req.workspace_id, lock=True, who=who)
        _require(grant, "workspace.admin")
        given = req.model_fields_set
        values: dict[str, Any] = {}
        if "name" in given and req.name is not None and req.name.strip() != row.name:
            values["name"] = req.name.strip()
        if "avatar_file_id" in given and req.avatar_file_id != row.avatar_file_id:
            if req.avatar_file_id is not None:
                await self._avatar_of(_as(user_id, grant), req.workspace_id, req.avatar_file_id)
            values["avatar_file_id"] = req.avatar_file_id
        if "audit_retention_days" in given and req.audit_retention_days is not None:
            values["audit_retention_days"] = req.audit_retention_days
        changes = diff({k: getattr(row, k) for k in values}, values)
        if changes:
            await repo.update_workspace(s, req.workspace_id, **values)
            await self._audit(
                s,
                who,
                req.workspace_id,
                "workspace.update",
                "workspace",
                req.workspace_id,
                changes,
            )
        if "name" in values:
            # Snapshots carry the workspace's name (GET /v1/me shows it).
            members = await repo.member_ids(s, req.workspace_id)
            await self._changed(s, req.workspace_id, members, "renamed")
        row, grant = await self._caller(s, user_id, req.workspace_id, who=who)
        return _workspace(row, grant)

    async def delete_workspace(
        self, s: AsyncSession, user_id: UUID, req: DeleteWorkspace, who: Caller
    ) -> WorkspaceDeleted:
        row, grant = await self._caller(s, user_id, req.workspace_id, lock=True, who=who)
        _owner_only(grant, "delete it")
        _not_personal(row, "deleted")
        if req.confirm_name != row.name:
            raise RpcError(
                ErrorCode.VALIDATION,
                "type the workspace's exact name to confirm its deletion",
                fields=[FieldError(loc=["confirm_name"], message="must equal the name")],
            )
        now = now_utc()
        await repo.update_workspace(s, req.workspace_id, state="deleting")
        await repo.revoke_workspace_invitations(s, req.workspace_id, now)
        # Access goes at once: no membership is left, so no snapshot names the workspace.
        gone = await repo.delete_memberships(s, req.workspace_id)
        await self._changed(s, req.workspace_id, gone, "workspace_deleted")
        await self._audit(
            s,
            who,
            req.workspace_id,
            "workspace.delete",
            "workspace",
            req.workspace_id,
            diff({"name": row.name}, None),
        )
        # Its bots, prompts, connections and files go service by service; the ones that do
        # not answer now are retried (`retry_purges`) and the row goes after the last.
        await repo.add_pending_purges(s, req.workspace_id, self.data_services, kind=_WORKSPACE)
        outcomes = await asyncio.gather(
            *(attempt_purge(self.purge, name, req.workspace_id) for name in self.data_services)
        )
        for outcome in outcomes:
            if outcome.ok:
                await repo.purge_done(s, req.workspace_id, outcome.service, _WORKSPACE)
        pending = [o.service for o in outcomes if not o.ok]
        if not pending:
            await repo.delete_workspace(s, req.workspace_id)
        return WorkspaceDeleted(workspace_id=req.workspace_id, pending=pending)

    async def retry_purges(self) -> int:
        """One pass over deleted workspaces' pending purges; a workspace's row goes with
        its last one."""
        return await retry_pending_purges(self.db, _WORKSPACE, self.purge, repo.delete_workspace)

    async def transfer(
        self, s: AsyncSession, user_id: UUID, req: TransferWorkspace, who: Caller
    ) -> Workspace:
        row, grant = await self._caller(s, user_id, req.workspace_id, lock=True, who=who)
        _owner_only(grant, "transfer it")
        _not_personal(row, "transferred")
        if req.user_id == user_id:
            raise _invalid("user_id", "you already own this workspace")
        if await repo.grant_row(s, req.workspace_id, req.user_id) is None:
            raise _invalid("user_id", "the new owner must be a member of the workspace")
        # One owner at any moment (a unique index): the old owner steps down first.
        await repo.update_membership(
            s, req.workspace_id, user_id, builtin_role="admin", role_id=None, bot_ids=[]
        )
        await repo.update_membership(
            s, req.workspace_id, req.user_id, builtin_role=_OWNER, role_id=None, bot_ids=[]
        )
        await repo.update_workspace(s, req.workspace_id, owner_user_id=req.user_id)
        await self._changed(s, req.workspace_id, [user_id, req.user_id], "transfer")
        await self._audit(
            s,
            who,
            req.workspace_id,
            "workspace.transfer",
            "workspace",
            req.workspace_id,
            diff({"owner_user_id": user_id}, {"owner_user_id": req.user_id}),
        )
        row, grant = await self._caller(s, user_id, req.workspace_id, who=who)
        return _workspace(row, grant)

    # -------------------------------------------------------------- members
    async def list_members(
        self, s: AsyncSession, user_id: UUID, workspace_id: UUID, who: Caller | None = None
    ) -> MemberList:
        await self._caller(s, user_id, workspace_id, who=who)
        return MemberList(members=[_member(r) for r in await repo.members(s, workspace_id)])

    async def _target(self, s: AsyncSession, workspace_id: UUID, user_id: UUID) -> Any:
        target = await repo.grant_row(s, workspace_id, user_id)
        if target is None:
            raise RpcError(ErrorCode.NOT_FOUND, "member not found")
        return target

    async def update_member(
        self, s: AsyncSession, user_id: UUID, req: UpdateMember, who: Caller
    ) -> Member:
        _, grant = await self._caller(s, user_id, req.workspace_id, lock=True, who=who)
        _require(grant, "members.manage")
        target = await self._target(s, req.workspace_id, req.user_id)
        if target.builtin_role == _OWNER:
            raise conflict("the owner's role changes only by a transfer of ownership")
        _within(grant, _grant(target).permissions, "this member")
        values: dict[str, Any] = {}
        reason: AccessChangeReason = "bots"
        if req.role is not None:
            if req.role == _OWNER:
                raise _invalid("role", "ownership moves only by a transfer")
            choice = await self._role(s, req.workspace_id, req.role)
            _within(grant, choice.mask, "this role")
            if choice.ref != _grant(target).role:
                values.update(builtin_role=choice.builtin_role, role_id=choice.role_id)
                reason = "role"
        if req.bot_ids is not None and set(req.bot_ids) != set(target.bot_ids):
            values["bot_ids"] = await self._bots_of(
                _as(user_id, grant), req.workspace_id, req.bot_ids
            )
        if values:
            await repo.update_membership(s, req.workspace_id, req.user_id, **values)
            await self._fits(s, req.user_id)
            await self._changed(s, req.workspace_id, [req.user_id], reason)
            before = _grant(target)
            (changed,) = await repo.members(s, req.workspace_id, req.user_id)
            after = _grant(changed)
            await self._audit(
                s,
                who,
                req.workspace_id,
                "member.update",
                "user",
                req.user_id,
                diff(
                    {"role": before.role, "bot_ids": before.bot_ids},
                    {"role": after.role, "bot_ids": after.bot_ids},
                ),
            )
        (row,) = await repo.members(s, req.workspace_id, req.user_id)
        return _member(row)

    async def remove_member(
        self, s: AsyncSession, user_id: UUID, req: MemberRef, who: Caller
    ) -> Empty:
        if req.user_id == user_id:
            return await self.leave(s, user_id, req.workspace_id, who)
        _, grant = await self._caller(s, user_id, req.workspace_id, lock=True, who=who)
        _require(grant, "members.manage")
        target = await self._target(s, req.workspace_id, req.user_id)
        if target.builtin_role == _OWNER:
            raise conflict("the owner cannot be removed; they can transfer ownership first")
        _within(grant, _grant(target).permissions, "this member")
        await repo.delete_membership(s, req.workspace_id, req.user_id)
        await self._changed(s, req.workspace_id, [req.user_id], "removed")
        await self._audit(
            s,
            who,
            req.workspace_id,
            "member.remove",
            "user",
            req.user_id,
            diff({"role": _grant(target).role}, None),
        )
        return Empty()

    async def leave(self, s: AsyncSession, user_id: UUID, workspace_id: UUID, who: Caller) -> Empty:
        row, grant = await self._caller(s, user_id, workspace_id, lock=True, who=who)
        _not_personal(row, "left")
        if grant.role == _OWNER:
            raise conflict("the owner cannot leave: transfer ownership first")
        await repo.delete_membership(s, workspace_id, user_id)
        await self._changed(s, workspace_id, [user_id], "removed")
        await self._audit(s, who, workspace_id, "member.leave", "user", user_id)
        return Empty()

    # ---------------------------------------------------------------- roles
    async def list_roles(
        self, s: AsyncSession, user_id: UUID, workspace_id: UUID, who: Caller | None = None
    ) -> RoleList:
        await self._caller(s, user_id, workspace_id, who=who)
        counts = await repo.builtin_role_counts(s, workspace_id)
        builtin = [
            Role(
                id=role.name,
                name=role.name,
                permissions=permission_names(role.mask),
                builtin=True,
                description=role.description,
                members=counts.get(role.name, 0),
            )
            for role in BUILTIN_ROLES.values()
        ]
        custom = [_custom_role(r, r.members) for r in await repo.list_roles(s, workspace_id)]
        return RoleList(roles=[*builtin, *custom])

    async def _free_name(
        self, s: AsyncSession, workspace_id: UUID, name: str, role_id: UUID | None = None
    ) -> None:
        taken = await repo.role_named(s, workspace_id, name)
        if name.lower() in BUILTIN_ROLES or (taken is not None and taken != role_id):
            raise conflict(f"a role named {name!r} exists already", field="name")

    async def create_role(
        self, s: AsyncSession, user_id: UUID, req: CreateRole, who: Caller
    ) -> Role:
        _, grant = await self._caller(s, user_id, req.workspace_id, lock=True, who=who)
        _require(grant, "workspace.admin")
        mask = _known_permissions(req.permissions)
        _within(grant, mask, "this role")
        name = req.name.strip()
        await self._free_name(s, req.workspace_id, name)
        if await repo.count_roles(s, req.workspace_id) >= MAX_CUSTOM_ROLES_PER_WORKSPACE:
            raise _over(
                "MAX_CUSTOM_ROLES_PER_WORKSPACE",
                MAX_CUSTOM_ROLES_PER_WORKSPACE,
                f"a workspace has at most {MAX_CUSTOM_ROLES_PER_WORKSPACE} custom roles",
            )
        row = await repo.insert_role(
            s,
            id=new_event_id(),
            workspace_id=req.workspace_id,
            name=name,
            permissions=permission_names(mask),
        )
        await self._audit(
            s,
            who,
            req.workspace_id,
            "role.create",
            "role",
            row.id,
            diff(None, {"name": row.name, "permissions": list(row.permissions)}),
        )
        return _custom_role(row, 0)

    async def update_role(
        self, s: AsyncSession, user_id: UUID, req: UpdateRole, who: Caller
    ) -> Role:
        _, grant = await self._caller(s, user_id, req.workspace_id, lock=True, who=who)
        _require(grant, "workspace.admin")
        role = await repo.get_role(s, req.workspace_id, req.role_id)
        if role is None:
            raise RpcError(ErrorCode.NOT_FOUND, "role not found")
        values: dict[str, Any] = {}
        if req.name is not None and req.name.strip() != role.name:
            await self._free_name(s, req.workspace_id, req.name.strip(), role.id)
            values["name"] = req.name.strip()
        old = permission_mask(role.permissions)
        if req.permissions is not None:
            mask = _known_permissions(req.permissions)
            _within(grant, mask | old, "this role")
            if mask != old:
                values["permissions"] = permission_names(mask)
        if values:
            before = {"name": role.name, "permissions": list(role.permissions)}
            role = await repo.update_role(s, role.id, **values)
            await self._audit(
                s,
                who,
                req.workspace_id,
                "role.update",
                "role",
                role.id,
                diff(before, {"name": role.name, "permissions": list(role.permissions)}),
            )
        holders = await repo.role_holders(s, role.id)
        if "permissions" in values and holders:
            await self._changed(s, req.workspace_id, holders, "role")
        return _custom_role(role, len(holders))

    async def delete_role(
        self, s: AsyncSession, user_id: UUID, req: RoleIdRef, who: Caller
    ) -> None:
        _, grant = await self._caller(s, user_id, req.workspace_id, lock=True, who=who)
        _require(grant, "workspace.admin")
        role = await repo.get_role(s, req.workspace_id, req.role_id)
        if role is None:
            raise RpcError(ErrorCode.NOT_FOUND, "role not found")
        holders = len(await repo.role_holders(s, role.id))
        invited = await repo.pending_invitations_with_role(s, role.id, now_utc())
        if holders or invited:
            raise conflict(
                f"the role is in use by {holders} members and {invited} pending invitations; "
                "give them another role first",
                members=holders,
                invitations=invited,
            )
        await repo.delete_role(s, role.id)
        await self._audit(
            s,
            who,
            req.workspace_id,
            "role.delete",
            "role",
            role.id,
            diff({"name": role.name, "permissions": list(role.permissions)}, None),
        )

    # ---------------------------------------------------------- invitations
    async def create_invitation(
        self, s: AsyncSession, user_id: UUID, req: CreateInvitation, who: Caller
    ) -> InvitationCreated:
        row, grant = await self._caller(s, user_id, req.workspace_id, lock=True, who=who)
        _require(grant, "members.manage")
        _not_personal(row, "invited into")
        if req.role == _OWNER:
            raise _invalid("role", "ownership moves only by a transfer; invite as admin")
        choice = await self._role(s, req.workspace_id, req.role)
        _within(grant, choice.mask, "this role")
        bot_ids = await self._bots_of(_as(user_id, grant), req.workspace_id, req.bot_ids)
        token = new_secret(INVITATION_PREFIX)
        created = await repo.insert_invitation(
            s,
            id=new_event_id(),
            workspace_id=req.workspace_id,
            token_digest=_token_digest(token),
            builtin_role=choice.builtin_role,
            role_id=choice.role_id,
            bot_ids=bot_ids,
            email=req.email.casefold() if req.email else None,
            created_by=user_id,
            expires_at=now_utc() + timedelta(seconds=req.expires_in_s),
        )
        await self._audit(
            s,
            who,
            req.workspace_id,
            "member.invite",
            "invitation",
            created.id,
            # What the link grants, never the link's token.
            diff(
                None,
                {
                    "role": choice.ref,
                    "bot_ids": list(created.bot_ids),
                    "email": created.email,
                    "expires_at": created.expires_at,
                },
            ),
        )
        return InvitationCreated(
            id=created.id,
            token=token,
            # Relative: the gateway (which knows the public address) serves the console.
            url=f"/invite/{token}",
            role=choice.ref,
            bot_ids=list(created.bot_ids),
            expires_at=created.expires_at,
        )

    async def list_invitations(
        self, s: AsyncSession, user_id: UUID, workspace_id: UUID, who: Caller | None = None
    ) -> InvitationList:
        _, grant = await self._caller(s, user_id, workspace_id, who=who)
        _require(grant, "members.manage")
        rows = await repo.pending_invitations(s, workspace_id, now_utc())
        return InvitationList(
            invitations=[
                Invitation(
                    id=r.id,
                    role=r.builtin_role or str(r.role_id),
                    bot_ids=list(r.bot_ids),
                    email=r.email,
                    expires_at=r.expires_at,
                    created_at=r.created_at,
                    created_by=r.created_by,
                )
                for r in rows
            ]
        )

    async def revoke_invitation(
        self, s: AsyncSession, user_id: UUID, req: InvitationRef, who: Caller
    ) -> None:
        _, grant = await self._caller(s, user_id, req.workspace_id, who=who)
        _require(grant, "members.manage")
        if not await repo.revoke_invitation(s, req.workspace_id, req.invitation_id, now_utc()):
            raise RpcError(ErrorCode.NOT_FOUND, "no pending invitation with this id")
        await self._audit(
            s, who, req.workspace_id, "invitation.revoke", "invitation", req.invitation_id
        )

    async def _invitation(self, token: str) -> Any:
        """The invitation a token names, whatever its state. The caller is not a member
        yet, so it is found by its digest as the system role."""
        async with self.db.system_scope() as lookup:
            found = await repo.find_invitation(lookup, _token_digest(token))
        if found is None or not token.startswith(INVITATION_PREFIX):
            raise RpcError(ErrorCode.NOT_FOUND, "invitation not found")
        return found

    async def preview_invitation(
        self, s: AsyncSession, user_id: UUID, token: str
    ) -> InvitationPreview:
        """What accepting would join, answered like accepting would (404, 410, or nothing
        to do for a member) but changing nothing, so nothing is audited."""
        inv = await self._invitation(token)
        await repo.scope_workspaces(s, user_id)
        member = await repo.is_member(s, inv.workspace_id, user_id)
        gone = _gone(inv, now_utc())
        if gone is not None and not member:
            raise _gone_error(gone)
        return InvitationPreview(
            workspace_id=inv.workspace_id,
            workspace_name=inv.workspace_name,
            role=inv.builtin_role or inv.role_name,
            bot_count=len(inv.bot_ids),
            invited_by=inv.inviter_name,
            expires_at=inv.expires_at,
            already_member=member,
        )

    async def accept_invitation(
        self, s: AsyncSession, user_id: UUID, token: str, who: Caller
    ) -> InvitationAccepted:
        """The invitation is found as the system role; the rest runs in the caller's own
        transaction with that one workspace added to its scope (the service, not the
        caller, decided it may enter)."""
        digest_ = _token_digest(token)
        now = now_utc()
        workspace_id = (await self._invitation(token)).workspace_id
        await repo.scope_workspaces(s, user_id)
        if await repo.is_member(s, workspace_id, user_id):
            # A no-op that leaves the link usable by the person it was meant for.
            return InvitationAccepted(workspace_id=workspace_id, joined=False)
        await repo.enter_workspace(s, workspace_id)
        inv = await repo.find_invitation(s, digest_)
        assert inv is not None
        gone = _gone(inv, now)
        if gone is not None and await repo.is_member(s, workspace_id, user_id):
            # Joined meanwhile (this link clicked twice at once): the no-op, not a 410.
            return InvitationAccepted(workspace_id=workspace_id, joined=False)
        if gone is not None:
            raise _gone_error(gone)
        if inv.email and inv.email not in await repo.user_emails(s, user_id):
            raise RpcError(
                ErrorCode.FORBIDDEN,
                "this invitation is for another e-mail address; sign in with the account "
                "it was sent to",
                details={"reason": "email_mismatch"},
            )
        await _room_for(s, user_id)
        if await repo.count_members(s, workspace_id) >= MAX_MEMBERS_PER_WORKSPACE:
            raise _over(
                "MAX_MEMBERS_PER_WORKSPACE",
                MAX_MEMBERS_PER_WORKSPACE,
                f"the workspace has {MAX_MEMBERS_PER_WORKSPACE} members already",
            )
        # The membership first: an accept racing this one for the same person (a second
        # link, or this one clicked twice) waits here for it, then finds the membership
        # made and leaves this link unused — the same no-op as above.
        joined = await repo.join_workspace(
            s,
            workspace_id=workspace_id,
            user_id=user_id,
            builtin_role=inv.builtin_role,
            role_id=inv.role_id,
            bot_ids=list(inv.bot_ids),
            invited_by=inv.created_by,
        )
        if not joined:
            return InvitationAccepted(workspace_id=workspace_id, joined=False)
        if await repo.use_invitation(s, digest_, user_id, now) is None:
            # Someone else used it meanwhile: the raise rolls the membership back.
            raise RpcError(
                ErrorCode.GONE,
                "this invitation was just used; ask for a new one",
                details={"reason": "used"},
            )
        await self._fits(s, user_id)
        await self._changed(s, workspace_id, [user_id], "role")
        await self._audit(
            s,
            who,
            workspace_id,
            "member.join",
            "user",
            user_id,
            diff(None, {"role": str(inv.builtin_role or inv.role_id), "invitation_id": inv.id}),
        )
        return InvitationAccepted(workspace_id=workspace_id, joined=True)
