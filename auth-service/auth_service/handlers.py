"""RPC handlers: validate → call the service → reply. Thin on purpose."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from auth_service.keys import KeyRing, SigningKey
from auth_service.service import AuthService, Caller, TeamService
from auth_service.settings import Settings
from proto import workspaces as W
from proto.access import AccessQuery, AccessSnapshot
from proto.auth import (
    CHECK_API_TOKEN,
    JWKS,
    KEYS_RETIRE,
    KEYS_ROTATE,
    LOGIN_FINISH,
    LOGIN_START,
    LOGOUT,
    LOGOUT_ALL,
    ME,
    ME_DELETE,
    ME_UPDATE,
    PROVIDERS,
    REFRESH,
    SETTINGS_GET,
    SETTINGS_PUT,
    TOKENS_CREATE,
    TOKENS_LIST,
    TOKENS_REVOKE,
    AccountDeleted,
    ApiTokenCreated,
    ApiTokenList,
    ApiTokenPrincipal,
    ApiTokenRef,
    CheckApiToken,
    CreateApiToken,
    Jwks,
    KeyRetired,
    LoginFinish,
    LoginRedirect,
    LoginResult,
    LoginStart,
    ProviderList,
    RefreshRequest,
    RetireKey,
    TokenPair,
    UpdateMe,
    User,
    UserSettings,
)
from proto.base import Empty
from proto.errors import ErrorCode, FieldError
from services.bus.rpc import RpcContext, answers
from services.errors import RpcError


def _who(ctx: RpcContext) -> Caller:
    """The caller of a state-changing request, for its audit record."""
    return Caller(ctx.access, ctx.headers)


@dataclass(eq=False)
class Handlers:
    service: AuthService
    keys: KeyRing
    settings: Settings
    announce: Callable[[SigningKey | None], Awaitable[None]]
    announce_retired: Callable[[KeyRetired], Awaitable[None]]
    teams: TeamService

    def _jwks(self) -> Jwks:
        return Jwks(
            keys=self.keys.public_keys(),
            issuer=self.settings.issuer,
            audience=self.settings.audience,
            access_ttl_s=self.settings.access_ttl_s,
        )

    @answers(JWKS)
    async def jwks(self, _: Empty, __: RpcContext) -> Jwks:
        return self._jwks()

    @answers(KEYS_ROTATE)
    async def rotate_keys(self, _: Empty, __: RpcContext) -> Jwks:
        await self.announce(await self.keys.load(force_new=True))
        return self._jwks()

    @answers(KEYS_RETIRE)
    async def retire_key(self, req: RetireKey, __: RpcContext) -> KeyRetired:
        kid = self.keys.current.kid if req.kid == "current" else req.kid
        try:
            signing = await self.keys.retire(kid)
        except KeyError:
            known = ", ".join(sorted(self.keys.known_kids))
            raise RpcError(
                ErrorCode.NOT_FOUND,
                f"no signing key {kid!r} in use (keys: {known}; current: {self.keys.current.kid})",
                fields=[FieldError(loc=["kid"], message="not a key in use")],
            ) from None
        retired = KeyRetired(kid=kid, signing_kid=signing.kid)
        await self.announce_retired(retired)
        return retired

    @answers(PROVIDERS)
    async def providers(self, _: Empty, __: RpcContext) -> ProviderList:
        return self.service.list_providers()

    @answers(LOGIN_START)
    async def login_start(self, req: LoginStart, ctx: RpcContext) -> LoginRedirect:
        return await self.service.start_login(req, ctx.user_id)

    @answers(LOGIN_FINISH)
    async def login_finish(self, req: LoginFinish, ctx: RpcContext) -> LoginResult:
        return await self.service.finish_login(req, await ctx.session(), _who(ctx))

    @answers(REFRESH)
    async def refresh(self, req: RefreshRequest, ctx: RpcContext) -> TokenPair:
        return await self.service.refresh(req.refresh_token, _who(ctx))

    @answers(LOGOUT)
    async def logout(self, req: RefreshRequest, ctx: RpcContext) -> Empty:
        await self.service.logout(req.refresh_token, _who(ctx))
        return Empty()

    @answers(LOGOUT_ALL)
    async def logout_all(self, _: Empty, ctx: RpcContext) -> Empty:
        await self.service.logout_all(await ctx.session(), ctx.require_user(), _who(ctx))
        return Empty()

    @answers(ME)
    async def me(self, _: Empty, ctx: RpcContext) -> User:
        return await self.service.me(ctx.require_user())

    @answers(ME_UPDATE)
    async def update_me(self, req: UpdateMe, ctx: RpcContext) -> User:
        return await self.service.update_me(
            await ctx.session(), ctx.require_user(), req.display_name, _who(ctx)
        )

    @answers(ME_DELETE)
    async def delete_me(self, _: Empty, ctx: RpcContext) -> AccountDeleted:
        return await self.service.delete_account(await ctx.session(), ctx.require_user(), _who(ctx))

    @answers(SETTINGS_GET)
    async def get_settings(self, _: Empty, ctx: RpcContext) -> UserSettings:
        data = await self.service.get_settings(await ctx.session(), ctx.require_user())
        return UserSettings(settings=data)

    @answers(SETTINGS_PUT)
    async def put_settings(self, req: UserSettings, ctx: RpcContext) -> UserSettings:
        data = await self.service.put_settings(
            await ctx.session(), ctx.require_user(), req.settings, _who(ctx)
        )
        return UserSettings(settings=data)

    @answers(TOKENS_LIST)
    async def list_tokens(self, _: Empty, ctx: RpcContext) -> ApiTokenList:
        tokens = await self.service.list_tokens(await ctx.session(), ctx.require_user())
        return ApiTokenList(tokens=tokens)

    @answers(TOKENS_CREATE)
    async def create_token(self, req: CreateApiToken, ctx: RpcContext) -> ApiTokenCreated:
        return await self.service.create_token(
            await ctx.session(), ctx.require_user(), req, _who(ctx)
        )

    @answers(TOKENS_REVOKE)
    async def revoke_token(self, req: ApiTokenRef, ctx: RpcContext) -> Empty:
        await self.service.revoke_token(
            await ctx.session(), ctx.require_user(), req.token_id, _who(ctx)
        )
        return Empty()

    @answers(CHECK_API_TOKEN)
    async def check_token(self, req: CheckApiToken, ctx: RpcContext) -> ApiTokenPrincipal:
        return await self.service.check_token(await ctx.session(), req.token)

    # ------------------------------------------------------------------ teams (#17)
    @answers(W.ACCESS_GET)
    async def access_get(self, req: AccessQuery, _: RpcContext) -> AccessSnapshot:
        return await self.teams.access(req.user_id)

    @answers(W.AUDIT_RETENTION_GET)
    async def audit_retention(self, req: W.AuditRetentionQuery, _: RpcContext) -> W.AuditRetentions:
        return await self.teams.audit_retentions(req.workspace_ids)

    @answers(W.WORKSPACE_LIST)
    async def workspace_list(self, _: Empty, ctx: RpcContext) -> W.WorkspaceList:
        return await self.teams.list_workspaces(await ctx.user_session(), ctx.require_user())

    @answers(W.WORKSPACE_CREATE)
    async def workspace_create(self, req: W.CreateWorkspace, ctx: RpcContext) -> W.Workspace:
        return await self.teams.create_workspace(
            await ctx.user_session(), ctx.require_user(), req, _who(ctx)
        )

    @answers(W.WORKSPACE_GET)
    async def workspace_get(self, req: W.WorkspaceRef, ctx: RpcContext) -> W.Workspace:
        return await self.teams.get_workspace(
            await ctx.user_session(), ctx.require_user(), req.workspace_id, _who(ctx)
        )

    @answers(W.WORKSPACE_UPDATE)
    async def workspace_update(self, req: W.UpdateWorkspace, ctx: RpcContext) -> W.Workspace:
        return await self.teams.update_workspace(
            await ctx.user_session(), ctx.require_user(), req, _who(ctx)
        )

    @answers(W.WORKSPACE_DELETE)
    async def workspace_delete(self, req: W.DeleteWorkspace, ctx: RpcContext) -> W.WorkspaceDeleted:
        return await self.teams.delete_workspace(
            await ctx.user_session(), ctx.require_user(), req, _who(ctx)
        )

    @answers(W.WORKSPACE_TRANSFER)
    async def workspace_transfer(self, req: W.TransferWorkspace, ctx: RpcContext) -> W.Workspace:
        return await self.teams.transfer(
            await ctx.user_session(), ctx.require_user(), req, _who(ctx)
        )

    @answers(W.MEMBER_LIST)
    async def member_list(self, req: W.WorkspaceRef, ctx: RpcContext) -> W.MemberList:
        return await self.teams.list_members(
            await ctx.user_session(), ctx.require_user(), req.workspace_id, _who(ctx)
        )

    @answers(W.MEMBER_UPDATE)
    async def member_update(self, req: W.UpdateMember, ctx: RpcContext) -> W.Member:
        return await self.teams.update_member(
            await ctx.user_session(), ctx.require_user(), req, _who(ctx)
        )

    @answers(W.MEMBER_REMOVE)
    async def member_remove(self, req: W.MemberRef, ctx: RpcContext) -> Empty:
        return await self.teams.remove_member(
            await ctx.user_session(), ctx.require_user(), req, _who(ctx)
        )

    @answers(W.MEMBER_LEAVE)
    async def member_leave(self, req: W.WorkspaceRef, ctx: RpcContext) -> Empty:
        return await self.teams.leave(
            await ctx.user_session(), ctx.require_user(), req.workspace_id, _who(ctx)
        )

    @answers(W.ROLE_LIST)
    async def role_list(self, req: W.WorkspaceRef, ctx: RpcContext) -> W.RoleList:
        return await self.teams.list_roles(
            await ctx.user_session(), ctx.require_user(), req.workspace_id, _who(ctx)
        )

    @answers(W.ROLE_CREATE)
    async def role_create(self, req: W.CreateRole, ctx: RpcContext) -> W.Role:
        return await self.teams.create_role(
            await ctx.user_session(), ctx.require_user(), req, _who(ctx)
        )

    @answers(W.ROLE_UPDATE)
    async def role_update(self, req: W.UpdateRole, ctx: RpcContext) -> W.Role:
        return await self.teams.update_role(
            await ctx.user_session(), ctx.require_user(), req, _who(ctx)
        )

    @answers(W.ROLE_DELETE)
    async def role_delete(self, req: W.RoleIdRef, ctx: RpcContext) -> Empty:
        await self.teams.delete_role(await ctx.user_session(), ctx.require_user(), req, _who(ctx))
        return Empty()

    @answers(W.INVITATION_CREATE)
    async def invitation_create(
        self, req: W.CreateInvitation, ctx: RpcContext
    ) -> W.InvitationCreated:
        return await self.teams.create_invitation(
            await ctx.user_session(), ctx.require_user(), req, _who(ctx)
        )

    @answers(W.INVITATION_LIST)
    async def invitation_list(self, req: W.WorkspaceRef, ctx: RpcContext) -> W.InvitationList:
        return await self.teams.list_invitations(
            await ctx.user_session(), ctx.require_user(), req.workspace_id, _who(ctx)
        )

    @answers(W.INVITATION_REVOKE)
    async def invitation_revoke(self, req: W.InvitationRef, ctx: RpcContext) -> Empty:
        await self.teams.revoke_invitation(
            await ctx.user_session(), ctx.require_user(), req, _who(ctx)
        )
        return Empty()

    @answers(W.INVITATION_PREVIEW)
    async def invitation_preview(
        self, req: W.AcceptInvitation, ctx: RpcContext
    ) -> W.InvitationPreview:
        return await self.teams.preview_invitation(
            await ctx.user_session(), ctx.require_user(), req.token
        )

    @answers(W.INVITATION_ACCEPT)
    async def invitation_accept(
        self, req: W.AcceptInvitation, ctx: RpcContext
    ) -> W.InvitationAccepted:
        return await self.teams.accept_invitation(
            await ctx.user_session(), ctx.require_user(), req.token, _who(ctx)
        )
