// Pickers fed by the bot's live connection (GET /v1/bots/{id}/guilds): servers, channels and
// roles chosen by name, with typing an id still possible; the overview's servers and uptime;
// the bot's command prefix.
import { Gated } from './gated';
import { useToast } from './toast';
import { Counter, SaveErrors } from './formErrors';
import { useEffect, useId, useState, type ChangeEvent, type FormEvent, type InputHTMLAttributes } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link } from 'react-router';
import { api } from '../api/client';
import { ApiError, fieldErrors } from '../api/errors';
import { LIMITS } from '../lib/fields';
import { useStatus } from '../api/bots';
import type { BotView, CommandSettings, GuildList } from '../api/types';
import { ErrorBox, Field, Loading, when } from './ui';
import { connectedSince, duration, isListPick, joinIds, labelOf, pickedDetail, pickedText, resolveTyped, splitIds, type Choice } from '../lib/pickers';

/** The bot's servers from its live connection; a stopped bot answers 409 (not retried). */
export function useGuilds(botId: string, enabled = true) {
  return useQuery({
    queryKey: ['guilds', botId],
    queryFn: () => api.get<GuildList>(`/v1/bots/${botId}/guilds`),
    enabled,
    retry: false,
    staleTime: 30_000,
    // Servers arrive just after the connection opens: look again soon while there are none.
    refetchInterval: (q) => (q.state.error ? false : (q.state.data?.guilds?.length ?? 0) > 0 ? 60_000 : 3_000),
  });
}

/** A line under the pickers saying where their names come from, or why there are none. */
export function GuildSource({ query }: { query: ReturnType<typeof useGuilds> }) {
  if (query.isPending) return <p className="small muted">Loading the bot’s servers…</p>;
  if (query.error instanceof ApiError && query.error.status === 409)
    return <p className="small muted" data-testid="picker-source">Servers, channels and roles can be picked by name while the bot is online ({query.error.message}). You can still type their ids.</p>;
  if (query.error) return <p className="small muted" data-testid="picker-source">The bot’s servers could not be loaded ({query.error.message}). You can still type ids.</p>;
  const n = query.data?.guilds?.length ?? 0;
  return <p className="small muted" data-testid="picker-source">{n === 0 ? 'The bot is in no server yet: invite it to one. You can still type ids.' : `Names from the bot’s ${n === 1 ? 'server' : `${n} servers`}, live. You can also type an id.`}</p>;
}

type ChoiceInputProps = Omit<InputHTMLAttributes<HTMLInputElement>, 'list' | 'autoComplete'> & { choices: Choice[] };

/** A text input that offers the choices by name (a datalist of their ids). */
function ChoiceInput({ choices, ...input }: ChoiceInputProps) {
  const listId = useId();
  return (
    <>
      <input {...input} list={listId} autoComplete="off" />
      <datalist id={listId}>
        {choices.map((c) => (
          <option key={c.id} value={c.id} label={c.hint ? `${c.label} — ${c.hint}` : c.label} />
        ))}
      </datalist>
    </>
  );
}

type ListProps = { label: string; noun: string; value: string; onChange: (v: string) => void; choices: Choice[]; error?: string; hint?: string };

const inputTypeOf = (e: ChangeEvent<HTMLInputElement>): string | undefined => (e.nativeEvent as InputEvent).inputType;

