import { useState, type FormEvent } from 'react';
import { Link, useNavigate } from 'react-router';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../api/client';
import { fieldErrors } from '../api/errors';
import { useBotAction, useBots, useCachedStatus } from '../api/bots';
import type { BotView } from '../api/types';
import { ErrorBox, Field, Loading, StatusBadge, hint } from '../components/ui';
import { Counter, SaveErrors } from '../components/formErrors';
import { useToast } from '../components/toast';
import { LIMITS } from '../lib/fields';
import { StreamIndicator } from '../components/stream';
import { Onboarding } from '../components/onboarding';
import { Gated } from '../components/gated';
import { useActiveWorkspace, useWorkspaceParam } from '../api/workspaces';

/** The bot user's Discord avatar (or its initial when it has none). */
export function Avatar({ bot, size = 32 }: { bot: BotView; size?: number }) {
  const style = { width: size, height: size, borderRadius: '50%', flex: 'none' } as const;
  if (bot.avatar_url) return <img src={bot.avatar_url} alt="" width={size} height={size} style={style} data-testid="bot-avatar" />;
  return (
    <span aria-hidden="true" className="avatar-fallback" style={{ ...style, display: 'inline-grid', placeItems: 'center', background: 'var(--muted-bg, #8884)', fontSize: size / 2 }}>
      {bot.name.slice(0, 1).toUpperCase()}
    </span>
  );
}

/** Start or Stop (whichever the wanted state allows) and Restart, for the bot card and page. */
export function StartStopButtons({ bot, running, action }: { bot: BotView; running: boolean; action: ReturnType<typeof useBotAction> }) {
  const gate = { perm: 'bots.control', workspaceId: bot.workspace_id, botId: bot.id } as const;
  return (
    <>
      {running ? (
        <Gated {...gate}><button onClick={() => action.mutate('stop')} disabled={action.isPending}>Stop</button></Gated>
      ) : (
        <Gated {...gate}><button className="primary" onClick={() => action.mutate('start')} disabled={action.isPending}>Start</button></Gated>
      )}
      <Gated {...gate}><button onClick={() => action.mutate('restart')} disabled={action.isPending || !running}>Restart</button></Gated>
    </>
  );
}

function BotCard({ bot }: { bot: BotView }) {
  // Seeded by the list's `status`, kept live by the stream: no request per bot.
  const cached = useCachedStatus(bot.id).data;
  const action = useBotAction(bot.id);
  const s = cached ?? bot.status ?? undefined;
  const running = bot.desired_state === 'running';
  const shards = cached?.shards ?? [];
  const shardLatency = shards.map((x) => x.latency_ms).filter((x): x is number => typeof x === 'number');
  const latency = s?.latency_ms ?? (shardLatency.length > 0 ? shardLatency.reduce((a, b) => a + b, 0) / shardLatency.length : null);
  const guilds = s?.guild_count ?? (shards.length > 0 ? shards.reduce((n, x) => n + (x.guild_count ?? 0), 0) : null);
  return (
    <article className="panel" data-bot-id={bot.id} aria-labelledby={`bot-${bot.id}`}>
      <div className="row spread">
        <h2 id={`bot-${bot.id}`} style={{ margin: 0 }} className="row">
          <Avatar bot={bot} />
          <Link to={`/bots/${bot.id}`} title={bot.name}>{bot.name}</Link>
        </h2>
        {s ? <StatusBadge state={s.state} reason={s.reason} message={s.message} /> : <span className="muted small">status unknown</span>}
      </div>
      <p className="muted small" style={{ margin: '6px 0' }}>
        @{bot.username} · token {hint(bot.token_hint)}
        {latency != null && <> · {Math.round(latency)} ms latency</>}
        {guilds != null && <> · {guilds} {guilds === 1 ? 'guild' : 'guilds'}</>}
      </p>
      <div className="row">
        <StartStopButtons bot={bot} running={running} action={action} />
        {action.isPending && <span className="spinner" role="status" aria-label="working" />}
      </div>
      <ErrorBox error={action.error} />
    </article>
  );
}

export function AddBot({ onDone }: { onDone?: () => void }) {
  const qc = useQueryClient();
  const nav = useNavigate();
  const [token, setToken] = useState('');
  const [name, setName] = useState('');
  const [autoStart, setAutoStart] = useState(false);
  const toast = useToast();
  // Added to the workspace chosen in the header (else the personal one).
  const target = useActiveWorkspace();
  const create = useMutation({
    mutationFn: () => api.post<BotView>('/v1/bots', { token: token.trim(), name: name.trim() || undefined, auto_start: autoStart, workspace_id: target?.id }),
    onSuccess: (bot) => {
      setToken(''); // the token is never shown again
      toast(`Bot ${bot.name} added ✓`);
      void qc.invalidateQueries({ queryKey: ['bots'] });
      onDone?.();
      nav(`/bots/${bot.id}`);
    },
  });
  const errs = fieldErrors(create.error);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.mutate();
  };
  return (
    <form className="panel" onSubmit={submit} aria-label="Add a bot" noValidate>
      <h2 style={{ marginTop: 0 }}>Add a bot{target && !target.personal ? ` to ${target.name}` : ''}</h2>
      <Field label="Bot token" name="token" error={errs.token} hint="From the Discord developer portal → your application → Bot → Reset Token. Stored encrypted; shown later only as …last4.">
        {(p) => <input {...p} name="token" type="password" autoComplete="off" value={token} onChange={(e) => setToken(e.target.value)} required />}
      </Field>
      <Field label="Name (optional)" name="name" error={errs.name} hint={<>Defaults to the bot's Discord username. <Counter value={name} max={LIMITS.botName} /></>}>
        {(p) => <input {...p} name="name" value={name} onChange={(e) => setName(e.target.value)} />}
      </Field>
      <label className="inline">
        <input type="checkbox" checked={autoStart} onChange={(e) => setAutoStart(e.target.checked)} /> Start it right away
      </label>
      <SaveErrors errors={errs} error={create.error} what="Not added" />
      <div className="row" style={{ marginTop: 10 }}>
        <button className="primary" type="submit" disabled={create.isPending || !token.trim()}>
          {create.isPending ? 'Checking the token with Discord…' : 'Add bot'}
        </button>
      </div>
    </form>
  );
}

export function BotsList() {
  const bots = useBots();
  const [adding, setAdding] = useState(false);
  const [chosen] = useWorkspaceParam();
  const ws = useActiveWorkspace();
  return (
    <>
      <div className="row spread">
        <h1>{chosen && ws ? `Bots of ${ws.name}` : 'Your bots'}</h1>
        <div className="row">
          <StreamIndicator />
          {/* Adding a bot sets its token too: bot-service asks for both permissions. */}
          <Gated perm={['bots.edit', 'bots.token']}>
            <button className="primary" onClick={() => setAdding((v) => !v)} aria-expanded={adding}>
              {adding ? 'Close' : 'Add a bot'}
            </button>
          </Gated>
        </div>
      </div>
      {adding && <AddBot onDone={() => setAdding(false)} />}
      {bots.isPending && <Loading what="Loading your bots" />}
      <ErrorBox error={bots.error} retry={() => bots.refetch()} />
      {bots.data && bots.data.bots.length === 0 && !adding && (
        <Onboarding onAddBot={() => setAdding(true)} />
      )}
      <div className="grid">
        {bots.data?.bots.map((b) => <BotCard key={b.id} bot={b} />)}
      </div>
    </>
  );
}
