import { describe, expect, it } from 'vitest';
import { channelChoices, connectedSince, duplicateName, duration, guildChoices, labelOf, resolveTyped, roleChoices, splitIds, type LiveGuild } from './pickers';

const guild = (id: string, name: string): LiveGuild => ({
  id,
  name,
  member_count: 3,
  icon: null,
  shard_id: 0,
  channels: [
    { id: `${id}1`, name: 'Text Channels', type: 'category', position: 0 },
    { id: `${id}2`, name: 'general', type: 'text', position: 1 },
  ],
  roles: [
    { id: `${id}9`, name: 'Mods', color: 0, position: 2 },
    { id, name: '@everyone', color: 0, position: 0 },
  ],
});
const guilds = [guild('100', 'Sandbox'), guild('200', 'Other')];

describe('pickers', () => {
  it('offers servers, channels without categories, and roles without @everyone', () => {
    expect(guildChoices(guilds).map((c) => [c.label, c.hint])).toEqual([['Sandbox', '3 members'], ['Other', '3 members']]);
    expect(channelChoices(guilds).map((c) => c.id)).toEqual(['1002', '2002']);
    expect(roleChoices(guilds).map((c) => c.label)).toEqual(['@Mods', '@Mods']);
    // Narrowed to the picked servers, when some are picked.
    expect(channelChoices(guilds, ['200']).map((c) => [c.label, c.hint])).toEqual([['#general', 'Other']]);
  });

  it('resolves a typed name or id; typing any id stays possible', () => {
    const channels = channelChoices(guilds, ['100']);
    expect(resolveTyped('#general', channels)).toBe('1002');
    expect(resolveTyped(' General ', channels)).toBe('1002');
    expect(resolveTyped('1002', channels)).toBe('1002');
    expect(resolveTyped('123456789012345678', channels)).toBe('123456789012345678');
    expect(resolveTyped('random', channels)).toBeNull();
    // A name two servers share is ambiguous: not guessed.
    expect(resolveTyped('general', channelChoices(guilds))).toBeNull();
    expect(labelOf('1002', channels)).toBe('#general (Sandbox)');
    expect(labelOf('42', channels)).toBe('42');
    expect(splitIds('1, 2  3,,')).toEqual(['1', '2', '3']);
  });

  it('reads uptime in words from the earliest online shard', () => {
    expect(duration(45_000)).toBe('45 s');
    expect(duration(12 * 60_000)).toBe('12 min');
    expect(duration(185 * 60_000)).toBe('3 h 5 min');
    expect(duration(52 * 3_600_000)).toBe('2 d 4 h');
    const shards = [
      { state: 'online', connected_at: '2026-01-01T10:05:00Z' },
      { state: 'online', connected_at: '2026-01-01T10:00:00Z' },
      { state: 'reconnecting', connected_at: '2026-01-01T09:00:00Z' },
    ];
    expect(connectedSince(shards)).toBe('2026-01-01T10:00:00Z');
    expect(connectedSince([])).toBeNull();
  });

  it('names a duplicate so it does not clash', () => {
    expect(duplicateName('greet', 'slash', ['greet'])).toBe('greet-copy');
    expect(duplicateName('greet', 'slash', ['greet', 'greet-copy'])).toBe('greet-copy-2');
    expect(duplicateName('x'.repeat(32), 'prefix', [])).toHaveLength(32);
    expect(duplicateName('High Five', 'user', ['High Five'])).toBe('High Five (copy)');
  });
});
