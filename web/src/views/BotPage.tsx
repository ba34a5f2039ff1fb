import { lazy, Suspense, useState, type FormEvent } from 'react';
import { NavLink, Route, Routes, useNavigate, useParams } from 'react-router';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api } from '../api/client';
import { fieldErrors } from '../api/errors';
import { useBot, useBotAction, useStatus, useUpdateBot } from '../api/bots';
import type { AvatarApplied, BotView, FileList, PatchBot } from '../api/types';
import { Confirm, ErrorBox, Field, Loading, StatusBadge, hint, when } from '../components/ui';
import { Counter, SaveErrors } from '../components/formErrors';
import { ActionPending } from '../components/pending';
import { useToast } from '../components/toast';
import { LIMITS } from '../lib/fields';
import { StreamIndicator } from '../components/stream';
import { Onboarding, useChecklistDone } from '../components/onboarding';
import { AddToServer } from '../components/inviteLink';
import { RetryWait, ShardWorkers } from '../components/shardDetails';
import { PrefixSettings, ServersPanel } from '../components/pickers';
import { Avatar, StartStopButtons } from './BotsList';
import { Gated } from '../components/gated';
import { guidanceFor, reasonWords } from '../lib/status';
import { wantedWords } from '../lib/words';
import { INTENTS, PRIVILEGED, intentNames, pretty } from '../lib/intents';

const Commands = lazy(() => import('./Commands'));
const TryIt = lazy(() => import('./TryIt'));
const LogsView = lazy(() => import('./LogsView'));

export default function BotPage() {
  const { botId = '' } = useParams();
  const bot = useBot(botId);
  if (bot.isPending) return <Loading what="Loading the bot" />;
  if (bot.error) return <ErrorBox error={bot.error} retry={() => bot.refetch()} />;
  const b = bot.data;
  const tab = (to: string, label: string) => (
    <NavLink to={`/bots/${b.id}${to}`} end className={({ isActive }) => (isActive ? 'active' : '')}>
      {label}
    </NavLink>
  );
  return (
    <>
      <Header bot={b} />
      <nav className="tabs" aria-label="Bot sections">
        {tab('', 'Overview')}
        {tab('/commands', 'Commands')}
        {tab('/try', 'Try it')}
        {tab('/logs', 'Logs')}
        {tab('/settings', 'Settings')}
      </nav>
      <Suspense fallback={<Loading />}>
        <Routes>
          <Route index element={<><Overview bot={b} /><ServersPanel bot={b} /><AddToServerOnceDone bot={b} /></>} />
          <Route path="commands/*" element={<Commands bot={b} />} />
          <Route path="try" element={<TryIt bot={b} />} />
          <Route path="logs" element={<LogsView botId={b.id} />} />
          <Route path="settings" element={<Settings bot={b} />} />
        </Routes>
      </Suspense>
    </>
  );
}

function Header({ bot }: { bot: BotView }) {
  const status = useStatus(bot.id);
  const action = useBotAction(bot.id);
  const running = bot.desired_state === 'running';
  const s = status.data;
  return (
    <div className="panel">
      <div className="row spread">
        <h1 style={{ margin: 0 }} className="row">
          <Avatar bot={bot} size={40} />
          <span title={bot.name}>{bot.name}</span>
        </h1>
        <div className="row" data-testid="bot-status">
          {s ? <StatusBadge state={s.state} reason={s.reason} message={s.message} /> : status.isPending ? <Loading what="Status" /> : null}
        </div>
      </div>
      <p className="muted small">
        @{bot.username} · application {bot.application_id} · token {hint(bot.token_hint)} · <span data-testid="wanted">{wantedWords(bot.desired_state)}</span>
        {s?.since && <> · since {when(s.since)}</>}
      </p>
      <div className="row">
        <StartStopButtons bot={bot} running={running} action={action} />
        <ActionPending action={action} state={s?.state} since={s?.since} />
        <StreamIndicator />
      </div>
      <ErrorBox error={action.error} />
      <ErrorBox error={status.error} retry={() => status.refetch()} />
      {s?.state === 'error' && <Guidance reason={s.reason} message={s.message} />}
      {bot.warnings && bot.warnings.length > 0 && (
        <div className="alert info">
          {bot.warnings.map((w) => (
            <div key={w}>⚠ {w}</div>
          ))}
        </div>
      )}
    </div>
  );
}

