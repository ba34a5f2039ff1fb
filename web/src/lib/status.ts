// Live status → what the console shows. Color is never the only signal: every badge has
// a symbol and a word, and errors carry their reason in words.
export type BotState = 'offline' | 'starting' | 'online' | 'reconnecting' | 'stopping' | 'error';
export type Tone = 'ok' | 'busy' | 'warn' | 'bad' | 'off';

export interface Badge {
  state: BotState | 'unknown';
  label: string;
  tone: Tone;
  symbol: string;
  /** the reason in words (errors, reconnects) */
  detail?: string;
}

const BASE: Record<BotState, Omit<Badge, 'state'>> = {
  online: { label: 'Online', tone: 'ok', symbol: '●' },
  starting: { label: 'Starting', tone: 'busy', symbol: '◐' },
  reconnecting: { label: 'Reconnecting', tone: 'warn', symbol: '↻' },
  stopping: { label: 'Stopping', tone: 'busy', symbol: '◑' },
  error: { label: 'Error', tone: 'bad', symbol: '✕' },
  offline: { label: 'Offline', tone: 'off', symbol: '○' },
};

export const REASONS: Record<string, { words: string; todo?: string }> = {
  invalid_token: {
    words: 'Discord refused the token',
    todo: 'Reset the token in the Discord developer portal (Bot → Reset Token) and paste the new one under “Replace token”.',
  },
  disallowed_intents: {
    words: 'the bot asks for privileged intents that are not enabled',
    todo: 'Open the Discord developer portal → your application → Bot → Privileged Gateway Intents, enable the intent named below, save, then restart the bot. Or turn the intent off here.',
  },
  sharding_required: {
    words: 'Discord requires more shards',
    todo: 'Set the shard count to “auto” (Discord’s recommendation) or raise it, then restart.',
  },
  rate_limited: { words: 'rate limited by Discord', todo: 'The bot retries by itself at the time shown.' },
  discord_unavailable: { words: 'Discord is unreachable', todo: 'The bot retries by itself; nothing to do unless it lasts.' },
  crashed: { words: 'the bot crashed', todo: 'It restarts with backoff. Check the logs for the exception; restart after fixing the cause.' },
  identify_wait: { words: 'waiting for Discord’s next session start (one every 5 s)' },
  identify_budget_exhausted: {
    words: 'the daily session-start budget is used up',
    todo: 'Discord allows about 1,000 session starts a day; the bot can start again after the reset time shown.',
  },
};

export function reasonWords(reason: string | null | undefined): string | undefined {
  if (!reason) return undefined;
  return REASONS[reason]?.words ?? reason.replace(/_/g, ' ');
}

export function badgeFor(state: string | null | undefined, reason?: string | null, message?: string | null): Badge {
  if (!state || !(state in BASE)) return { state: 'unknown', label: 'Unknown', tone: 'off', symbol: '?' };
  const s = state as BotState;
  const b: Badge = { state: s, ...BASE[s] };
  // A start that waits (Discord's session-start slot, a re-plan) says why, too.
  if (s === 'error' || s === 'reconnecting' || (s === 'starting' && (message?.trim() || reason))) {
    const words = message?.trim() || reasonWords(reason);
    if (words) b.detail = words;
  }
  return b;
}

/** What the user should do about an error, if we know. */
export function guidanceFor(reason: string | null | undefined): string | undefined {
  return reason ? REASONS[reason]?.todo : undefined;
}

export interface LiveStatus {
  state: BotState;
  reason?: string | null;
  message?: string | null;
  latency_ms?: number | null;
  guild_count?: number | null;
  since?: string;
  /** stream sequence of the event this came from; older events never overwrite newer ones */
  seq?: number;
}

/** A status event's message is a log line ("shard 0/1 starting (identify_wait): waiting 5 s…"):
 * the badge shows only its own words, not the shard numbers and the reason's code. */
export function ownMessage(message: string | null): string | null {
  if (!message) return null;
  const rest = message.replace(/^shard \d+\/\d+ [a-z_]+(?: \([a-z_]+\))?(?::\s*|$)/, '').trim();
  return rest || null;
}

/** Apply one `evt.bot.*.status` event (a bot or one shard changed) to the known status. */
export function applyStatusEvent(prev: LiveStatus | undefined, ev: Record<string, unknown>, seq?: number): LiveStatus {
  if (prev?.seq !== undefined && seq !== undefined && seq <= prev.seq) return prev;
  const num = (v: unknown) => (typeof v === 'number' ? v : undefined);
  const str = (v: unknown) => (typeof v === 'string' ? v : null);
  return {
    state: (str(ev.state) as BotState) ?? prev?.state ?? 'offline',
    reason: str(ev.reason),
    message: ownMessage(str(ev.message)),
    latency_ms: num(ev.latency_ms) ?? prev?.latency_ms ?? null,
    guild_count: num(ev.guild_count) ?? prev?.guild_count ?? null,
    since: str(ev.occurred_at) ?? prev?.since,
    seq: seq ?? prev?.seq,
  };
}

/** A bot between its wanted state and where it is: starting, stopping, or not there yet. */
export function onItsWay(desired: string | undefined, state: string | undefined): boolean {
  if (state === 'starting' || state === 'stopping') return true;
  if (desired === 'running') return state === 'offline';
  return desired === 'stopped' && (state === 'online' || state === 'reconnecting');
}
