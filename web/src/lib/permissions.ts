// Discord's permissions, grouped as Discord's role settings group them, and the bit field
// (a decimal string: bits go past 2^31, so BigInt) computed from the checked boxes.
// https://discord.com/developers/docs/topics/permissions#permissions-bitwise-permission-flags

export interface Permission {
  key: string;
  name: string;
  bit: number;
}

export interface PermissionGroup {
  name: string;
  permissions: Permission[];
}

const p = (key: string, name: string, bit: number): Permission => ({ key, name, bit });

export const PERMISSION_GROUPS: PermissionGroup[] = [
  {
    name: 'General',
    permissions: [
      p('VIEW_CHANNEL', 'View Channels', 10),
      p('MANAGE_CHANNELS', 'Manage Channels', 4),
      p('MANAGE_ROLES', 'Manage Roles', 28),
      p('CREATE_GUILD_EXPRESSIONS', 'Create Expressions', 43),
      p('MANAGE_GUILD_EXPRESSIONS', 'Manage Expressions', 30),
      p('VIEW_AUDIT_LOG', 'View Audit Log', 7),
      p('VIEW_GUILD_INSIGHTS', 'View Server Insights', 19),
      p('MANAGE_WEBHOOKS', 'Manage Webhooks', 29),
      p('MANAGE_GUILD', 'Manage Server', 5),
    ],
  },
  {
    name: 'Membership',
    permissions: [
      p('CREATE_INSTANT_INVITE', 'Create Invite', 0),
      p('CHANGE_NICKNAME', 'Change Nickname', 26),
      p('MANAGE_NICKNAMES', 'Manage Nicknames', 27),
      p('KICK_MEMBERS', 'Kick Members', 1),
      p('BAN_MEMBERS', 'Ban Members', 2),
      p('MODERATE_MEMBERS', 'Timeout Members', 40),
    ],
  },
  {
    name: 'Text',
    permissions: [
      p('SEND_MESSAGES', 'Send Messages', 11),
      p('SEND_MESSAGES_IN_THREADS', 'Send Messages in Threads', 38),
      p('CREATE_PUBLIC_THREADS', 'Create Public Threads', 35),
      p('CREATE_PRIVATE_THREADS', 'Create Private Threads', 36),
      p('EMBED_LINKS', 'Embed Links', 14),
      p('ATTACH_FILES', 'Attach Files', 15),
      p('ADD_REACTIONS', 'Add Reactions', 6),
      p('USE_EXTERNAL_EMOJIS', 'Use External Emoji', 18),
      p('USE_EXTERNAL_STICKERS', 'Use External Stickers', 37),
      p('MENTION_EVERYONE', 'Mention @everyone, @here and All Roles', 17),
      p('MANAGE_MESSAGES', 'Manage Messages', 13),
      p('MANAGE_THREADS', 'Manage Threads', 34),
      p('READ_MESSAGE_HISTORY', 'Read Message History', 16),
      p('SEND_TTS_MESSAGES', 'Send Text-to-Speech Messages', 12),
      p('SEND_VOICE_MESSAGES', 'Send Voice Messages', 46),
      p('SEND_POLLS', 'Create Polls', 49),
    ],
  },
  {
    name: 'Voice',
    permissions: [
      p('CONNECT', 'Connect', 20),
      p('SPEAK', 'Speak', 21),
      p('STREAM', 'Video', 9),
      p('USE_SOUNDBOARD', 'Use Soundboard', 42),
      p('USE_EXTERNAL_SOUNDS', 'Use External Sounds', 45),
      p('USE_VAD', 'Use Voice Activity', 25),
      p('PRIORITY_SPEAKER', 'Priority Speaker', 8),
      p('MUTE_MEMBERS', 'Mute Members', 22),
      p('DEAFEN_MEMBERS', 'Deafen Members', 23),
      p('MOVE_MEMBERS', 'Move Members', 24),
      p('SET_VOICE_CHANNEL_STATUS', 'Set Voice Channel Status', 48),
    ],
  },
  {
    name: 'Apps',
    permissions: [
      p('USE_APPLICATION_COMMANDS', 'Use Application Commands', 31),
      p('USE_EMBEDDED_ACTIVITIES', 'Use Activities', 39),
      p('USE_EXTERNAL_APPS', 'Use External Apps', 50),
    ],
  },
  { name: 'Stage', permissions: [p('REQUEST_TO_SPEAK', 'Request to Speak', 32)] },
  {
    name: 'Events',
    permissions: [p('CREATE_EVENTS', 'Create Events', 44), p('MANAGE_EVENTS', 'Manage Events', 33)],
  },
  { name: 'Advanced', permissions: [p('ADMINISTRATOR', 'Administrator', 3)] },
];

export const ALL_PERMISSIONS: Permission[] = PERMISSION_GROUPS.flatMap((g) => g.permissions);
const BY_KEY = new Map(ALL_PERMISSIONS.map((x) => [x.key, x]));

/** What a bot that answers commands needs in a channel: see it, read it, answer with embeds. */
export const BOT_DEFAULT_KEYS = ['VIEW_CHANNEL', 'SEND_MESSAGES', 'EMBED_LINKS', 'READ_MESSAGE_HISTORY'];

const DECIMAL = /^\d{1,20}$/;

/** The bit field as a BigInt; empty is 0; anything but a decimal number is null. */
export function parseBits(value: string | number | bigint | null | undefined): bigint | null {
  if (value == null) return 0n;
  if (typeof value === 'bigint') return value >= 0n ? value : null;
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? BigInt(value) : null;
  const text = value.trim();
  if (text === '') return 0n;
  return DECIMAL.test(text) ? BigInt(text) : null;
}

/** The decimal bit field of these permission keys (unknown keys are an error: a typo). */
export function toBits(keys: Iterable<string>): string {
  let bits = 0n;
  for (const key of keys) {
    const perm = BY_KEY.get(key);
    if (!perm) throw new Error(`unknown Discord permission ${key}`);
    bits |= 1n << BigInt(perm.bit);
  }
  return bits.toString();
}

/** The permission keys set in a bit field (bits Discord has but this list lacks are left out). */
export function fromBits(value: string | number | bigint | null | undefined): Set<string> {
  const bits = parseBits(value) ?? 0n;
  return new Set(ALL_PERMISSIONS.filter((x) => (bits >> BigInt(x.bit)) & 1n).map((x) => x.key));
}

/** Check or uncheck one permission, keeping every other bit (also ones not listed here). */
export function toggle(value: string, key: string, on: boolean): string {
  const perm = BY_KEY.get(key);
  if (!perm) throw new Error(`unknown Discord permission ${key}`);
  const bits = parseBits(value) ?? 0n;
  const mask = 1n << BigInt(perm.bit);
  return (on ? bits | mask : bits & ~mask).toString();
}

/** The names of the set permissions, in the picker's order ("" → []). */
export function permissionNames(value: string | number | bigint | null | undefined): string[] {
  const keys = fromBits(value);
  return ALL_PERMISSIONS.filter((x) => keys.has(x.key)).map((x) => x.name);
}
