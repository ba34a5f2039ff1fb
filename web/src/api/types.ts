// Re-exports of the generated contract types the console uses, plus the few shapes that
// are defined in gateway route modules (not in proto/schema).
export type {
  ApiTokenCreated, ApiTokenInfo, ApiTokenList, BotPage, BotView, CommandOut, CommandOption, CommandReply, CommandSettings,
  ConnectionOut, ConnectionTestResult, EventsSummary, FileInfo, FileList, ImportResult, LogEntry, LogPage,
  PromptOut, ProviderList, ShardStatus, SyncStatus, User, BotStatus, IntentInfo, TemplateResponse, HttpResponse,
  AiResponse, AccountDeleted, StreamTicket, CommandIn, CommandSample, CommandList, PromptList, ConnectionList, BotStatusBrief, SandboxInfo, TryResult, AvatarApplied,
  GuildList, CommandsSynced,
} from './schema.gen';
export type { TemplateVariable, TemplateVariables } from './schema.gen';
// A new prompt or connection: the create requests, which may also name a workspace (#17).
export type { CreateConnection as ConnectionIn, CreatePrompt as PromptIn } from './schema.gen';

export interface PatchBot {
  name?: string;
  description?: string;
  intents?: number | string[];
  presence?: { status: string; activity_type: string; activity_text?: string | null };
  shard_count?: number | 'auto' | null;
  auto_start?: boolean;
  tags?: string[];
}

// Teams (#17): the workspace contracts, and `GET /v1/me` with the caller's workspaces.
export type {
  AuditPage, AuditRecord, Invitation, InvitationAccepted, InvitationCreated, InvitationList, InvitationPreview, Me, Member, MemberList, MyWorkspace,
  Role, RoleList, Workspace, WorkspaceDeleted, WorkspaceList,
} from './schema.gen';
import type { Workspace } from './schema.gen';

export type Permission = Workspace['permissions'][number];

export interface PermissionInfo {
  name: Permission;
  description: string;
}
