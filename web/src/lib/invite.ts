// What the invitation page says about a link before the user accepts it (#17): which
// workspace, as which role, how many bots, who invited, until when.
import type { InvitationPreview } from '../api/types';
import { plural } from './words';

export interface InviteSummary {
  title: string;
  details: string[];
}

export function inviteSummary(p: InvitationPreview, when: (iso: string) => string): InviteSummary {
  const details = [
    // The limit is what the member will see of the workspace: say "all" explicitly.
    p.bot_count === 0 ? 'Access to every bot of the workspace' : `Access limited to ${plural(p.bot_count, 'bot')}`,
  ];
  if (p.invited_by) details.push(`Invited by ${p.invited_by}`);
  // A member's link changes nothing, so its expiry no longer matters to them.
  if (!p.already_member) details.push(`Link expires ${when(p.expires_at)}`);
  return { title: `Join ${p.workspace_name} as ${p.role}`, details };
}
