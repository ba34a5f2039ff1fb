import { describe, expect, it } from 'vitest';
import { channelChoices, connectedSince, duplicateName, duration, guildChoices, isListPick, labelOf, pickedDetail, pickedText, resolveTyped, roleChoices, splitIds, type LiveGuild } from './pickers';

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

  it('shows a picked id by its name, with the id as the line under it', () => {
    const one = channelChoices(guilds, ['100']);
    expect(pickedText('1002', one)).toBe('#general');
    // Two servers' #general: the name alone would not say which.
    expect(pickedText('1002', channelChoices(guilds))).toBe('#general (Sandbox)');
    expect(pickedText('', one)).toBe('');
    expect(pickedDetail('1002', one)).toEqual({ text: 'Sandbox · id 1002', known: true });
    expect(pickedDetail('100', guildChoices(guilds))).toEqual({ text: '3 members · id 100', known: true });
    // An id the live cache does not know is kept, with a note; with no live names, no note.
    expect(pickedDetail('123456789', one)).toEqual({ text: 'id 123456789: not among what the bot sees live; kept as typed.', known: false });
    expect(pickedDetail('123456789', [])).toBeNull();
    expect(pickedDetail('randomly', one)?.known).toBe(false);
    expect(pickedDetail(' ', one)).toBeNull();
    // What the field shows reads back as the same id.
    expect(resolveTyped(pickedText('1002', channelChoices(guilds)), channelChoices(guilds))).toBe('1002');
  });

  it('takes a choice from the list at once, but not an id on its way to a longer one', () => {
    const servers = guildChoices(guilds);
    expect(isListPick('insertReplacementText', '100', servers)).toBe(true);
    expect(isListPick(undefined, '100', servers)).toBe(true);
    expect(isListPick('insertText', '100', servers)).toBe(false);
    expect(isListPick('insertReplacementText', '999', servers)).toBe(false);
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