function Guidance({ reason, message }: { reason?: string | null; message?: string | null }) {
  const todo = guidanceFor(reason);
  return (
    <div className="alert error" role="alert" data-testid="error-guidance">
      <strong>What happened:</strong> {message || reasonWords(reason) || 'the bot stopped with an error'}
      {reason && <span className="muted small"> (reason: {reason})</span>}
      {todo && (
        <p style={{ marginBottom: 0 }}>
          <strong>What to do:</strong> {todo}
        </p>
      )}
    </div>
  );
}

function Overview({ bot }: { bot: BotView }) {
  // The status read carries the shards too, and is the query the stream keeps current.
  const status = useStatus(bot.id);
  const shards = { ...status, data: status.data ? { shards: status.data.shards ?? [] } : undefined, refetch: status.refetch };
  return (
    <>
    <Onboarding bot={bot} />
    <section className="panel" aria-labelledby="shards-h">
      <h2 id="shards-h" style={{ marginTop: 0 }}>Shards</h2>
      {shards.isPending && <Loading what="Loading shards" />}
      <ErrorBox error={shards.error} retry={() => shards.refetch()} />
      {shards.data && shards.data.shards.length === 0 && <p className="muted">No shard is running{bot.desired_state === 'running' ? ' yet' : ' (the bot is stopped)'}.</p>}
      {shards.data && shards.data.shards.length > 0 && (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th>Shard</th>
                <th>State</th>
                <th className="opt">Latency</th>
                <th className="opt">Guilds</th>
                <th className="opt">Heartbeat</th>
              </tr>
            </thead>
            <tbody>
              {shards.data.shards.map((s) => (
                <tr key={s.shard_id}>
                  <td>
                    {s.shard_id + 1}/{s.shard_count}
                  </td>
                  <td>
                    <StatusBadge state={s.state} reason={s.reason} message={s.message} />
                    {s.retry_at && <RetryWait at={s.retry_at} />}
                  </td>
                  <td className="opt">{s.latency_ms != null ? `${Math.round(s.latency_ms)} ms` : '—'}</td>
                  <td className="opt">{s.guild_count ?? '—'}</td>
                  <td className="opt small">{when(s.heartbeat_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <p className="small muted">Shard count: {bot.shard_count ?? 'auto (Discord’s recommendation)'}</p>
      {shards.data && <ShardWorkers shards={shards.data.shards} />}
    </section>
    </>
  );
}

/** While the checklist shows, its invite step is the one invite link on the page. */
function AddToServerOnceDone({ bot }: { bot: BotView }) {
  return useChecklistDone(bot) ? <AddToServer bot={bot} /> : null;
}

function Settings({ bot }: { bot: BotView }) {
  const update = useUpdateBot(bot.id);
  const [name, setName] = useState(bot.name);
  const [description, setDescription] = useState(bot.description);
  const [presence, setPresence] = useState<{ status: string; activity_type: string; activity_text: string }>({ status: bot.presence.status ?? 'online', activity_type: bot.presence.activity_type ?? 'playing', activity_text: bot.presence.activity_text ?? '' });
  const [intents, setIntents] = useState<string[]>(intentNames(bot.intents));
  const [shardMode, setShardMode] = useState(bot.shard_count == null ? 'auto' : 'fixed');
  const [shards, setShards] = useState(String(bot.shard_count ?? 1));
  const [autoStart, setAutoStart] = useState(bot.auto_start);
  const errs = fieldErrors(update.error);
  const toast = useToast();
  const save = (e: FormEvent) => {
    e.preventDefault();
    const patch: PatchBot = {
      name,
      description,
      presence: { ...presence, activity_text: presence.activity_text || null },
      intents,
      shard_count: shardMode === 'auto' ? 'auto' : Number(shards),
      auto_start: autoStart,
    };
    update.mutate(patch, {
      onSuccess: (b) => toast(b.desired_state === 'running' ? 'Settings saved ✓ — restart the bot to apply intents or shards' : 'Settings saved ✓'),
    });
  };
  const toggle = (n: string) => setIntents((xs) => (xs.includes(n) ? xs.filter((x) => x !== n) : [...xs, n]));
  return (
    <>
      <form className="panel" onSubmit={save} aria-label="Bot settings" noValidate>
        <h2 style={{ marginTop: 0 }}>Settings</h2>
        <Field label="Name" name="name" error={errs.name} hint={<Counter value={name} max={LIMITS.botName} />}>{(p) => <input {...p} value={name} onChange={(e) => setName(e.target.value)} />}</Field>
        <Field label="Description" name="description" error={errs.description} hint={<Counter value={description} max={LIMITS.botDescription} />}>{(p) => <textarea {...p} value={description} onChange={(e) => setDescription(e.target.value)} />}</Field>
        <fieldset>
          <legend>Presence</legend>
          <div className="row">
            <Field label="Status" name="presence.status" error={errs['presence.status']}>
              {(p) => (
                <select {...p} value={presence.status} onChange={(e) => setPresence({ ...presence, status: e.target.value })}>
                  {['online', 'idle', 'dnd', 'invisible'].map((s) => <option key={s}>{s}</option>)}
                </select>
              )}
            </Field>
            <Field label="Activity" name="presence.activity_type" error={errs['presence.activity_type']}>
              {(p) => (
                <select {...p} value={presence.activity_type} onChange={(e) => setPresence({ ...presence, activity_type: e.target.value })}>
                  {['playing', 'streaming', 'listening', 'watching', 'competing', 'custom'].map((s) => <option key={s}>{s}</option>)}
                </select>
              )}
            </Field>
          </div>
          <Field label="Activity text" name="presence.activity_text" error={errs['presence.activity_text']} hint={<Counter value={presence.activity_text} max={LIMITS.activityText} />}>{(p) => <input {...p} value={presence.activity_text} onChange={(e) => setPresence({ ...presence, activity_text: e.target.value })} />}</Field>
        </fieldset>
        <fieldset data-field="intents">
          <legend>Intents</legend>
          {errs.intents && <div className="field-error">{errs.intents}</div>}
          {Object.keys(INTENTS).map((n) => (
            <div key={n}>
              <label className="inline">
                <input type="checkbox" checked={intents.includes(n)} onChange={() => toggle(n)} /> {pretty(n)}
                {PRIVILEGED[n] && <strong className="small"> (privileged)</strong>}
              </label>
              {PRIVILEGED[n] && <div className="small muted" style={{ marginLeft: 24 }}>{PRIVILEGED[n]}</div>}
            </div>
          ))}
        </fieldset>
        <fieldset>
          <legend>Shards</legend>
          <label className="inline"><input type="radio" name="shards" checked={shardMode === 'auto'} onChange={() => setShardMode('auto')} /> Auto (Discord’s recommendation)</label>
          <label className="inline"><input type="radio" name="shards" checked={shardMode === 'fixed'} onChange={() => setShardMode('fixed')} /> Fixed</label>
          {shardMode === 'fixed' && <Field label="Shard count" name="shard_count" error={errs.shard_count}>{(p) => <input {...p} type="number" min={1} max={1024} value={shards} onChange={(e) => setShards(e.target.value)} />}</Field>}
        </fieldset>
        <label className="inline"><input type="checkbox" checked={autoStart} onChange={(e) => setAutoStart(e.target.checked)} /> Start automatically</label>
        <SaveErrors errors={errs} error={update.error} />
        <div className="row" style={{ marginTop: 10 }}>
          <Gated perm="bots.edit" workspaceId={bot.workspace_id} botId={bot.id}>
            <button className="primary" disabled={update.isPending}>{update.isPending ? 'Saving…' : 'Save'}</button>
          </Gated>
        </div>
      </form>
      <PrefixSettings bot={bot} />
      <ReplaceToken bot={bot} />
      <ApplyAvatar bot={bot} />
      <DeleteBot bot={bot} />
    </>
  );
}

function ReplaceToken({ bot }: { bot: BotView }) {
  const qc = useQueryClient();
  const [token, setToken] = useState('');
  const toast = useToast();
  const m = useMutation({
    mutationFn: () => api.put<BotView>(`/v1/bots/${bot.id}/token`, { token: token.trim() }),
    onSuccess: (b) => {
      setToken('');
      toast('Token replaced ✓');
      qc.setQueryData(['bot', bot.id], b);
    },
  });
  const errs = fieldErrors(m.error);
  return (
    <form className="panel" onSubmit={(e) => (e.preventDefault(), m.mutate())} aria-label="Replace token" noValidate>
      <h2 style={{ marginTop: 0 }}>Replace token</h2>
      <p className="muted small">Current token: {hint(bot.token_hint)}. The new one is checked with Discord; the bot restarts with it.</p>
      <Field label="New token" name="token" error={errs.token}>{(p) => <input {...p} type="password" autoComplete="off" value={token} onChange={(e) => setToken(e.target.value)} />}</Field>
      <SaveErrors errors={errs} error={m.error} what="Not replaced" />
      <div className="row" style={{ marginTop: 8 }}>
        <Gated perm="bots.token" workspaceId={bot.workspace_id} botId={bot.id}>
          <button disabled={!token.trim() || m.isPending}>{m.isPending ? 'Checking the token with Discord…' : 'Replace token'}</button>
        </Gated>
      </div>
    </form>
  );
}

function ApplyAvatar({ bot }: { bot: BotView }) {
  const files = useQuery({ queryKey: ['files', 'avatar'], queryFn: () => api.get<FileList>('/v1/files', { kind: 'avatar' }) });
  const [fileId, setFileId] = useState('');
  const qc = useQueryClient();
  const toast = useToast();
  const m = useMutation({
    mutationFn: () => api.post<AvatarApplied>(`/v1/bots/${bot.id}/avatar`, { file_id: fileId }),
    // The bot's avatar_url follows the avatar Discord now shows (said next to the button).
    onSuccess: (r) => {
      toast(r.unchanged ? 'Already the bot’s avatar: nothing sent' : 'Avatar applied on Discord ✓');
      void qc.invalidateQueries({ queryKey: ['bot', bot.id] });
      void qc.invalidateQueries({ queryKey: ['bots'] });
    },
  });
  const avatars = files.data?.files ?? [];
  return (
    <section className="panel" aria-labelledby="avatar-h">
      <h2 id="avatar-h" style={{ marginTop: 0 }}>Avatar</h2>
      {files.isPending && <Loading what="Loading your avatars" />}
      <ErrorBox error={files.error} />
      {files.data && avatars.length === 0 && <p className="muted">No avatar uploaded yet. Upload one under <a href="/files">Files</a>.</p>}
      {avatars.length > 0 && (
        <div className="row">
          {avatars.map((f) => (
            <label key={f.id} className="inline">
              <input type="radio" name="avatar" value={f.id} checked={fileId === f.id} onChange={() => setFileId(f.id)} />
              <img src={`/v1/files/${f.id}/content?variant=128`} alt={f.name} width={48} height={48} style={{ borderRadius: '50%' }} />
            </label>
          ))}
        </div>
      )}
      <ErrorBox error={m.error} />
      <div className="row" style={{ marginTop: 8 }}>
        <Gated perm="bots.edit" workspaceId={bot.workspace_id} botId={bot.id}>
          <button onClick={() => m.mutate()} disabled={!fileId || m.isPending}>{m.isPending ? 'Sending the avatar to Discord…' : 'Apply to bot'}</button>
        </Gated>
        {/* The toast confirms; why nothing was sent is worth keeping in view. */}
        {m.isSuccess && m.data?.unchanged && <span className="small muted">Discord already shows this avatar; nothing was sent (no avatar change spent).</span>}
      </div>
    </section>
  );
}

function DeleteBot({ bot }: { bot: BotView }) {
  const qc = useQueryClient();
  const nav = useNavigate();
  const [open, setOpen] = useState(false);
  const m = useMutation({
    mutationFn: () => api.del(`/v1/bots/${bot.id}`),
    onSuccess: () => {
      qc.removeQueries({ queryKey: ['bot', bot.id] });
      void qc.invalidateQueries({ queryKey: ['bots'] });
      nav('/');
    },
  });
  return (
    <section className="panel" aria-labelledby="del-h">
      <h2 id="del-h" style={{ marginTop: 0 }}>Delete bot</h2>
      <p className="muted small">Stops the bot and deletes its settings, commands and logs here. The Discord application itself stays.</p>
      <Gated perm="bots.delete" workspaceId={bot.workspace_id} botId={bot.id}>
        <button className="danger" onClick={() => setOpen(true)} title={`Delete ${bot.name}`}>
        <span className="clip" style={{ maxWidth: 'min(60ch, 70vw)' }}>Delete {bot.name}…</span>
      </button>
      </Gated>
      <ErrorBox error={m.error} />
      <Confirm open={open} title={`Delete ${bot.name}?`} typed={bot.name} confirmLabel="Delete bot" busy={m.isPending} onConfirm={() => m.mutate()} onCancel={() => setOpen(false)}>
        <p>This cannot be undone.</p>
      </Confirm>
    </section>
  );
}
