import { describe, expect, it } from 'vitest';
import { intentBits, intentNames, PRIVILEGED } from './intents';

describe('intents', () => {
  it('round-trips names and bits', () => {
    const bits = intentBits(['GUILDS', 'MESSAGE_CONTENT', 'GUILD_MESSAGES']);
    expect(bits).toBe(1 | (1 << 15) | (1 << 9));
    expect(intentNames(bits).sort()).toEqual(['GUILDS', 'GUILD_MESSAGES', 'MESSAGE_CONTENT']);
    expect(intentBits(['NOPE'])).toBe(0);
  });
  it('explains every privileged intent', () => {
    expect(Object.keys(PRIVILEGED).sort()).toEqual(['GUILD_MEMBERS', 'GUILD_PRESENCES', 'MESSAGE_CONTENT']);
  });
});
