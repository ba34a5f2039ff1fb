import { describe, expect, it } from 'vitest';
import { ALL_PERMISSIONS, BOT_DEFAULT_KEYS, PERMISSION_GROUPS, fromBits, parseBits, permissionNames, toBits, toggle } from './permissions';

describe('permissions', () => {
  it('groups as Discord does, each bit once', () => {
    expect(PERMISSION_GROUPS.map((g) => g.name)).toEqual(['General', 'Membership', 'Text', 'Voice', 'Apps', 'Stage', 'Events', 'Advanced']);
    const bits = ALL_PERMISSIONS.map((x) => x.bit);
    expect(new Set(bits).size).toBe(bits.length);
    expect(new Set(ALL_PERMISSIONS.map((x) => x.key)).size).toBe(bits.length);
  });
  it('computes the bit field Discord documents', () => {
    expect(toBits([])).toBe('0');
    expect(toBits(['ADMINISTRATOR'])).toBe('8');
    expect(toBits(['SEND_MESSAGES', 'VIEW_CHANNEL'])).toBe('3072');
    // Beyond 2^31 (Use Application Commands is 1 << 31, Create Polls 1 << 49): no overflow.
    expect(toBits(['USE_APPLICATION_COMMANDS'])).toBe('2147483648');
    expect(toBits(['SEND_POLLS', 'SEND_MESSAGES'])).toBe(String(2 ** 49 + 2048));
    expect(toBits(BOT_DEFAULT_KEYS)).toBe(String(1024 + 2048 + 16384 + 65536));
    expect(() => toBits(['NOPE'])).toThrow(/NOPE/);
  });
  it('reads a bit field back into checked boxes and names', () => {
    expect([...fromBits('3072')].sort()).toEqual(['SEND_MESSAGES', 'VIEW_CHANNEL']);
    expect([...fromBits(String(2 ** 49))]).toEqual(['SEND_POLLS']);
    expect(fromBits('').size).toBe(0);
    expect(fromBits('junk').size).toBe(0);
    expect(permissionNames('3072')).toEqual(['View Channels', 'Send Messages']);
  });
  it('toggles one box and keeps every other bit, also unknown ones', () => {
    const unknown = (1n << 60n).toString();
    const on = toggle(unknown, 'KICK_MEMBERS', true);
    expect(on).toBe(((1n << 60n) | 2n).toString());
    expect(toggle(on, 'KICK_MEMBERS', false)).toBe(unknown);
    expect(toggle('', 'ADMINISTRATOR', true)).toBe('8');
  });
  it('parses only decimal numbers', () => {
    expect(parseBits(' 8 ')).toBe(8n);
    expect(parseBits('')).toBe(0n);
    expect(parseBits(null)).toBe(0n);
    expect(parseBits('0x8')).toBeNull();
    expect(parseBits('-1')).toBeNull();
    expect(parseBits(-1)).toBeNull();
  });
});