/** Several ids (kept as "id, id"): each picked shows by name, with a button to remove it. */
export function IdListPicker({ label, noun, value, onChange, choices, error, hint }: ListProps) {
  const ids = splitIds(value);
  const [text, setText] = useState('');
  const [problem, setProblem] = useState('');
  const add = (raw: string) => {
    const id = resolveTyped(raw, choices);
    if (!id) return setProblem(`No ${noun} is called “${raw.trim()}”: pick one from the list or type its id.`);
    setProblem('');
    setText('');
    if (!ids.includes(id)) onChange(joinIds([...ids, id]));
  };
  const unknown = ids.filter((id) => pickedDetail(id, choices)?.known === false);
  const note = unknown.length > 0 ? `Not among the bot’s live ${noun}s, kept as typed: ${unknown.join(', ')}.` : undefined;
  return (
    <Field label={label} error={error ?? (problem || undefined)} hint={[hint, note].filter(Boolean).join(' ') || undefined}>
      {(p) => (
        <div className="picker">
          {ids.length > 0 && (
            <ul className="picked" aria-label={`${label}: picked`}>
              {ids.map((id) => (
                <li key={id}>
                  <span className="picked-name" title={id}>{labelOf(id, choices)}</span>
                  <button type="button" className="link" aria-label={`Remove ${labelOf(id, choices)}`} onClick={() => onChange(joinIds(ids.filter((x) => x !== id)))}>
                    ✕
                  </button>
                </li>
              ))}
            </ul>
          )}
          <div className="row">
            <ChoiceInput
              {...p}
              choices={choices}
              value={text}
              placeholder={`Pick a ${noun} or type its id`}
              onChange={(e) => {
                setText(e.target.value);
                setProblem('');
                if (isListPick(inputTypeOf(e), e.target.value, choices)) add(e.target.value);
              }}
              onKeyDown={(e) => {
                if (e.key === 'Enter') {
                  e.preventDefault();
                  if (text.trim()) add(text);
                }
              }}
            />
            <button type="button" onClick={() => add(text)} disabled={!text.trim()}>
              Add {noun}
            </button>
          </div>
        </div>
      )}
    </Field>
  );
}

type OneProps = { label: string; value: string; onChange: (v: string) => void; choices: Choice[]; error?: string; hint?: string };

/**
 * One id: picked by name from the list, or typed as a name (resolved on Enter or leaving) or
 * as an id. A picked value reads as its name; its id is the line under it.
 */
export function IdPicker({ label, value, onChange, choices, error, hint }: OneProps) {
  // What the user is typing; null while the field shows the picked value by name.
  const [draft, setDraft] = useState<string | null>(null);
  const commit = (raw: string) => {
    setDraft(null);
    const id = resolveTyped(raw, choices);
    if (id && id !== value) onChange(id);
  };
  const detail = draft === null ? pickedDetail(value, choices) : null;
  return (
    <Field label={label} error={error} hint={hint}>
      {(p) => (
        <div className="picker">
          <ChoiceInput
            {...p}
            choices={choices}
            value={draft ?? pickedText(value, choices)}
            title={detail?.known ? `id ${value}` : undefined}
            placeholder="Name or id"
            onChange={(e) => {
              const text = e.target.value;
              if (isListPick(inputTypeOf(e), text, choices)) return commit(text);
              setDraft(text);
              // The form always holds what is typed, so an unresolved name reaches the API's
              // own check instead of vanishing.
              onChange(text);
            }}
            onBlur={() => draft !== null && commit(draft)}
            onKeyDown={(e) => {
              if (e.key === 'Enter' && draft !== null) {
                e.preventDefault();
                commit(draft);
              }
            }}
          />
          {detail && (
            <div className={`small picked-name ${detail.known ? 'muted' : ''}`} data-testid="picked" data-known={detail.known}>
              {detail.text}
            </div>
          )}
        </div>
      )}
    </Field>
  );
}

