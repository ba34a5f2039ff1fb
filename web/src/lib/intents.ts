// Discord gateway intents (mirror of proto.bots.INTENTS) and what the privileged ones mean.
export const INTENTS: Record<string, number> = {
  GUILDS: 1 << 0, GUILD_MEMBERS: 1 << 1, GUILD_MODERATION: 1 << 2, GUILD_EXPRESSIONS: 1 << 3,
  GUILD_INTEGRATIONS: 1 << 4, GUILD_WEBHOOKS: 1 << 5, GUILD_INVITES: 1 << 6, GUILD_VOICE_STATES: 1 << 7,
  GUILD_PRESENCES: 1 << 8, GUILD_MESSAGES: 1 << 9, GUILD_MESSAGE_REACTIONS: 1 << 10, GUILD_MESSAGE_TYPING: 1 << 11,
  DIRECT_MESSAGES: 1 << 12, DIRECT_MESSAGE_REACTIONS: 1 << 13, DIRECT_MESSAGE_TYPING: 1 << 14, MESSAGE_CONTENT: 1 << 15,
  GUILD_SCHEDULED_EVENTS: 1 << 16, AUTO_MODERATION_CONFIGURATION: 1 << 20, AUTO_MODERATION_EXECUTION: 1 << 21,
  GUILD_MESSAGE_POLLS: 1 << 24, DIRECT_MESSAGE_POLLS: 1 << 25,
};

export const PRIVILEGED: Record<string, string> = {
  GUILD_MEMBERS: 'Member join/leave/update events and the member list. Enable “Server Members Intent” in the developer portal.',
  GUILD_PRESENCES: 'Online status and activities of members. Enable “Presence Intent” in the developer portal.',
  MESSAGE_CONTENT: 'The text of messages (needed by prefix commands). Enable “Message Content Intent” in the developer portal.',
};

export function intentNames(bits: number): string[] {
  return Object.entries(INTENTS)
    .filter(([, v]) => (bits & v) === v)
    .map(([k]) => k);
}

export function intentBits(names: string[]): number {
  return names.reduce((acc, n) => acc | (INTENTS[n] ?? 0), 0);
}

export function pretty(name: string): string {
  return name.toLowerCase().replace(/_/g, ' ').replace(/^./, (c) => c.toUpperCase());
}
