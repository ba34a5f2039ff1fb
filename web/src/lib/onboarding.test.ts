import { describe, expect, it } from 'vitest';
import { NO_PROGRESS, allDone, checklist, inviteUrl, nextStep } from './onboarding';

describe('onboarding', () => {
  it('builds Discord\'s invite link on the configured Discord', () => {
    expect(inviteUrl('https://discord.com', '123', '3072')).toBe(
      'https://discord.com/oauth2/authorize?client_id=123&scope=bot%20applications.commands&permissions=3072',
    );
    expect(inviteUrl('http://127.0.0.1:8790/', '9', '')).toBe(
      'http://127.0.0.1:8790/oauth2/authorize?client_id=9&scope=bot%20applications.commands&permissions=0',
    );
  });
  it('starts with nothing done and opens the first step', () => {
    const steps = checklist(NO_PROGRESS);
    expect(steps.map((s) => s.key)).toEqual(['application', 'token', 'invite', 'start', 'command', 'try']);
    expect(steps.some((s) => s.done)).toBe(false);
    expect(nextStep(steps)?.key).toBe('application');
    expect(steps.find((s) => s.key === 'invite')?.unknown).toBeUndefined();
  });
  it('marks steps from real data', () => {
    const added = checklist({ ...NO_PROGRESS, hasBot: true });
    expect(nextStep(added)?.key).toBe('invite');
    // Servers are known only while the bot is connected: the step says so.
    expect(added.find((s) => s.key === 'invite')?.unknown).toMatch(/online/);
    const online = checklist({ hasBot: true, online: true, guildCount: 1, commandCount: 0, runs: 0 });
    expect(nextStep(online)?.key).toBe('command');
    const running = checklist({ hasBot: true, online: true, guildCount: 0, commandCount: 1, runs: 0 });
    expect(running.find((s) => s.key === 'invite')?.done).toBe(false);
    const all = checklist({ hasBot: true, online: true, guildCount: 1, commandCount: 1, runs: 2 });
    expect(allDone(all)).toBe(true);
    expect(nextStep(all)).toBeUndefined();
  });
  it('stays done once the bot has answered a command, even stopped and without commands', () => {
    const stopped = checklist({ hasBot: true, online: false, guildCount: null, commandCount: 1, runs: 1 });
    expect(allDone(stopped)).toBe(true);
    expect(allDone(checklist({ hasBot: true, online: false, guildCount: null, commandCount: 0, runs: 3 }))).toBe(true);
    // Before a first answer, a stopped bot still has "Start it" to do.
    expect(checklist({ hasBot: true, online: false, guildCount: null, commandCount: 1, runs: 0 }).find((s) => s.key === 'start')?.done).toBe(false);
  });
});
