// Trustworthy templates and honest results: the variable picker (fed by the contract's
// list, GET /v1/commands/variables), template warnings, and a run's result that shows a
// failure in red with its reason, the steps that ran, how long it took and a link to its
// log line.
import { useQuery } from '@tanstack/react-query';
import { Link } from 'react-router';
import { api } from '../api/client';
import type { CommandReply, LogPage, TemplateVariables, TryResult } from '../api/types';
import { logLineHref, resultSummary, runOfInteraction, variablesFor, type ResponseType } from '../lib/templateVars';

export const useTemplateVariables = () =>
  useQuery({ queryKey: ['template-variables'], queryFn: () => api.get<TemplateVariables>('/v1/commands/variables'), staleTime: Infinity });

/** Click-to-insert: one button per variable the command can use. */
export function VariablePicker({ kind, responseType, optionNames, onInsert }: { kind: string; responseType: ResponseType; optionNames: string[]; onInsert: (path: string) => void }) {
  const vars = useTemplateVariables();
  if (!vars.data) return null;
  const items = variablesFor(vars.data.items, kind, responseType, optionNames);
  return (
    <details className="small" data-testid="variable-picker">
      <summary>Insert a variable ({items.length})</summary>
      <div role="group" aria-label="Template variables" className="row" style={{ flexWrap: 'wrap', gap: 4, marginTop: 4 }}>
        {items.map((v) => (
          <button key={v.path} type="button" className="small" title={v.example ? `${v.description} — e.g. ${v.example}` : v.description} aria-label={`Insert ${v.path}: ${v.description}`} onClick={() => onInsert(v.path)}>
            <code>{v.path}</code>
          </button>
        ))}
      </div>
    </details>
  );
}

/** Problems that did not stop a save or a preview (e.g. an undefined variable). */
export function TemplateWarnings({ warnings }: { warnings?: string[] | null }) {
  if (!warnings || warnings.length === 0) return null;
  return (
    <div className="alert" role="status" data-testid="template-warnings" style={{ background: 'var(--warn-bg)', borderColor: 'var(--warn)' }}>
      <strong>⚠ Check the template</strong>
      <ul style={{ margin: '4px 0 0', paddingLeft: 18 }}>
        {warnings.map((w) => <li key={w}>{w}</li>)}
      </ul>
    </div>
  );
}

function Failure({ error, eventId, botId }: { error?: string | null; eventId?: string | null; botId?: string }) {
  return (
    <div data-testid="run-failure">
      <strong>✕ The command failed{error ? `: ${error}` : ''}</strong>
      {eventId && <> · <Link to={logLineHref(eventId, botId)}>see the log line</Link></>}
    </div>
  );
}

/** A dry run's or preview's result: red with the reason when it failed. */
export function RunResult({ reply, botId, children }: { reply: CommandReply; botId?: string; children?: React.ReactNode }) {
  const failed = reply.outcome !== 'ok';
  return (
    <div className={`alert ${failed ? 'error' : 'ok'}`} role={failed ? 'alert' : 'status'} data-testid="reply" data-outcome={reply.outcome}>
      <div className="small" data-testid="run-steps">
        {reply.outcome}{reply.ephemeral ? ' · ephemeral' : ''}{resultSummary(reply) ? ` · ${resultSummary(reply)}` : ''}
      </div>
      {failed && <Failure error={reply.error} eventId={reply.event_id} botId={botId} />}
      {failed && reply.content && <div className="small muted">The Discord user sees: “{reply.content}”</div>}
      {!failed && children}
      <TemplateWarnings warnings={reply.warnings} />
    </div>
  );
}

type Run = { outcome: string; error?: string | null; steps?: string[]; duration_ms?: number; eventId: string };

/** What the bot's run of a sandbox interaction logged: its outcome, reason, steps. */
function useSandboxRun(botId: string, reply: TryResult, since: string) {
  const id = reply.interaction_id;
  return useQuery({
    queryKey: ['sandbox-run', botId, id],
    enabled: Boolean(id),
    queryFn: async (): Promise<Run | null> => {
      const page = await api.get<LogPage>('/v1/logs', { bot_id: botId, kind: 'executed', since, limit: 50 });
      const e = id ? runOfInteraction(page.items, id) : undefined;
      if (!e) return null;
      const p = e.payload as { outcome?: string; error?: string | null; steps?: string[]; duration_ms?: number };
      return { outcome: p.outcome ?? 'ok', error: p.error, steps: p.steps, duration_ms: p.duration_ms, eventId: e.id };
    },
    // The log line is written a moment after the answer, later on a busy machine: look again
    // for up to ~20 s (a few seconds left a slow run without its steps and link for good).
    refetchInterval: (q) => (q.state.data || q.state.dataUpdateCount > 40 ? false : 500),
  });
}

/** The bot's real answer in the sandbox, with what its run logged. */
export function SandboxRunResult({ botId, reply, since, children }: { botId: string; reply: TryResult; since: string; children: React.ReactNode }) {
  const run = useSandboxRun(botId, reply, since).data;
  const failed = run != null && run.outcome !== 'ok';
  const steps = run ? resultSummary(run) : '';
  return (
    <div className={`alert ${failed ? 'error' : 'ok'}`} role={failed ? 'alert' : 'status'} data-testid="reply" data-try-mode="sandbox" data-outcome={run?.outcome ?? ''}>
      <div className="small" data-testid="run-steps">
        answered in the sandbox{reply.ephemeral ? ' · ephemeral' : ''}{reply.deferred ? ' · deferred, then followed up' : ''}
        {reply.latency_ms != null ? ` · answered after ${Math.round(reply.latency_ms)} ms` : ''}
        {steps ? ` · ${steps}` : ''}
        {reply.interaction_id ? ` · interaction ${reply.interaction_id}` : ' · message reply'}
        {run && !failed && <> · <Link to={logLineHref(run.eventId, botId)}>log line</Link></>}
      </div>
      {failed && <Failure error={run.error} eventId={run.eventId} botId={botId} />}
      {failed && reply.content && <div className="small muted">The Discord user saw: “{reply.content}”</div>}
      {!failed && children}
    </div>
  );
}
