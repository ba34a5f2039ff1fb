import { describe, expect, it } from 'vitest';
import { defaultPlace, firstTextChannel, pickGuild, placeBody } from './tryPlace';
import type { LiveGuild } from './pickers';

const guilds: LiveGuild[] = [
  { id: '1', name: 'Sandbox', channels: [{ id: '10', name: 'Info', type: 'category', position: 0 }, { id: '11', name: 'voice', type: 'voice', position: 1 }, { id: '12', name: 'general', type: 'text', position: 2 }] },
  { id: '2', name: 'Other', channels: [{ id: '21', name: 'news', type: 'news', position: 0 }, { id: '22', name: 'chat', type: 'text', position: 5 }] },
];

describe('Try it place', () => {
  it('defaults to the first server and its first text channel', () => {
    expect(defaultPlace(guilds, null)).toEqual({ guild: '1', channel: '12' });
    expect(defaultPlace([], null)).toEqual({ guild: '', channel: '' });
    expect(defaultPlace(guilds, { guild: '2', channel: '' })).toEqual({ guild: '2', channel: '' });
    expect(firstTextChannel(guilds[1])).toBe('22');
  });
  it('moves the channel with the server', () => {
    expect(pickGuild(guilds, { guild: '1', channel: '12' }, '2')).toEqual({ guild: '2', channel: '22' });
    expect(pickGuild(guilds, { guild: '1', channel: '21' }, '2')).toEqual({ guild: '2', channel: '21' });
    expect(pickGuild(guilds, { guild: '1', channel: '12' }, '999')).toEqual({ guild: '999', channel: '12' });
  });
  it('sends only what is set', () => {
    expect(placeBody({ guild: ' 1 ', channel: '' })).toEqual({ guild_id: '1' });
  });
});
