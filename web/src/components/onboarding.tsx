import { Gated } from './gated';
import type { ReactNode } from 'react';
import { Link } from 'react-router';
import { useQuery } from '@tanstack/react-query';
import { api } from '../api/client';
import { useBotAction } from '../api/bots';
import type { BotStatus, BotView, CommandList, LogPage } from '../api/types';
import { DEVELOPER_PORTAL, NO_PROGRESS, allDone, checklist, nextStep, type Progress, type Step, type StepKey } from '../lib/onboarding';
import { InviteLink } from './inviteLink';
import { ErrorBox } from './ui';

const POLL_MS = 5_000;

const guildsOf = (s: BotStatus | undefined): number | null => {
  const counts = (s?.shards ?? []).map((x) => x.guild_count).filter((x): x is number => typeof x === 'number');
  return s?.state === 'online' && counts.length > 0 ? counts.reduce((a, b) => a + b, 0) : null;
};

/** What the checklist knows of this bot, from the live status, the commands and the logs.
 * Each source is polled only until its step is done. */
function useProgress(bot: BotView | undefined): Progress & { runsKnown: boolean } {
  const id = bot?.id ?? '';
  const status = useQuery({
    queryKey: ['status', id],
    queryFn: () => api.get<BotStatus>(`/v1/bots/${id}/status`),
    enabled: !!bot,
    refetchInterval: (q) => ((guildsOf(q.state.data) ?? 0) > 0 ? false : POLL_MS),
  });
  const commands = useQuery({
    queryKey: ['commands', id],
    queryFn: () => api.get<CommandList>(`/v1/bots/${id}/commands`),
    enabled: !!bot,
    refetchInterval: (q) => ((q.state.data?.items.length ?? 0) > 0 ? false : POLL_MS),
  });
  const runs = useQuery({
    queryKey: ['onboarding-runs', id],
    queryFn: () => api.get<LogPage>('/v1/logs', { bot_id: id, domain: 'command', kind: 'executed', limit: 1 }),
    enabled: !!bot,
    refetchInterval: (q) => ((q.state.data?.items.length ?? 0) > 0 ? false : POLL_MS),
  });
  if (!bot) return { ...NO_PROGRESS, runsKnown: true };
  return {
    runsKnown: !runs.isPending,
    hasBot: true,
    online: status.data?.state === 'online',
    guildCount: guildsOf(status.data),
    commandCount: commands.data?.items.length ?? 0,
    runs: runs.data?.items.length ?? 0,
  };
}

function StepItem({ step, current, children }: { step: Step; current: boolean; children?: ReactNode }) {
  return (
    <li
      data-step={step.key}
      data-done={step.done}
      aria-current={current ? 'step' : undefined}
      style={{ margin: '10px 0', display: 'grid', gridTemplateColumns: '1.4em minmax(0, 1fr)', alignItems: 'baseline' }}
    >
      <span aria-hidden="true" style={{ fontWeight: 700, color: step.done ? 'var(--ok, #1a7f37)' : undefined }}>
        {step.done ? '✓' : '○'}
      </span>
      <div style={{ minWidth: 0 }}>
        <strong style={{ overflowWrap: 'anywhere' }}>{step.title}</strong>{' '}
        <span className={`small ${step.done ? '' : 'muted'}`} data-testid={`step-${step.key}-state`}>
          {step.done ? 'Done' : step.unknown ? `Not done yet (${step.unknown})` : 'Not done'}
        </span>
        {children && !step.done && <div style={{ marginTop: 4 }}>{children}</div>}
      </div>
    </li>
  );
}

function StartStep({ bot }: { bot: BotView }) {
  const action = useBotAction(bot.id);
  if (bot.desired_state === 'running') return <p className="small muted" style={{ margin: '4px 0' }}>Starting: it shows Online as soon as Discord accepts its connection.</p>;
  return (
    <>
      <Gated perm="bots.control" workspaceId={bot.workspace_id} botId={bot.id}>
        <button className="primary" onClick={() => action.mutate('start')} disabled={action.isPending}>
          Start {bot.name}
        </button>
      </Gated>
      <ErrorBox error={action.error} />
    </>
  );
}

/** Whether a bot finished its checklist (null until the logs tell): its overview then offers
 * the invite link on its own. */
export function useChecklistDone(bot: BotView): boolean | null {
  const progress = useProgress(bot);
  return progress.runsKnown ? allDone(checklist(progress)) : null;
}

/** The first-run checklist: on an empty Bots page (no bot) and on a bot's overview until
 * every step is done. */
export function Onboarding({ bot, onAddBot }: { bot?: BotView; onAddBot?: () => void }) {
  const progress = useProgress(bot);
  const steps = checklist(progress);
  // Until the logs say whether the bot ever answered, a finished bot (stopped) would flash
  // its checklist on every load.
  if (bot && (!progress.runsKnown || allDone(steps))) return null;
  const current = nextStep(steps)?.key;
  const body: Partial<Record<StepKey, ReactNode>> = {
    application: (
      <p className="small" style={{ margin: '4px 0' }}>
        In the <a href={DEVELOPER_PORTAL} target="_blank" rel="noopener noreferrer">Discord Developer Portal</a>: New Application, then Bot → Reset Token and copy the token.
      </p>
    ),
    token: onAddBot && (
      <button className="primary" onClick={onAddBot}>
        Paste the token
      </button>
    ),
    invite: bot && <InviteLink bot={bot} />,
    start: bot && <StartStep bot={bot} />,
    command: bot && (
      <Link className="button" to={`/bots/${bot.id}/commands/new`}>
        Make a command
      </Link>
    ),
    try: bot && (
      <Link className="button" to={`/bots/${bot.id}/try`}>
        Try it
      </Link>
    ),
  };
  const done = steps.filter((s) => s.done).length;
  return (
    <section className="panel" aria-labelledby="onboarding-h" data-testid="onboarding">
      <h2 id="onboarding-h" style={{ marginTop: 0 }}>
        Get your first bot answering
      </h2>
      <p className="muted small" style={{ margin: 0 }} role="status">
        {done} of {steps.length} steps done
      </p>
      <ol style={{ listStyle: 'none', paddingLeft: 0, margin: 0 }}>
        {steps.map((s) => (
          <StepItem key={s.key} step={s} current={s.key === current}>
            {body[s.key]}
          </StepItem>
        ))}
      </ol>
    </section>
  );
}
