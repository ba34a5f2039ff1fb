// What the signed-in user may do, from `GET /v1/me`'s workspaces (role, effective
// permissions, bot limit): the console disables what the server would refuse and says why,
// before the user tries. The server still decides; this only keeps buttons honest.
import type { MyWorkspace, Permission } from '../api/types';

export type Verdict = { ok: true; reason: null } | { ok: false; reason: string };

const OK: Verdict = { ok: true, reason: null };

/** What each permission lets one do, in the words of a disabled button's reason. */
const DOES: Record<Permission, string> = {
  'bots.view': 'see bots',
  'bots.control': 'start, stop and restart bots',
  'bots.edit': "change a bot's settings and avatar",
  'bots.token': "replace a bot's token",
  'bots.delete': 'delete bots',
  'commands.edit': 'edit commands',
  'prompts.edit': 'edit prompts',
  'connections.edit': 'edit connections',
  'connections.secrets': 'set connection secrets',
  'files.edit': 'upload and delete files',
  'logs.view': 'read logs',
  'members.manage': 'manage members and invitations',
  'audit.view': 'read the audit trail',
  'workspace.admin': 'manage the workspace and its roles',
  'automations.edit': 'edit automations and variables',
};

export function roleWords(role: string): string {
  // A custom role travels as its id: the reason then names no opaque uuid.
  return /^[0-9a-f-]{36}$/.test(role) ? 'a custom role' : `the ${role} role`;
}

/** May the user use `perm` in `ws` (on `botId`, when the action is about one bot)? */
export function can(perm: Permission, ws: MyWorkspace | null | undefined, botId?: string | null): Verdict {
  if (!ws) return { ok: false, reason: 'You are not a member of this workspace.' };
  if (!ws.permissions.includes(perm)) {
    return { ok: false, reason: `You can't ${DOES[perm]} in ${ws.name}: ${roleWords(ws.role)} lacks the ${perm} permission.` };
  }
  const limited = ws.bot_ids ?? []; // empty: every bot of the workspace
  if (botId && limited.length > 0 && !limited.includes(botId)) {
    return { ok: false, reason: `Your membership in ${ws.name} is limited to other bots.` };
  }
  return OK;
}

/** The workspace a page acts in: the chosen one, else the personal one (where creates go). */
export function pickWorkspace(all: MyWorkspace[], id: string | null | undefined): MyWorkspace | undefined {
  if (id) return all.find((w) => w.id === id);
  return all.find((w) => w.personal) ?? all[0];
}
