// Template variables as the contract lists them (GET /v1/commands/variables), filtered to
// what one command can use, and inserting one into a template at the cursor.
import type { LogEntry, TemplateVariable } from '../api/types';

export type ResponseType = 'template' | 'http' | 'ai';

/** The variables a command of `kind` answering with `responseType` can use; `options.NAME`
 * becomes one entry per option the form has. */
export function variablesFor(items: TemplateVariable[], kind: string, responseType: ResponseType, optionNames: string[]): TemplateVariable[] {
  const tags = new Set([kind, responseType]);
  const out: TemplateVariable[] = [];
  for (const v of items) {
    const only = v.only ?? [];
    if (only.length > 0 && !only.some((t) => tags.has(t))) continue;
    if (v.path.startsWith('vars.')) continue; // prompt templates only
    if (v.path === 'options.NAME') {
      for (const name of optionNames) out.push({ ...v, path: `options.${name}`, description: `the value of the option ${name}` });
      continue;
    }
    out.push(v);
  }
  return out;
}

/** `text` with `{{ path }}` put in place of the selection [start, end), and where the cursor goes. */
export function insertVariable(text: string, start: number, end: number, path: string): { text: string; cursor: number } {
  const a = Math.max(0, Math.min(start, text.length));
  const b = Math.max(a, Math.min(end, text.length));
  const snippet = `{{ ${path} }}`;
  return { text: text.slice(0, a) + snippet + text.slice(b), cursor: a + snippet.length };
}

/** One line for a result: how long it took and which steps ran. */
export function resultSummary(reply: { duration_ms?: number | null; steps?: string[] | null }): string {
  const parts = [...(reply.steps ?? [])];
  if (reply.duration_ms != null) parts.push(`${Math.max(1, Math.round(reply.duration_ms))} ms in all`);
  return parts.join(' · ');
}

/** The Logs page showing one line. */
export function logLineHref(eventId: string, botId?: string): string {
  const q = new URLSearchParams({ event: eventId });
  if (botId) q.set('bot', botId);
  return `/logs?${q.toString()}`;
}

/** The executed event of a sandbox interaction among log entries (newest first), if logged. */
export function runOfInteraction(entries: LogEntry[], interactionId: string): LogEntry | undefined {
  return entries.find((e) => e.kind === 'executed' && (e.payload as { interaction_id?: unknown })?.interaction_id === interactionId);
}
