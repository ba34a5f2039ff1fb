// Logs: the time range picker (last 15 min … 7 days, or custom from–to), mapped to the API's
// `since`/`until` (ISO 8601) and to the chart's bucket width.

export type RangeKey = '15m' | '1h' | '24h' | '7d' | 'custom';

export interface TimeRange {
  key: RangeKey;
  /** Custom range, as `<input type="datetime-local">` values (local time), '' = open. */
  from: string;
  to: string;
}

const MINUTE = 60_000;

export const RANGES: ReadonlyArray<{ key: RangeKey; label: string; ms: number }> = [
  { key: '15m', label: 'Last 15 minutes', ms: 15 * MINUTE },
  { key: '1h', label: 'Last hour', ms: 60 * MINUTE },
  { key: '24h', label: 'Last 24 hours', ms: 24 * 60 * MINUTE },
  { key: '7d', label: 'Last 7 days', ms: 7 * 24 * 60 * MINUTE },
  { key: 'custom', label: 'Custom (from – to)', ms: 0 },
];

export const DEFAULT_RANGE: TimeRange = { key: '1h', from: '', to: '' };

export interface Bounds {
  since?: string;
  until?: string;
}

function localToIso(value: string): string | undefined {
  if (!value) return undefined;
  const t = new Date(value).getTime();
  return Number.isNaN(t) ? undefined : new Date(t).toISOString();
}

/** What is wrong with a custom range, in plain words (null: nothing). */
export function rangeError(r: TimeRange): string | null {
  if (r.key !== 'custom') return null;
  if (r.from && !localToIso(r.from)) return 'From is not a date and time.';
  if (r.to && !localToIso(r.to)) return 'To is not a date and time.';
  const since = localToIso(r.from);
  const until = localToIso(r.to);
  if (since && until && since >= until) return 'From must be before To.';
  return null;
}

/** `since`/`until` for the API, relative ranges counted back from `now`. */
export function rangeBounds(r: TimeRange, now: number = Date.now()): Bounds {
  if (r.key === 'custom') {
    if (rangeError(r)) return {};
    return { since: localToIso(r.from), until: localToIso(r.to) };
  }
  const ms = RANGES.find((x) => x.key === r.key)?.ms ?? 60 * MINUTE;
  return { since: new Date(now - ms).toISOString() };
}

const BUCKETS: ReadonlyArray<{ s: number; label: string }> = [
  { s: 60, label: 'minute' },
  { s: 300, label: '5 minutes' },
  { s: 900, label: '15 minutes' },
  { s: 3600, label: 'hour' },
  { s: 3 * 3600, label: '3 hours' },
  { s: 24 * 3600, label: 'day' },
];

/** The chart's bucket width for a window: the smallest that keeps it to ≤ 180 bars. */
export function bucketFor(since: string, until: string): { s: number; label: string } {
  const span = (Date.parse(until) - Date.parse(since)) / 1000;
  return BUCKETS.find((b) => span / b.s <= 180) ?? BUCKETS[BUCKETS.length - 1];
}

/** How the range reads in a caption ("last hour", "12/7/2026, 10:00 – 11:00"). */
export function rangeLabel(r: TimeRange): string {
  if (r.key !== 'custom') return (RANGES.find((x) => x.key === r.key)?.label ?? '').toLowerCase();
  const fmt = (v: string) => (v ? new Date(v).toLocaleString() : '…');
  return `${fmt(r.from)} – ${r.to ? fmt(r.to) : 'now'}`;
}
