// Pure logic behind the role / channel / server pickers, the servers list and the command
// list's Duplicate: what a picker offers, how a typed name or id resolves, names, uptime.
import type { LiveGuild } from '../api/schema.gen';

export type { LiveGuild };

/** One thing a picker offers: its Discord id, what people read, and where it lives. */
export type Choice = { id: string; label: string; hint?: string };

const SNOWFLAKE = /^[0-9]{1,20}$/;

export function guildChoices(guilds: LiveGuild[]): Choice[] {
  return guilds.map((g) => ({ id: g.id, label: g.name, hint: g.member_count != null ? `${g.member_count} members` : undefined }));
}

/** Channels people can type in (no categories), in the given servers (all when empty). */
export function channelChoices(guilds: LiveGuild[], only: string[] = []): Choice[] {
  return inGuilds(guilds, only).flatMap((g) =>
    (g.channels ?? []).filter((c) => c.type !== 'category').map((c) => ({ id: c.id, label: `#${c.name}`, hint: g.name })),
  );
}

/** Roles that can be required (not @everyone, which every member has), highest first. */
export function roleChoices(guilds: LiveGuild[], only: string[] = []): Choice[] {
  return inGuilds(guilds, only).flatMap((g) => (g.roles ?? []).filter((r) => r.id !== g.id).map((r) => ({ id: r.id, label: `@${r.name}`, hint: g.name })));
}

function inGuilds(guilds: LiveGuild[], only: string[]): LiveGuild[] {
  const picked = guilds.filter((g) => only.includes(g.id));
  return picked.length > 0 ? picked : guilds;
}

/** Ids as the command form keeps them: comma or whitespace separated. */
export function splitIds(s: string): string[] {
  return s.split(/[\s,]+/).filter(Boolean);
}

export function joinIds(ids: string[]): string {
  return ids.join(', ');
}

/**
 * What typed text means: a known id, a name of one choice (with or without its # or @, any
 * case), or any other Discord id (typing an id stays possible); null when it is none of them.
 */
export function resolveTyped(text: string, choices: Choice[]): string | null {
  const t = text.trim();
  if (!t) return null;
  if (choices.some((c) => c.id === t)) return t;
  const bare = (s: string) => s.replace(/^[#@]/, '').toLowerCase();
  // The field shows a picked value by name (or "name (server)"): reading it back is a match.
  const named = choices.filter((c) => bare(c.label) === bare(t) || bare(labelOf(c.id, [c])) === bare(t));
  if (named.length === 1) return named[0].id;
  return SNOWFLAKE.test(t) ? t : null;
}

/** How an id reads in the picker: its name when the live cache knows it. */
export function labelOf(id: string, choices: Choice[]): string {
  const c = choices.find((x) => x.id === id);
  return c ? (c.hint ? `${c.label} (${c.hint})` : c.label) : id;
}

/**
 * What a one-value picker's field reads once an id is picked: the choice's name, with where
 * it lives when another choice has the same name (two servers' #general); an id the live
 * cache does not know reads as itself.
 */
export function pickedText(id: string, choices: Choice[]): string {
  const c = choices.find((x) => x.id === id);
  if (!c) return id;
  const twins = choices.filter((x) => x.label.toLowerCase() === c.label.toLowerCase()).length;
  return twins > 1 ? labelOf(id, choices) : c.label;
}

/** The secondary line under a picked value: where it lives and its id (or why it is unnamed). */
export function pickedDetail(id: string, choices: Choice[]): { text: string; known: boolean } | null {
  const t = id.trim();
  if (!t) return null;
  const c = choices.find((x) => x.id === t);
  if (c) return { text: [c.hint, `id ${c.id}`].filter(Boolean).join(' · '), known: true };
  // With no live names at all the source line already says why; only a miss among them is news.
  if (choices.length === 0) return null;
  if (!SNOWFLAKE.test(t)) return { text: `Nothing here is called “${t}”: pick one from the list or type its id.`, known: false };
  return { text: `id ${t}: not among what the bot sees live; kept as typed.`, known: false };
}

/**
 * Whether an input event is a choice taken from the field's list (the browser puts the
 * option's id in the field), not an id being typed: typing "100" on the way to "1002" must
 * not pick server 100.
 */
export function isListPick(inputType: string | undefined, text: string, choices: Choice[]): boolean {
  const typed = inputType !== undefined && inputType !== 'insertReplacementText';
  return !typed && choices.some((c) => c.id === text);
}

/** "45 s", "12 min", "3 h 5 min", "2 d 4 h". */
export function duration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d} d ${h % 24} h` : `${d} d`;
}

/** Since when the bot is connected: the earliest connection of its online shards. */
export function connectedSince(shards: Array<{ state?: string | null; connected_at?: string | null }> | null | undefined): string | null {
  const times = (shards ?? []).filter((s) => s.state === 'online' && s.connected_at).map((s) => s.connected_at as string);
  if (times.length === 0) return null;
  return times.reduce((a, b) => (Date.parse(a) <= Date.parse(b) ? a : b));
}

/**
 * A free name for a command's copy: `greet-copy`, `greet-copy-2`, … (slash and prefix names:
 * lowercase, no spaces, at most 32 characters), `High Five (copy)` for context menus.
 */
export function duplicateName(name: string, kind: string | null | undefined, taken: string[]): string {
  const menu = kind === 'user' || kind === 'message';
  const used = new Set(taken.map((t) => t.toLowerCase()));
  for (let n = 1; ; n++) {
    const suffix = menu ? (n === 1 ? ' (copy)' : ` (copy ${n})`) : n === 1 ? '-copy' : `-copy-${n}`;
    const candidate = name.slice(0, 32 - suffix.length) + suffix;
    if (!used.has(candidate.toLowerCase())) return candidate;
  }
}
