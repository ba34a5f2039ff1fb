// Small wordings the console shows in several places: plurals, a connection test's result,
// the bot's wanted state in plain words, and the arrow keys of a tab list.

/** "1 command", "2 commands"; a word that does not end in "s" gets one. */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** Import diff counts: the service's keys are plural nouns ("commands", "prompts"). */
export function countOf(n: number, what: string): string {
  const one = what.endsWith('s') ? what.slice(0, -1) : what;
  return plural(n, one, what.endsWith('s') ? what : `${what}s`);
}

/** What an applied import did, for its toast: "Imported ✓ — 3 commands created, 1 updated".
 * Each kind names its noun once; a kind nothing happened to is left out. */
export function importSummary(r: { created?: Record<string, number>; updated?: Record<string, number> }): string {
  const created = r.created ?? {};
  const updated = r.updated ?? {};
  const kinds = [...new Set([...Object.keys(created), ...Object.keys(updated)])];
  const parts = kinds.flatMap((what) => {
    const c = created[what] ?? 0;
    const u = updated[what] ?? 0;
    if (c > 0 && u > 0) return [`${countOf(c, what)} created, ${u} updated`];
    if (c > 0) return [`${countOf(c, what)} created`];
    if (u > 0) return [`${countOf(u, what)} updated`];
    return [];
  });
  return parts.length === 0 ? 'Imported ✓ — nothing changed' : `Imported ✓ — ${parts.join('; ')}`;
}

export interface TestOutcome {
  ok: boolean;
  status?: number | null;
  duration_ms: number;
  error?: string | null;
}

/**
 * One line for a connection test. A request that got no answer (refused by the outbound
 * rules, DNS, a timeout) has no HTTP status and no timing: say why, not "0 ms".
 */
export function testSummary(t: TestOutcome): string {
  const sent = t.status != null || t.duration_ms > 0;
  if (!t.ok && !sent) return `✕ Failed: ${t.error?.trim() || 'no answer'}`;
  const parts = [t.ok ? '✓ Reachable' : '✕ Failed'];
  if (t.status != null) parts.push(`HTTP ${t.status}`);
  parts.push(`${Math.max(1, Math.round(t.duration_ms))} ms`);
  return parts.join(' · ');
}

/** The bot's wanted state as a person says it (what Start / Stop last asked for). */
export function wantedWords(desired: string): string {
  return desired === 'running' ? 'set to run' : 'set to stay stopped';
}

/**
 * Roving tabindex for a tab list (WAI-ARIA APG): Left/Right move (and wrap), Home/End jump.
 * Returns the tab index to select, or null for keys the tab list does not handle.
 */
export function tabKeyTarget(key: string, current: number, count: number): number | null {
  if (count <= 0) return null;
  if (key === 'ArrowRight') return (current + 1) % count;
  if (key === 'ArrowLeft') return (current - 1 + count) % count;
  if (key === 'Home') return 0;
  if (key === 'End') return count - 1;
  return null;
}

/** A wait as a person reads it, worded like the API's messages (services/sizes.py
 * human_duration): "45 s", "about 10 min" (never "596 s"), "2 h". */
export function humanDuration(seconds: number): string {
  const s = Math.max(1, Math.round(seconds));
  if (s < 90) return `${s} s`;
  for (const [size, unit] of [[86_400, 'day'], [3_600, 'h'], [60, 'min']] as const) {
    if (s >= size * 1.5 || size === 60) {
      const n = Math.round(s / size);
      const word = unit === 'day' && n !== 1 ? 'days' : unit;
      return s === n * size ? `${n} ${word}` : `about ${n} ${word}`;
    }
  }
  return `${s} s`;
}
