import { useRef, useState, type FormEvent } from 'react';
import { Link, Route, Routes, useLocation, useNavigate, useParams } from 'react-router';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, upload } from '../api/client';
import { fieldErrors } from '../api/errors';
import type { BotView, CommandList, ConnectionList, PromptList, CommandOut, CommandReply, FileInfo, ImportResult, SyncStatus } from '../api/types';
import { Confirm, Empty, ErrorBox, Field, Loading, when } from '../components/ui';
import { PermissionsPicker } from '../components/permissions';
import { Counter, ErrorSummary } from '../components/formErrors';
import { LIMITS } from '../lib/fields';
import { useToast } from '../components/toast';
import { countOf, importSummary } from '../lib/words';
import { DuplicateButton, EnabledToggle, SyncNowButton } from '../components/commandActions';
import { GuildSource, IdListPicker, IdPicker, PrefixHint, useGuilds } from '../components/pickers';
import { channelChoices, guildChoices, roleChoices, splitIds } from '../lib/pickers';
import { RunResult, TemplateWarnings, VariablePicker } from '../components/templates';
import { insertVariable } from '../lib/templateVars';
import { Gated, GatedLink } from '../components/gated';
import { ListTable } from '../components/table';
import { emptyCommand, emptyOption, emptySample, fromCommand, localErrors, previewBody, toPayload, type CommandForm, type OptType, type SampleForm } from '../lib/commandForm';

const KINDS = { slash: 'Slash command', prefix: 'Prefix command', user: 'User context menu', message: 'Message context menu' } as const;

export const useCommands = (botId: string) =>
  useQuery({ queryKey: ['commands', botId], queryFn: () => api.get<CommandList>(`/v1/bots/${botId}/commands`) });

export default function Commands({ bot }: { bot: BotView }) {
  return (
    <Routes>
      <Route index element={<CommandsTable bot={bot} />} />
      <Route path="new" element={<Editor bot={bot} />} />
      <Route path=":commandId" element={<Editor bot={bot} />} />
    </Routes>
  );
}

function SyncState({ botId }: { botId: string }) {
  const sync = useQuery({ queryKey: ['sync', botId], queryFn: () => api.get<SyncStatus>(`/v1/bots/${botId}/commands/sync`), refetchInterval: 10_000 });
  if (sync.isPending) return <span className="muted small">Sync state…</span>;
  if (sync.error) return <ErrorBox error={sync.error} />;
  const s = sync.data;
  return (
    <div className={`alert ${s.in_sync ? 'ok' : s.error ? 'error' : 'info'}`} role="status" data-testid="sync-state">
      {s.in_sync ? '✓ Discord has the current commands' : s.error ? `✕ Sync failed: ${s.error}` : '↻ Waiting to sync with Discord (happens when the bot is online)'}
      {s.synced_at && <span className="muted small"> · last sync {when(s.synced_at)}</span>}
    </div>
  );
}

function CommandsTable({ bot }: { bot: BotView }) {
  const cmds = useCommands(bot.id);
  return (
    <>
      <div className="row spread">
        <h2 style={{ margin: 0 }}>Commands</h2>
        <div className="row">
          <a className="button" href={`/v1/bots/${bot.id}/export?format=yaml`} download>Export (YAML)</a>
          <GatedLink perm="commands.edit" workspaceId={bot.workspace_id} botId={bot.id} className="button primary" to="new">New command</GatedLink>
        </div>
      </div>
      <SyncState botId={bot.id} />
      <div className="row" style={{ margin: '8px 0' }}><SyncNowButton bot={bot} /></div>
      {cmds.isPending && <Loading what="Loading commands" />}
      <ErrorBox error={cmds.error} retry={() => cmds.refetch()} />
      {cmds.data && cmds.data.items.length === 0 && <Empty>No commands yet. Create one, or import a config file below.</Empty>}
      {cmds.data && cmds.data.items.length > 0 && (
        <ListTable label="Commands" columns={['Name', 'Kind', { label: 'Response', optional: true }, 'Enabled', 'Actions']}>
          {cmds.data.items.map((c) => (
            <tr key={c.id}>
              <td><Link to={c.id}>{c.kind === 'slash' ? '/' : ''}{c.name}</Link></td>
              <td>{KINDS[c.kind ?? 'slash']}</td>
              <td className="opt">{(c.response as { type?: string }).type ?? 'template'}</td>
              <td><EnabledToggle bot={bot} cmd={c} /></td>
              <td><DuplicateButton bot={bot} cmd={c} names={cmds.data.items.map((x) => x.name)} /></td>
            </tr>
          ))}
        </ListTable>
      )}
      <Import bot={bot} />
    </>
  );
}

