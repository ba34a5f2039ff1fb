"""auth-service rules: sign-in and linking, sessions (refresh rotation with reuse
detection), personal API tokens, account settings and deletion.

Pre-authentication work (login flows, refresh, token checks) runs in the system scope and
commits on its own where a refusal must still leave a trace (a consumed state, a revoked
family); everything a signed-in user does runs in the message's RLS-scoped session.
"""

from __future__ import annotations

import asyncio
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
from proto.auth import (
    API_SCOPES,
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
from proto.errors import ErrorCode, FieldError
from proto.events import Event, new_event_id
from services.db.engine import Database
from services.errors import RpcError

log = logging.getLogger(__name__)

Publish = Callable[[str, Event], Awaitable[None]]
Purge = Callable[[str, UUID], Awaitable[int]]


def now_utc() -> datetime:
    return datetime.now(UTC)


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

    async def finish_login(self, req: LoginFinish, s: AsyncSession) -> LoginResult:
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
        tokens = await self._issue(s, user_id, family_id=None)
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

    async def refresh(self, token: str) -> TokenPair:
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

    async def logout(self, token: str) -> None:
        async with self.db.system_scope() as s:
            row = await repo.find_refresh(s, digest(token))
            if row is not None:
                await repo.revoke_family(s, row.family_id, now_utc())
        if row is not None:
            await self._session_revoked(row.owner_id, row.family_id, "signed out")

    async def _session_revoked(self, user_id: UUID, session_id: UUID, why: str) -> None:
        """The session's access tokens (they carry `sid` = the refresh family) stop working
        at every gateway; sent after the family is revoked in the database."""
        await self.publish(
            "session_revoked",
            SessionRevoked(owner_id=user_id, session_id=session_id, message=why),
        )

    async def logout_all(self, s: AsyncSession, user_id: UUID) -> None:
        await repo.revoke_user_refresh(s, user_id, now_utc())
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

    async def update_me(self, s: AsyncSession, user_id: UUID, display_name: str) -> User:
        name = " ".join(display_name.split())
        if not 1 <= len(name) <= 64:
            raise RpcError(
                ErrorCode.VALIDATION,
                "the display name must have 1 to 64 characters",
                fields=[FieldError(loc=["display_name"], message="1 to 64 characters")],
            )
        if await repo.update_user(s, user_id, display_name=name) is None:
            raise RpcError(ErrorCode.UNAUTHENTICATED, "this account no longer exists")
        return await self._user(s, user_id)

    async def get_settings(self, s: AsyncSession, user_id: UUID) -> dict[str, Any]:
        row = await repo.get_user(s, user_id)
        if row is None:
            raise RpcError(ErrorCode.UNAUTHENTICATED, "this account no longer exists")
        return dict(row.settings)

    async def put_settings(
        self, s: AsyncSession, user_id: UUID, settings: dict[str, Any]
    ) -> dict[str, Any]:
        size = len(orjson.dumps(settings))
        limit = self.settings.settings_max_bytes
        if size > limit:
            raise RpcError(
                ErrorCode.TOO_LARGE,
                f"settings are {size} bytes as JSON; the limit is {limit} bytes",
                details={"limit_bytes": limit, "size_bytes": size},
            )
        row = await repo.update_user(s, user_id, settings=settings)
        if row is None:
            raise RpcError(ErrorCode.UNAUTHENTICATED, "this account no longer exists")
        return dict(row.settings)

    async def delete_account(self, s: AsyncSession, user_id: UUID) -> AccountDeleted:
        """Delete the account now; every data-owning service is asked to purge the user.

        Services that do not answer are recorded in `pending_purges` and retried in the
        background until they confirm, so the call succeeds even if one is down and nothing
        is left behind. Repeating the call is harmless.
        """
        deleted = await repo.delete_user(s, user_id)
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
        try:
            removed = await self.purge(service, user_id)
        except RpcError as err:
            return PurgeOutcome(service=service, ok=False, error=err.message)
        return PurgeOutcome(service=service, ok=True, removed=removed)

    async def retry_purges(self) -> int:
        """One pass over pending purges (system scope); returns how many completed."""
        async with self.db.system_scope() as s:
            rows = await repo.all_pending_purges(s)
        done = 0
        for row in rows:
            outcome = await self._purge_one(row.service, row.owner_id)
            async with self.db.system_scope() as s:
                if outcome.ok:
                    await repo.purge_done(s, row.owner_id, row.service)
                    done += 1
                else:
                    await repo.purge_failed(s, row.owner_id, row.service, outcome.error or "")
        return done

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
        )

    async def list_tokens(self, s: AsyncSession, user_id: UUID) -> list[ApiTokenInfo]:
        return [self._token_info(r) for r in await repo.list_api_tokens(s, user_id, now_utc())]

    async def create_token(
        self, s: AsyncSession, user_id: UUID, req: CreateApiToken
    ) -> ApiTokenCreated:
        name = " ".join(req.name.split())
        problems: list[FieldError] = []
        if not 1 <= len(name) <= 64:
            problems.append(FieldError(loc=["name"], message="1 to 64 characters"))
        unknown = sorted(set(req.scopes) - set(API_SCOPES))
        if unknown or not req.scopes:
            problems.append(
                FieldError(
                    loc=["scopes"],
                    message=f"pick one or more of {', '.join(API_SCOPES)}"
                    + (f" (unknown: {', '.join(unknown)})" if unknown else ""),
                )
            )
        if req.expires_in_days is not None and not 1 <= req.expires_in_days <= 3650:
            problems.append(FieldError(loc=["expires_in_days"], message="1 to 3650 days"))
        if problems:
            raise RpcError(ErrorCode.VALIDATION, "invalid API token request", fields=problems)
        if await repo.get_user(s, user_id) is None:
            raise RpcError(ErrorCode.UNAUTHENTICATED, "this account no longer exists")
        if await repo.count_api_tokens(s, user_id) >= self.settings.max_api_tokens:
            raise RpcError(
                ErrorCode.CONFLICT,
                f"you already have {self.settings.max_api_tokens} API tokens; revoke one first",
            )
        secret = new_secret(API_TOKEN_PREFIX)
        expires = now_utc() + timedelta(days=req.expires_in_days) if req.expires_in_days else None
        row = await repo.insert_api_token(
            s,
            id=new_event_id(),
            owner_id=user_id,
            name=name,
            token_hash=digest(secret),
            last4=secret[-4:],
            scopes=sorted(set(req.scopes)),
            expires_at=expires,
        )
        return ApiTokenCreated(token=secret, info=self._token_info(row))

    async def revoke_token(self, s: AsyncSession, user_id: UUID, token_id: UUID) -> None:
        if not await repo.revoke_api_token(s, token_id, now_utc()):
            raise RpcError(ErrorCode.NOT_FOUND, "no such API token")
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
        )


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
