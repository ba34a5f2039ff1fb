// The command editor's form state and its conversion to/from the API's CommandIn.
import type { CommandIn, CommandOut, CommandSample } from '../api/types';
import { LIMITS, lengthError } from './fields';

export type Kind = 'slash' | 'prefix' | 'user' | 'message';
export type OptType = 'string' | 'integer' | 'number' | 'boolean' | 'user' | 'channel' | 'role';

export interface OptionForm {
  name: string;
  description: string;
  type: OptType;
  required: boolean;
  choices: string; // one per line: `label=value` or `value`
  min: string;
  max: string;
}

export interface CommandForm {
  kind: Kind;
  name: string;
  description: string;
  enabled: boolean;
  ephemeral: boolean;
  cooldownUser: string;
  cooldownGuild: string;
  permissions: string;
  roleIds: string; // comma or whitespace separated
  guildIds: string;
  options: OptionForm[];
  responseType: 'template' | 'http' | 'ai';
  content: string;
  connectionId: string;
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  body: string;
  query: string; // one `name=value` per line
  headers: string; // one `Name: value` per line
  promptId: string;
}

export const emptyOption = (): OptionForm => ({ name: '', description: '', type: 'string', required: false, choices: '', min: '', max: '' });

export const emptyCommand = (): CommandForm => ({
  kind: 'slash', name: '', description: '', enabled: true, ephemeral: false, cooldownUser: '0', cooldownGuild: '0',
  permissions: '', roleIds: '', guildIds: '', options: [], responseType: 'template', content: '', connectionId: '',
  method: 'GET', path: '/', body: '', query: '', headers: '', promptId: '',
});

/** `a=1` / `X-Key: v` lines → an object (the separator is the first `=` or `:`). */
export function parsePairs(text: string, sep: '=' | ':'): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf(sep);
    if (i <= 0) continue;
    out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return out;
}

const pairsText = (o: Record<string, string> | undefined, sep: string) =>
  Object.entries(o ?? {})
    .map(([k, v]) => `${k}${sep}${v}`)
    .join('\n');

const ids = (s: string) => s.split(/[\s,]+/).map((x) => x.trim()).filter(Boolean);
const num = (s: string) => (s.trim() === '' ? null : Number(s));

export function parseChoices(text: string, type: OptType): Array<{ name: string; value: string | number }> {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      const i = l.indexOf('=');
      const name = i >= 0 ? l.slice(0, i).trim() : l;
      const raw = i >= 0 ? l.slice(i + 1).trim() : l;
      return { name, value: type === 'integer' || type === 'number' ? Number(raw) : raw };
    });
}

export function toPayload(f: CommandForm): CommandIn {
  const isSlash = f.kind === 'slash';
  const response: CommandIn['response'] =
    f.responseType === 'template'
      ? { type: 'template', content: f.content || null }
      : f.responseType === 'http'
        ? {
            type: 'http',
            connection_id: f.connectionId,
            method: f.method,
            path: f.path || '/',
            query: parsePairs(f.query, '='),
            headers: parsePairs(f.headers, ':'),
            body: f.body || null,
            content: f.content || null,
          }
        : { type: 'ai', connection_id: f.connectionId, prompt_id: f.promptId };
  return {
    kind: f.kind,
    name: f.name.trim(),
    description: f.kind === 'user' || f.kind === 'message' ? '' : f.description.trim(),
    enabled: f.enabled,
    ephemeral: f.ephemeral,
    cooldown_user_s: Number(f.cooldownUser) || 0,
    cooldown_guild_s: Number(f.cooldownGuild) || 0,
    required_permissions: f.permissions.trim() || null,
    required_role_ids: ids(f.roleIds),
    guild_ids: ids(f.guildIds),
    options: isSlash
      ? f.options.map((o) => {
          const numeric = o.type === 'integer' || o.type === 'number';
          const choices = parseChoices(o.choices, o.type);
          return {
            name: o.name.trim(),
            description: o.description.trim(),
            type: o.type,
            required: o.required,
            ...(choices.length ? { choices } : {}),
            ...(numeric ? { min_value: num(o.min), max_value: num(o.max) } : {}),
            ...(o.type === 'string' ? { min_length: num(o.min), max_length: num(o.max) } : {}),
          };
        })
      : [],
    response,
  } as CommandIn;
}