function Import({ bot }: { bot: BotView }) {
  const qc = useQueryClient();
  const toast = useToast();
  const input = useRef<HTMLInputElement>(null);
  const [file, setFile] = useState<FileInfo | null>(null);
  const [progress, setProgress] = useState(0);
  const up = useMutation({
    mutationFn: (f: File) => {
      const form = new FormData();
      form.append('file', f);
      form.append('kind', 'config');
      return upload<FileInfo>('/v1/files?kind=config', form, setProgress);
    },
    onSuccess: (f) => (setFile(f), dry.mutate(f.id)),
  });
  const dry = useMutation({ mutationFn: (id: string) => api.post<ImportResult>(`/v1/bots/${bot.id}/import`, { file_id: id, dry_run: true }) });
  const apply = useMutation({
    mutationFn: () => api.post<ImportResult>(`/v1/bots/${bot.id}/import`, { file_id: file?.id, dry_run: false }),
    onSuccess: (r) => (toast(importSummary(r)), void qc.invalidateQueries({ queryKey: ['commands', bot.id] })),
  });
  const diff = (r: ImportResult) => (
    <ul>
      {(['created', 'updated', 'unchanged'] as const).map((k) => (
        <li key={k}>{k}: {Object.entries(r[k] ?? {}).map(([what, n]) => countOf(n, what)).join(', ') || 'nothing'}</li>
      ))}
      {(r.warnings ?? []).map((w) => <li key={w}>⚠ {w}</li>)}
    </ul>
  );
  return (
    <section className="panel" aria-labelledby="imp-h">
      <h2 id="imp-h" style={{ marginTop: 0 }}>Import</h2>
      <p className="muted small">A JSON or YAML file (as exported). You see what would change before anything is applied.</p>
      <label htmlFor="import-file">Config file</label>
      <Gated perm="commands.edit" workspaceId={bot.workspace_id} botId={bot.id}>
        <input id="import-file" ref={input} type="file" accept=".json,.yaml,.yml,application/json,application/yaml" onChange={(e) => e.target.files?.[0] && up.mutate(e.target.files[0])} />
      </Gated>
      {up.isPending && <progress value={progress} max={1} aria-label="upload progress" />}
      <ErrorBox error={up.error ?? dry.error} />
      {dry.data && !apply.data && (
        <div className="alert info">
          <strong>If applied:</strong>
          {diff(dry.data)}
          <Gated perm="commands.edit" workspaceId={bot.workspace_id} botId={bot.id}>
            <button className="primary" onClick={() => apply.mutate()} disabled={apply.isPending}>{apply.isPending ? 'Applying…' : 'Apply import'}</button>
          </Gated>
        </div>
      )}
      <ErrorBox error={apply.error} />
      {apply.data && <div className="alert ok">Imported ✓ {diff(apply.data)}</div>}
    </section>
  );
}

function Editor({ bot }: { bot: BotView }) {
  const { commandId } = useParams();
  const existing = useQuery({
    queryKey: ['command', bot.id, commandId],
    queryFn: () => api.get<CommandOut>(`/v1/bots/${bot.id}/commands/${commandId}`),
    enabled: Boolean(commandId),
  });
  if (commandId && existing.isPending) return <Loading what="Loading the command" />;
  if (existing.error) return <ErrorBox error={existing.error} />;
  return <EditorForm key={commandId ?? 'new'} bot={bot} saved={existing.data} />;
}

