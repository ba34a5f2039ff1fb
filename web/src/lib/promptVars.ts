// A prompt's variables (`vars.NAME` in its templates) edited as lines "name = default".

/** `{tone: 'kind'}` -> "tone = kind". */
export function varsToText(vars: Record<string, string> | null | undefined): string {
  return Object.entries(vars ?? {})
    .map(([k, v]) => `${k} = ${v}`)
    .join('\n');
}

/** "tone = kind\ntopic" -> `{tone: 'kind', topic: ''}`; blank lines are skipped. */
export function textToVars(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const at = line.indexOf('=');
    const name = (at < 0 ? line : line.slice(0, at)).trim();
    if (name) out[name] = at < 0 ? '' : line.slice(at + 1).trim();
  }
  return out;
}

/** What a save's toast adds when the saved item came back with warnings. */
export function savedWarningsNote(saved: unknown): string {
  const w = (saved as { warnings?: unknown } | null)?.warnings;
  const n = Array.isArray(w) ? w.length : 0;
  return n === 0 ? '' : ` — ${n === 1 ? 'one warning' : `${n} warnings`}: see its card`;
}