export function fromCommand(c: CommandOut): CommandForm {
  const r = c.response as Record<string, unknown>;
  const t = (r.type as CommandForm['responseType']) ?? 'template';
  return {
    ...emptyCommand(),
    kind: c.kind ?? 'slash',
    name: c.name,
    description: c.description ?? '',
    enabled: c.enabled ?? true,
    ephemeral: c.ephemeral ?? false,
    cooldownUser: String(c.cooldown_user_s ?? 0),
    cooldownGuild: String(c.cooldown_guild_s ?? 0),
    permissions: c.required_permissions ?? '',
    roleIds: (c.required_role_ids ?? []).join(', '),
    guildIds: (c.guild_ids ?? []).join(', '),
    options: (c.options ?? []).map((o) => ({
      name: o.name,
      description: o.description,
      type: o.type,
      required: o.required ?? false,
      choices: (o.choices ?? []).map((ch) => `${ch.name}=${ch.value}`).join('\n'),
      min: String(o.min_value ?? o.min_length ?? ''),
      max: String(o.max_value ?? o.max_length ?? ''),
    })),
    responseType: t,
    content: typeof r.content === 'string' ? r.content : '',
    connectionId: typeof r.connection_id === 'string' ? r.connection_id : '',
    method: (r.method as CommandForm['method']) ?? 'GET',
    path: typeof r.path === 'string' ? r.path : '/',
    body: typeof r.body === 'string' ? r.body : '',
    query: pairsText(r.query as Record<string, string> | undefined, '='),
    headers: pairsText(r.headers as Record<string, string> | undefined, ': '),
    promptId: typeof r.prompt_id === 'string' ? r.prompt_id : '',
  };
}

/** Checks done before sending (the server still validates everything, by Discord's rules). */
export function localErrors(f: CommandForm): Record<string, string> {
  const e: Record<string, string> = {};
  const name = f.name.trim();
  // Too long is said as such (the inputs no longer cut silently at the limit).
  const nameTooLong = lengthError(f.name, LIMITS.commandName);
  if (!name) e.name = 'A name is required.';
  else if (nameTooLong) e.name = nameTooLong;
  else if (f.kind === 'slash' && !/^[-_\p{Ll}\p{N}]{1,32}$/u.test(name)) e.name = 'Slash command names are 1–32 lowercase letters, digits, - or _.';
  if (f.kind === 'slash' && !f.description.trim()) e.description = 'Slash commands need a description (1–100 characters).';
  else if (f.kind !== 'user' && f.kind !== 'message') {
    const long = lengthError(f.description, LIMITS.commandDescription);
    if (long) e.description = long;
  }
  if (f.responseType !== 'ai') {
    const long = lengthError(f.content, LIMITS.commandTemplate);
    if (long) e['response.content'] = long;
  }
  if (f.options.length > 25) e.options = 'At most 25 options.';
  f.options.forEach((o, i) => {
    if (!o.name.trim()) e[`options.${i}.name`] = 'A name is required.';
    if (!o.description.trim()) e[`options.${i}.description`] = 'A description is required.';
    if (parseChoices(o.choices, o.type).length > 25) e[`options.${i}.choices`] = 'At most 25 choices.';
  });
  if (f.responseType !== 'template' && !f.connectionId) e['response.connection_id'] = 'Pick an API connection.';
  if (f.responseType === 'ai' && !f.promptId) e['response.prompt_id'] = 'Pick a prompt.';
  return e;
}

/** Sample input typed into the editor for a preview: a value per option name, or (prefix) the
 * words after the command's name. */
export interface SampleForm {
  values: Record<string, string>;
  message: string;
}

export const emptySample = (): SampleForm => ({ values: {}, message: '' });

/** Option values as the bot would receive them: numbers and booleans typed, blanks left out.
 * A value that does not parse is sent as typed, so the server's answer says what is wrong. */
export function sampleOptions(options: OptionForm[], values: Record<string, string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const o of options) {
    const name = o.name.trim();
    const raw = (values[name] ?? '').trim();
    if (!name || raw === '') continue;
    if ((o.type === 'integer' || o.type === 'number') && !Number.isNaN(Number(raw))) out[name] = Number(raw);
    else if (o.type === 'boolean' && /^(true|false)$/i.test(raw)) out[name] = raw.toLowerCase() === 'true';
    else out[name] = raw;
  }
  return out;
}

/** The body of `POST /v1/bots/{id}/commands/preview`: what is in the form now (saved or not),
 * the sample input, and the saved command it edits (so its own name is not "taken"). */
export function previewBody(f: CommandForm, sample: SampleForm, savedId?: string): CommandIn & { sample: CommandSample; command_id?: string } {
  const s: CommandSample = {};
  if (f.kind === 'slash') s.options = sampleOptions(f.options, sample.values);
  // A prefix command reads its message: the name, then what the user typed after it.
  if (f.kind === 'prefix' && sample.message.trim()) s.content = `${f.name.trim()} ${sample.message.trim()}`;
  return { ...toPayload(f), sample: s, ...(savedId ? { command_id: savedId } : {}) };
}
