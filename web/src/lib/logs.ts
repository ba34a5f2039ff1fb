// Logs: filters shared by the live tail, the history and the export; the events-per-minute chart.
import type { StreamEvent } from '../api/stream';
import type { LogEntry } from '../api/types';

export const LEVELS = ['debug', 'info', 'warning', 'error', 'critical'] as const;

export interface LogFilters {
  levels: string[];
  kind: string;
  q: string;
}

export interface Line {
  id: string;
  at: string;
  level: string;
  kind: string;
  domain: string;
  botId: string | null;
  message: string;
  /** Where it came from (command runs carry them): the command, the API connection. */
  commandId?: string | null;
  connectionId?: string | null;
}

function idOf(v: unknown): string | null {
  return typeof v === 'string' && v ? v : null;
}

export function lineFromEvent(e: StreamEvent): Line {
  const ev = e.event;
  return {
    id: e.id,
    at: typeof ev.occurred_at === 'string' ? ev.occurred_at : new Date().toISOString(),
    level: typeof ev.level === 'string' ? ev.level : 'info',
    kind: e.kind,
    domain: e.domain,
    botId: e.bot_id,
    message: typeof ev.message === 'string' && ev.message ? ev.message : `${e.domain}.${e.kind}`,
    commandId: idOf(ev.command_id),
    connectionId: idOf(ev.connection_id),
  };
}

export function lineFromEntry(e: LogEntry): Line {
  return {
    id: e.id, at: e.occurred_at, level: e.level, kind: e.kind, domain: e.domain, botId: e.bot_id, message: e.message,
    commandId: idOf(e.payload?.command_id), connectionId: idOf(e.payload?.connection_id),
  };
}

/** Oldest first (the tail's order) from a newest-first page of history. */
export function backlogLines(items: LogEntry[]): Line[] {
  return items.map(lineFromEntry).reverse();
}

/** Where a problem line leads: its command (on its bot), else the API connection it called. */
export function sourceLink(line: Line): { to: string; label: string } | null {
  if (line.level !== 'error' && line.level !== 'critical' && line.level !== 'warning') return null;
  if (line.commandId && line.botId) return { to: `/bots/${encodeURIComponent(line.botId)}/commands/${encodeURIComponent(line.commandId)}`, label: 'Open the command' };
  if (line.connectionId) return { to: `/connections#connection-${encodeURIComponent(line.connectionId)}`, label: 'Open the connection' };
  return null;
}

/** Every place a problem line came from: its command, and the API connection it called (a
 * failed HTTP or AI command may be the connection's fault: a wrong URL, a revoked key). */
export function sourceLinks(line: Line): Array<{ to: string; label: string }> {
  const first = sourceLink(line);
  if (!first) return [];
  const out = [first];
  if (line.commandId && line.botId && line.connectionId) out.push({ to: `/connections#connection-${encodeURIComponent(line.connectionId)}`, label: 'Open the connection' });
  return out;
}

/** Text filtering of the live tail happens here (the stream filters levels and kinds itself). */
export function matches(line: Line, f: LogFilters): boolean {
  if (f.levels.length && !f.levels.includes(line.level)) return false;
  if (f.kind.trim() && line.kind !== f.kind.trim()) return false;
  if (f.q.trim() && !line.message.toLowerCase().includes(f.q.trim().toLowerCase())) return false;
  return true;
}

/** Append to a bounded tail (newest last), dropping duplicates by id. */
export function appendBounded(lines: Line[], add: Line, max = 500): Line[] {
  if (lines.some((l) => l.id === add.id)) return lines;
  const next = [...lines, add];
  return next.length > max ? next.slice(next.length - max) : next;
}

export interface Bucket {
  start: number;
  counts: Record<string, number>;
}

/** Events per minute by level over the last `minutes` minutes (from the summary's series). */
export function perMinute(series: Array<{ start: string; counts: Array<{ level: string; count: number }> }>): Bucket[] {
  return series.map((b) => {
    const counts: Record<string, number> = {};
    for (const c of b.counts) counts[c.level] = (counts[c.level] ?? 0) + c.count;
    return { start: Date.parse(b.start), counts };
  });
}

/** Fixed time slots from `since` to `until` (one per `bucketS`), empty ones included, so the
 * chart's x axis is time — not just the minutes that happened to have events. */
export function timeSlots(since: string, until: string, buckets: Bucket[], bucketS = 60, maxSlots = 180): Bucket[] {
  const from = Date.parse(since);
  const to = Date.parse(until);
  const width = bucketS * 1000;
  const n = Math.max(1, Math.min(maxSlots, Math.ceil((to - from) / width)));
  const slots: Bucket[] = Array.from({ length: n }, (_, i) => ({ start: from + i * width, counts: {} }));
  for (const b of buckets) {
    const i = Math.floor((b.start - from) / width);
    if (i < 0 || i >= n) continue;
    for (const [level, c] of Object.entries(b.counts)) slots[i].counts[level] = (slots[i].counts[level] ?? 0) + c;
  }
  return slots;
}

export function filterQuery(f: LogFilters, botId?: string, bounds: { since?: string; until?: string } = {}): Record<string, string | string[] | undefined> {
  return { bot_id: botId, level: f.levels.length ? f.levels : undefined, kind: f.kind.trim() || undefined, q: f.q.trim() || undefined, since: bounds.since, until: bounds.until };
}

/** The events summary behind the chart: one bot's, or all of the user's bots' (no bot). */
export function summaryPath(botId?: string): string {
  return botId ? `/v1/bots/${encodeURIComponent(botId)}/events/summary` : '/v1/events/summary';
}
