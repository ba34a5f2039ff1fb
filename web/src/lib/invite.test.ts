import { describe, expect, it } from 'vitest';
import type { InvitationPreview } from '../api/types';
import { inviteSummary } from './invite';

const preview: InvitationPreview = {
  workspace_id: 'w1', workspace_name: 'Night Shift', role: 'operator', bot_count: 0,
  invited_by: 'Alice', expires_at: '2026-12-14T19:00:00Z', already_member: false,
};
const when = (iso: string) => `at ${iso}`;

describe('inviteSummary', () => {
  it('names the workspace, the role, the inviter and the expiry', () => {
    expect(inviteSummary(preview, when)).toEqual({
      title: 'Join Night Shift as operator',
      details: ['Access to every bot of the workspace', 'Invited by Alice', 'Link expires at 2026-12-14T19:00:00Z'],
    });
  });

  it('counts the bots a limited membership sees', () => {
    expect(inviteSummary({ ...preview, bot_count: 1 }, when).details[0]).toBe('Access limited to 1 bot');
    expect(inviteSummary({ ...preview, bot_count: 3 }, when).details[0]).toBe('Access limited to 3 bots');
  });

  it('leaves out an inviter whose account is gone, and the expiry for a member', () => {
    const { details } = inviteSummary({ ...preview, invited_by: null, already_member: true, role: 'Leads' }, when);
    expect(details).toEqual(['Access to every bot of the workspace']);
  });
});