/** Overview: how long the bot has been connected, and its servers from the live connection. */
export function ServersPanel({ bot }: { bot: BotView }) {
  const status = useStatus(bot.id);
  const online = status.data?.state === 'online';
  const guilds = useGuilds(bot.id, online);
  const since = connectedSince(status.data?.shards);
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 30_000);
    return () => clearInterval(t);
  }, []);
  const list = guilds.data?.guilds ?? [];
  return (
    <section className="panel" aria-labelledby="servers-h" data-testid="servers">
      <h2 id="servers-h" style={{ marginTop: 0 }}>Servers</h2>
      <p data-testid="uptime">
        {since ? (
          <>
            Connected for <strong>{duration(now - Date.parse(since))}</strong> <span className="muted small">(since {when(since)})</span>
          </>
        ) : (
          <span className="muted">Not connected{bot.desired_state === 'running' ? ' yet' : ': the bot is stopped'}.</span>
        )}
      </p>
      {online && guilds.isPending && <Loading what="Loading the bot’s servers" />}
      {online && guilds.error && <ErrorBox error={guilds.error} retry={() => guilds.refetch()} />}
      {!online && <p className="muted small">The servers show while the bot is online (they come from its live connection).</p>}
      {online && guilds.data && list.length === 0 && <p className="muted">The bot is in no server yet: invite it to one.</p>}
      {online && list.length > 0 && (
        <ul className="servers">
          {list.map((g) => (
            <li key={g.id}>
              <strong className="picked-name" title={g.name}>{g.name}</strong>{' '}
              <span className="muted small">
                {g.member_count != null ? `${g.member_count} ${g.member_count === 1 ? 'member' : 'members'}` : 'members unknown'} · {countChannels(g)}
              </span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function countChannels(g: { channels?: Array<{ type: string }> }): string {
  const n = (g.channels ?? []).filter((c) => c.type !== 'category').length;
  return `${n} ${n === 1 ? 'channel' : 'channels'}`;
}

const usePrefix = (botId: string) =>
  useQuery({ queryKey: ['command-settings', botId], queryFn: () => api.get<CommandSettings>(`/v1/bots/${botId}/commands/settings`) });

/** The editor's hint for a prefix command's name: how people will type it. */
export function PrefixHint({ botId, name }: { botId: string; name: string }) {
  const prefix = usePrefix(botId).data?.prefix ?? '!';
  return (
    <>
      What follows the bot’s prefix: people type <code>{prefix}{name.trim() || 'name'}</code>. The prefix is set in <Link to={`/bots/${botId}/settings`}>Settings</Link>.
    </>
  );
}

/** Bot settings: the prefix that prefix commands follow (default `!`). */
export function PrefixSettings({ bot }: { bot: BotView }) {
  const qc = useQueryClient();
  const url = `/v1/bots/${bot.id}/commands/settings`;
  const current = usePrefix(bot.id);
  const toast = useToast();
  const [prefix, setPrefix] = useState<string | null>(null);
  const save = useMutation({
    mutationFn: () => api.put<CommandSettings>(url, { prefix: value }),
    onSuccess: (s) => {
      qc.setQueryData(['command-settings', bot.id], s);
      setPrefix(null);
      toast('Prefix saved ✓ — the running bot follows it now');
    },
  });
  const value = prefix ?? current.data?.prefix ?? '!';
  const errs = fieldErrors(save.error);
  const submit = (e: FormEvent) => (e.preventDefault(), save.mutate());
  return (
    <form className="panel" onSubmit={submit} aria-label="Command prefix" noValidate>
      <h2 style={{ marginTop: 0 }}>Command prefix</h2>
      {current.isPending && <Loading what="Loading the prefix" />}
      <ErrorBox error={current.error} />
      <Field label="Prefix" name="prefix" error={errs.prefix} hint={`What a message starts with to call a prefix command: ${value || '!'}name. 1 to 5 characters, no spaces.`}>
        {(p) => <input {...p} value={value} size={6} onChange={(e) => (setPrefix(e.target.value), save.reset())} />}
      </Field>
      <Counter value={value} max={LIMITS.prefix} />
      <SaveErrors errors={errs} error={save.error} />
      <div className="row" style={{ marginTop: 8 }}>
        <Gated perm="commands.edit" workspaceId={bot.workspace_id} botId={bot.id}>
          <button disabled={save.isPending || current.isPending}>{save.isPending ? 'Saving…' : 'Save prefix'}</button>
        </Gated>
      </div>
    </form>
  );
}