function EditorForm({ bot, saved }: { bot: BotView; saved?: CommandOut }) {
  const qc = useQueryClient();
  const nav = useNavigate();
  const [f, setF] = useState<CommandForm>(saved ? fromCommand(saved) : emptyCommand());
  const [local, setLocal] = useState<Record<string, string>>({});
  const [confirmDel, setConfirmDel] = useState(false);
  const carried = (useLocation().state as { savedWarnings?: string[] } | null)?.savedWarnings;
  const connections = useQuery({ queryKey: ['connections'], queryFn: () => api.get<ConnectionList>('/v1/connections'), enabled: f.responseType !== 'template' });
  const guilds = useGuilds(bot.id);
  const live = guilds.data?.guilds ?? [];
  const prompts = useQuery({ queryKey: ['prompts'], queryFn: () => api.get<PromptList>('/v1/prompts'), enabled: f.responseType === 'ai' });
  const toast = useToast();
  const save = useMutation({
    mutationFn: () =>
      saved ? api.patch<CommandOut>(`/v1/bots/${bot.id}/commands/${saved.id}`, toPayload(f)) : api.post<CommandOut>(`/v1/bots/${bot.id}/commands`, toPayload(f)),
    onSuccess: (c) => {
      void qc.invalidateQueries({ queryKey: ['commands', bot.id] });
      void qc.invalidateQueries({ queryKey: ['sync', bot.id] });
      qc.setQueryData(['command', bot.id, c.id], c);
      toast(`${saved ? 'Saved' : 'Created'} ${c.name} ✓ — syncing to Discord${c.warnings?.length ? ' (with warnings below)' : ''}`);
      // The editor of the new command takes over: it shows what this save said.
      if (!saved) nav(`/bots/${bot.id}/commands/${c.id}`, { replace: true, state: { savedWarnings: c.warnings ?? [] } });
    },
  });
  const savedNow = save.isSuccess || (carried !== undefined && !save.isPending && !save.isError);
  const saveWarnings = save.data?.warnings ?? carried;
  const del = useMutation({
    mutationFn: () => api.del(`/v1/bots/${bot.id}/commands/${saved?.id}`),
    onSuccess: () => (void qc.invalidateQueries({ queryKey: ['commands', bot.id] }), nav(`/bots/${bot.id}/commands`)),
  });
  // Preview what is in the form now (saved or not): the server validates it like a save and
  // dry-runs it; nothing is stored.
  const [sample, setSample] = useState<SampleForm>(emptySample());
  const [lastTried, setLastTried] = useState<'save' | 'preview'>('save');
  const preview = useMutation({ mutationFn: () => api.post<CommandReply>(`/v1/bots/${bot.id}/commands/preview`, previewBody(f, sample, saved?.id)) });
  const lastError = lastTried === 'save' ? save.error : preview.error;
  const errs = { ...local, ...fieldErrors(lastError) };
  const set = <K extends keyof CommandForm>(k: K, v: CommandForm[K]) => setF((x) => ({ ...x, [k]: v }));
  const setOpt = (i: number, patch: Partial<CommandForm['options'][number]>) => setF((x) => ({ ...x, options: x.options.map((o, j) => (j === i ? { ...o, ...patch } : o)) }));
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const le = localErrors(f);
    setLocal(le);
    setLastTried('save');
    if (Object.keys(le).length === 0) save.mutate();
  };
  const runPreview = () => {
    const le = localErrors(f);
    setLocal(le);
    setLastTried('preview');
    if (Object.keys(le).length === 0) preview.mutate();
  };
  const sampleNames = f.options.map((o) => o.name.trim()).filter(Boolean);
  const contentRef = useRef<HTMLTextAreaElement>(null);
  const insert = (path: string) => {
    const el = contentRef.current;
    const at = insertVariable(f.content, el?.selectionStart ?? f.content.length, el?.selectionEnd ?? f.content.length, path);
    set('content', at.text);
    requestAnimationFrame(() => (el?.focus(), el?.setSelectionRange(at.cursor, at.cursor)));
  };
  const isSlash = f.kind === 'slash';
  const isMenu = f.kind === 'user' || f.kind === 'message';
  return (
    <form className="panel" onSubmit={submit} aria-label="Command editor" noValidate>
      <div className="row spread">
        <h2 style={{ marginTop: 0 }}>{saved ? `Edit ${saved.name}` : 'New command'}</h2>
        <Link to={`/bots/${bot.id}/commands`}>Back to commands</Link>
      </div>
      <Field label="Kind" error={errs.kind}>
        {(p) => (
          <select {...p} value={f.kind} onChange={(e) => set('kind', e.target.value as CommandForm['kind'])}>
            {Object.entries(KINDS).map(([k, v]) => <option key={k} value={k}>{v}</option>)}
          </select>
        )}
      </Field>
      <Field label="Name" name="name" error={errs.name} hint={<><Counter value={f.name} max={LIMITS.commandName} /> · {isSlash ? 'Lowercase, 1–32 characters: what people type after /' : f.kind === 'prefix' ? <PrefixHint botId={bot.id} name={f.name} /> : 'Shown in the right-click menu'}</>}>
        {(p) => <input {...p} name="name" value={f.name} onChange={(e) => set('name', e.target.value)} />}
      </Field>
      {!isMenu && (
        <Field label="Description" name="description" error={errs.description} hint={<Counter value={f.description} max={LIMITS.commandDescription} />}>
          {(p) => <input {...p} name="description" value={f.description} onChange={(e) => set('description', e.target.value)} />}
        </Field>
      )}
      {isSlash && (
        <fieldset>
          <legend>Options</legend>
          {errs.options && <div className="field-error">{errs.options}</div>}
          {f.options.map((o, i) => (
            <div key={i} className="panel">
              <div className="row">
                <Field label={`Option ${i + 1} name`} error={errs[`options.${i}.name`]}>{(p) => <input {...p} value={o.name} onChange={(e) => setOpt(i, { name: e.target.value })} />}</Field>
                <Field label="Type" error={errs[`options.${i}.type`]}>
                  {(p) => (
                    <select {...p} value={o.type} onChange={(e) => setOpt(i, { type: e.target.value as OptType })}>
                      {['string', 'integer', 'number', 'boolean', 'user', 'channel', 'role'].map((t) => <option key={t}>{t}</option>)}
                    </select>
                  )}
                </Field>
              </div>
              <Field label="Description" error={errs[`options.${i}.description`]}>{(p) => <input {...p} value={o.description} onChange={(e) => setOpt(i, { description: e.target.value })} />}</Field>
              <label className="inline"><input type="checkbox" checked={o.required} onChange={(e) => setOpt(i, { required: e.target.checked })} /> Required</label>
              {(o.type === 'string' || o.type === 'integer' || o.type === 'number') && (
                <>
                  <Field label="Choices (one per line, label=value)" error={errs[`options.${i}.choices`]}>{(p) => <textarea {...p} value={o.choices} onChange={(e) => setOpt(i, { choices: e.target.value })} />}</Field>
                  <div className="row">
                    <Field label={o.type === 'string' ? 'Min length' : 'Min value'} error={errs[`options.${i}.min_value`] ?? errs[`options.${i}.min_length`]}>{(p) => <input {...p} type="number" value={o.min} onChange={(e) => setOpt(i, { min: e.target.value })} />}</Field>
                    <Field label={o.type === 'string' ? 'Max length' : 'Max value'} error={errs[`options.${i}.max_value`] ?? errs[`options.${i}.max_length`]}>{(p) => <input {...p} type="number" value={o.max} onChange={(e) => setOpt(i, { max: e.target.value })} />}</Field>
                  </div>
                </>
              )}
              <button type="button" onClick={() => setF((x) => ({ ...x, options: x.options.filter((_, j) => j !== i) }))}>Remove option {i + 1}</button>
            </div>
          ))}
          <button type="button" onClick={() => setF((x) => ({ ...x, options: [...x.options, emptyOption()] }))} disabled={f.options.length >= 25}>Add option</button>
        </fieldset>
      )}
      <fieldset>
        <legend>Response</legend>
        {(['template', 'http', 'ai'] as const).map((t) => (
          <label key={t} className="inline"><input type="radio" name="rtype" checked={f.responseType === t} onChange={() => set('responseType', t)} /> {t === 'template' ? 'Template' : t === 'http' ? 'HTTP action' : 'AI prompt'}</label>
        ))}
        {f.responseType !== 'template' && (
          <Field label="API connection" error={errs['response.connection_id']}>
            {(p) => (
              <select {...p} value={f.connectionId} onChange={(e) => set('connectionId', e.target.value)}>
                <option value="">— pick a connection —</option>
                {connections.data?.items.map((c) => <option key={c.id} value={c.id}>{c.name} ({c.base_url})</option>)}
              </select>
            )}
          </Field>
        )}
        {f.responseType === 'http' && (
          <div className="row">
            <Field label="Method" error={errs['response.method']}>{(p) => <select {...p} value={f.method} onChange={(e) => set('method', e.target.value as CommandForm['method'])}>{['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].map((m) => <option key={m}>{m}</option>)}</select>}</Field>
            <Field label="Path" error={errs['response.path']}>{(p) => <input {...p} value={f.path} onChange={(e) => set('path', e.target.value)} />}</Field>
          </div>
        )}
        {f.responseType === 'http' && (
          <div className="row">
            <Field label="Query (one name=value per line)" error={errs['response.query']}>{(p) => <textarea {...p} value={f.query} onChange={(e) => set('query', e.target.value)} />}</Field>
            <Field label="Headers (one Name: value per line)" error={errs['response.headers']}>{(p) => <textarea {...p} value={f.headers} onChange={(e) => set('headers', e.target.value)} />}</Field>
          </div>
        )}
        {f.responseType === 'http' && <Field label="Body template" error={errs['response.body']}>{(p) => <textarea {...p} value={f.body} onChange={(e) => set('body', e.target.value)} />}</Field>}
        {f.responseType === 'ai' && (
          <Field label="Prompt" error={errs['response.prompt_id']}>
            {(p) => (
              <select {...p} value={f.promptId} onChange={(e) => set('promptId', e.target.value)}>
                <option value="">— pick a prompt —</option>
                {prompts.data?.items.map((x) => <option key={x.id} value={x.id}>{x.name}</option>)}
              </select>
            )}
          </Field>
        )}
        {f.responseType !== 'ai' && (
          <Field label={f.responseType === 'http' ? 'Reply template (the API’s JSON answer is `data`)' : 'Reply template'} name="response.content" error={errs['response.content']} hint={<><Counter value={f.content} max={LIMITS.commandTemplate} /><VariablePicker kind={f.kind} responseType={f.responseType} optionNames={sampleNames} onInsert={insert} /></>}>
            {(p) => <textarea {...p} ref={contentRef} name="content" value={f.content} onChange={(e) => set('content', e.target.value)} />}
          </Field>
        )}
      </fieldset>
      <fieldset>
        <legend>Behaviour</legend>
        <label className="inline"><input type="checkbox" checked={f.enabled} onChange={(e) => set('enabled', e.target.checked)} /> Enabled</label>
        <label className="inline"><input type="checkbox" checked={f.ephemeral} onChange={(e) => set('ephemeral', e.target.checked)} /> Reply only to the invoker (ephemeral)</label>
        <div className="row">
          <Field label="Cooldown per user (s)" error={errs.cooldown_user_s}>{(p) => <input {...p} type="number" min={0} max={86400} value={f.cooldownUser} onChange={(e) => set('cooldownUser', e.target.value)} />}</Field>
          <Field label="Cooldown per guild (s)" error={errs.cooldown_guild_s}>{(p) => <input {...p} type="number" min={0} max={86400} value={f.cooldownGuild} onChange={(e) => set('cooldownGuild', e.target.value)} />}</Field>
        </div>
        <PermissionsPicker label="Required permissions" collapsed value={f.permissions} onChange={(v) => set('permissions', v === '0' ? '' : v)} hint="Members need all of these to use the command (none checked: everyone may)." />
        {errs.required_permissions && <div className="field-error">{errs.required_permissions}</div>}
        <IdListPicker label="Servers (none = every server)" noun="server" value={f.guildIds} onChange={(v) => set('guildIds', v)} choices={guildChoices(live)} error={errs.guild_ids} />
        <IdListPicker label="Required roles" noun="role" value={f.roleIds} onChange={(v) => set('roleIds', v)} choices={roleChoices(live, splitIds(f.guildIds))} error={errs.required_role_ids} />
        <GuildSource query={guilds} />
      </fieldset>
      <fieldset>
        <legend>Preview</legend>
        <p className="muted small" style={{ marginTop: 0 }}>
          What the bot would answer to the command as it is in this form — saved or not. Nothing is saved.
          {f.responseType !== 'template' && ' HTTP actions and AI prompts really call their connection.'}
        </p>
        {isSlash && sampleNames.length > 0 && (
          <div className="row">
            {sampleNames.map((name) => {
              const type = f.options.find((o) => o.name.trim() === name)?.type;
              const setValue = (v: string) => setSample((x) => ({ ...x, values: { ...x.values, [name]: v } }));
              return type === 'channel' || type === 'role' ? (
                <IdPicker key={name} label={`Sample ${name}`} value={sample.values[name] ?? ''} onChange={setValue} choices={type === 'channel' ? channelChoices(live, splitIds(f.guildIds)) : roleChoices(live, splitIds(f.guildIds))} error={errs[`sample.options.${name}`]} />
              ) : (
                <Field key={name} label={`Sample ${name}`} error={errs[`sample.options.${name}`]}>
                  {(p) => <input {...p} value={sample.values[name] ?? ''} onChange={(e) => setValue(e.target.value)} />}
                </Field>
              );
            })}
          </div>
        )}
        {f.kind === 'prefix' && (
          <Field label="Sample message after the name" error={errs['sample.content']} hint={`As if someone typed: <prefix>${f.name.trim() || 'name'} …`}>
            {(p) => <input {...p} value={sample.message} onChange={(e) => setSample((x) => ({ ...x, message: e.target.value }))} />}
          </Field>
        )}
        <button type="button" onClick={runPreview} disabled={preview.isPending} aria-describedby="preview-out">{preview.isPending ? 'Previewing…' : 'Preview (server dry run)'}</button>
        <div id="preview-out" aria-live="polite">
          {lastTried === 'preview' && preview.error && Object.keys(fieldErrors(preview.error)).length === 0 && <ErrorBox error={preview.error} />}
          {preview.data && !preview.isPending && <ReplyView reply={preview.data} botId={bot.id} />}
        </div>
      </fieldset>
      {lastError && Object.keys(fieldErrors(lastError)).length === 0 && lastTried === 'save' && <ErrorBox error={lastError} />}
      <ErrorSummary errors={errs} attempt={lastError ?? (Object.keys(local).length > 0 ? local : null)} what={lastTried === 'save' ? 'Not saved' : 'Not previewed'} />
      <div className="row" style={{ marginTop: 10 }}>
        <Gated perm="commands.edit" workspaceId={bot.workspace_id} botId={bot.id}>
          <button className="primary" disabled={save.isPending}>{save.isPending ? 'Saving…' : 'Save command'}</button>
        </Gated>
        {saved && (
          <Gated perm="commands.edit" workspaceId={bot.workspace_id} botId={bot.id}>
            <button type="button" className="danger" onClick={() => setConfirmDel(true)}>Delete</button>
          </Gated>
        )}
      </div>
      {savedNow && <TemplateWarnings warnings={saveWarnings} />}
      <ErrorBox error={del.error} />
      <Confirm open={confirmDel} title={`Delete ${saved?.name}?`} confirmLabel="Delete command" busy={del.isPending} onConfirm={() => del.mutate()} onCancel={() => setConfirmDel(false)} />
    </form>
  );
}

/** A bot answer's embeds as the console previews them: title and description only. */
export function EmbedPreviews({ embeds }: { embeds?: Array<Record<string, unknown>> }) {
  return (
    <>
      {(embeds ?? []).map((e, i) => (
        <div key={i} className="panel" style={{ marginTop: 6 }}>
          {typeof e.title === 'string' && <strong>{e.title}</strong>}
          {typeof e.description === 'string' && <div style={{ whiteSpace: 'pre-wrap' }}>{e.description}</div>}
        </div>
      ))}
    </>
  );
}

/** A dry run's answer; a failure in red with its reason, steps and log link (RunResult). */
export function ReplyView({ reply, botId }: { reply: CommandReply; botId?: string }) {
  return (
    <RunResult reply={reply} botId={botId}>
      {reply.content && <div style={{ whiteSpace: 'pre-wrap' }}>{reply.content}</div>}
      <EmbedPreviews embeds={reply.embeds} />
    </RunResult>
  );
}
