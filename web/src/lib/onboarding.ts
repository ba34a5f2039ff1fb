// The first-run checklist: from an empty account to a first answered command. Each step's
// "done" comes from real data (the bots, the live status, the commands, the logs).

/** `GET /v1/config` (a gateway route, not a contract). */
export interface ConsoleConfig {
  discord_base_url: string;
}

export const DEVELOPER_PORTAL = 'https://discord.com/developers/applications';
export const INVITE_SCOPES = ['bot', 'applications.commands'];

/** Discord's invite link (the bot authorization flow) on the Discord the server talks to. */
export function inviteUrl(discordBaseUrl: string, applicationId: string, permissions: string): string {
  const base = discordBaseUrl.replace(/\/+$/, '') || 'https://discord.com';
  const scope = INVITE_SCOPES.map(encodeURIComponent).join('%20');
  return `${base}/oauth2/authorize?client_id=${encodeURIComponent(applicationId)}&scope=${scope}&permissions=${encodeURIComponent(permissions || '0')}`;
}

export type StepKey = 'application' | 'token' | 'invite' | 'start' | 'command' | 'try';

export interface Step {
  key: StepKey;
  title: string;
  done: boolean;
  /** Why the console cannot tell yet (e.g. servers are known only while the bot runs). */
  unknown?: string;
}

/** What the console knows about the user's first bot (null: no bot yet). */
export interface Progress {
  hasBot: boolean;
  online: boolean;
  /** Servers the running bot is in; null while it is not connected. */
  guildCount: number | null;
  commandCount: number;
  /** Command runs recorded in the logs. */
  runs: number;
}

export const NO_PROGRESS: Progress = { hasBot: false, online: false, guildCount: null, commandCount: 0, runs: 0 };

export function checklist(p: Progress): Step[] {
  const inGuild = p.guildCount != null && p.guildCount > 0;
  // A bot that has answered a command finished the checklist for good: stopping it later, or
  // deleting its commands, must not bring the checklist back.
  const answered = p.runs > 0;
  return [
    { key: 'application', title: 'Create an application in the Discord Developer Portal', done: p.hasBot },
    { key: 'token', title: "Paste its bot token here", done: p.hasBot },
    {
      key: 'invite',
      title: 'Invite the bot to a server',
      // A running bot's servers prove the invite; one that ran and answered was in one too.
      done: inGuild || answered,
      unknown: p.hasBot && p.guildCount == null && !answered ? 'shown once the bot is online' : undefined,
    },
    { key: 'start', title: 'Start it', done: p.online || answered },
    { key: 'command', title: 'Make a first command', done: p.commandCount > 0 || answered },
    { key: 'try', title: 'Try it', done: answered },
  ];
}

export const allDone = (steps: Step[]): boolean => steps.every((s) => s.done);

/** The first step not done yet (the one the checklist opens). */
export const nextStep = (steps: Step[]): Step | undefined => steps.find((s) => !s.done);
