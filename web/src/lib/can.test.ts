import { describe, expect, it } from 'vitest';
import { can, pickWorkspace } from './can';
import type { MyWorkspace } from '../api/types';

const team: MyWorkspace = { id: 'w1', name: 'Team A', personal: false, role: 'operator', permissions: ['bots.view', 'bots.control', 'logs.view'], bot_ids: [] };
const limited: MyWorkspace = { ...team, bot_ids: ['b1'] };
const custom: MyWorkspace = { ...team, role: '0b7f6a2e-3c1d-4e5f-8a9b-0c1d2e3f4a5b' };
const personal: MyWorkspace = { id: 'p', name: 'Personal', personal: true, role: 'owner', permissions: ['bots.view', 'commands.edit'], bot_ids: [] };

describe('can', () => {
  it('allows a permission the role has', () => {
    expect(can('bots.control', team)).toEqual({ ok: true, reason: null });
    expect(can('bots.control', team, 'any-bot')).toEqual({ ok: true, reason: null });
  });

  it('refuses a missing permission, naming it, the role and the workspace', () => {
    const v = can('commands.edit', team, 'b1');
    expect(v.ok).toBe(false);
    expect(v.reason).toContain('commands.edit');
    expect(v.reason).toContain('operator');
    expect(v.reason).toContain('Team A');
  });

  it('never names a custom role by its id', () => {
    const v = can('commands.edit', custom);
    expect(v.reason).toContain('a custom role');
    expect(v.reason).not.toContain(custom.role);
  });

  it('keeps a membership limited to some bots to those bots', () => {
    expect(can('bots.control', limited, 'b1').ok).toBe(true);
    const other = can('bots.control', limited, 'b2');
    expect(other.ok).toBe(false);
    expect(other.reason).toMatch(/limited to other bots/);
    // Not about one bot (e.g. reading logs of the workspace): the limit does not refuse it.
    expect(can('logs.view', limited).ok).toBe(true);
  });

  it('refuses everything outside a known workspace', () => {
    expect(can('bots.view', undefined)).toEqual({ ok: false, reason: 'You are not a member of this workspace.' });
    expect(can('bots.view', null, 'b1').ok).toBe(false);
  });
});

describe('pickWorkspace', () => {
  it('is the chosen workspace, else the personal one', () => {
    expect(pickWorkspace([team, personal], 'w1')).toBe(team);
    expect(pickWorkspace([team, personal], null)).toBe(personal);
    expect(pickWorkspace([team, personal], 'gone')).toBeUndefined();
  });
});
