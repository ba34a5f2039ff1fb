import { useCallback, useMemo, useRef, useState, type KeyboardEvent } from 'react';
import { useInfiniteQuery, useQuery } from '@tanstack/react-query';
import { api, buildUrl } from '../api/client';
import type { EventsSummary, LogPage } from '../api/types';
import { useEventStream } from '../components/stream';
import { Empty, ErrorBox, Loading, when } from '../components/ui';
import { tabKeyTarget } from '../lib/words';
import { appendBounded, filterQuery, LEVELS, lineFromEntry, lineFromEvent, matches, perMinute, summaryPath, timeSlots, type Line, type LogFilters } from '../lib/logs';

const MODES = ['live', 'history'] as const;

const STATE_TEXT: Record<string, string> = {
  connecting: 'connecting…', live: '● connected', replaying: 'catching up on missed events…', reconnecting: 'connection lost — reconnecting (no event will be missed)…',
  closed: 'off', unauthorized: 'stopped: sign in again',
};

function Lines({ lines, label }: { lines: Line[]; label: string }) {
  return (
    <div className="log" role="log" aria-label={label} aria-live="off" data-testid={label === 'Live tail' ? 'live-tail' : 'history'}>
      {lines.map((l) => (
        <div key={l.id} className={`lvl-${l.level}`}>
          <span className="muted">{new Date(l.at).toLocaleTimeString()}</span> [{l.level}] {l.domain}.{l.kind} {l.message}
        </div>
      ))}
    </div>
  );
}

export default function LogsView({ botId, eventId }: { botId?: string; eventId?: string }) {
  const [f, setF] = useState<LogFilters>({ levels: [], kind: '', q: '' });
  const [mode, setMode] = useState<'live' | 'history'>(eventId ? 'history' : 'live');
  // Roving tabindex: one tab stop for the list, arrow keys / Home / End move between tabs.
  const tabs = useRef<(HTMLButtonElement | null)[]>([]);
  const onTabKey = (e: KeyboardEvent<HTMLButtonElement>) => {
    const target = tabKeyTarget(e.key, MODES.indexOf(mode), MODES.length);
    if (target === null) return;
    e.preventDefault();
    setMode(MODES[target]);
    tabs.current[target]?.focus();
  };
  const toggleLevel = (l: string) => setF((x) => ({ ...x, levels: x.levels.includes(l) ? x.levels.filter((y) => y !== l) : [...x.levels, l] }));
  return (
    <section aria-label="Logs">
      <div className="panel">
        <fieldset>
          <legend>Filters</legend>
          {LEVELS.map((l) => (
            <label key={l} className="inline"><input type="checkbox" checked={f.levels.includes(l)} onChange={() => toggleLevel(l)} /> {l}</label>
          ))}
          <div className="row">
            <div style={{ flex: '1 1 140px' }}>
              <label htmlFor="log-kind">Kind</label>
              <input id="log-kind" value={f.kind} placeholder="e.g. status, executed" onChange={(e) => setF({ ...f, kind: e.target.value })} />
            </div>
            <div style={{ flex: '2 1 200px' }}>
              <label htmlFor="log-q">Text</label>
              <input id="log-q" type="search" value={f.q} onChange={(e) => setF({ ...f, q: e.target.value })} />
            </div>
          </div>
        </fieldset>
        <div className="row" style={{ marginTop: 8 }}>
          <div className="tabs" role="tablist" aria-label="Log view" style={{ border: 0, margin: 0 }}>
            {MODES.map((m, i) => (
              <button
                key={m}
                ref={(el) => {
                  tabs.current[i] = el;
                }}
                id={`logs-tab-${m}`}
                role="tab"
                aria-selected={mode === m}
                aria-controls="logs-panel"
                tabIndex={mode === m ? 0 : -1}
                className={mode === m ? 'primary' : ''}
                onClick={() => setMode(m)}
                onKeyDown={onTabKey}
              >
                {m === 'live' ? 'Live tail' : 'History'}
              </button>
            ))}
          </div>
          <a className="button" href={buildUrl('/v1/logs/export', filterQuery(f, botId))} download>Export (NDJSON)</a>
        </div>
      </div>
      <Chart botId={botId} />
      <div id="logs-panel" role="tabpanel" aria-labelledby={`logs-tab-${mode}`}>
        {mode === 'live' ? <Live f={f} botId={botId} /> : <History f={f} botId={botId} eventId={eventId} />}
      </div>
    </section>
  );
}

function Live({ f, botId }: { f: LogFilters; botId?: string }) {
  const [lines, setLines] = useState<Line[]>([]);
  const [paused, setPaused] = useState(false);
  const held = useRef<Line[]>([]);
  const [heldCount, setHeldCount] = useState(0);
  const pausedRef = useRef(paused);
  pausedRef.current = paused;
  const filters = useMemo(() => ({ bot_ids: botId ? [botId] : [], levels: f.levels, kinds: f.kind.trim() ? [f.kind.trim()] : [] }), [botId, f.levels, f.kind]);
  const onEvent = useCallback((e: Parameters<typeof lineFromEvent>[0]) => {
    const line = lineFromEvent(e);
    if (pausedRef.current) {
      held.current.push(line);
      setHeldCount(held.current.length);
    } else setLines((xs) => appendBounded(xs, line));
  }, []);
  const stream = useEventStream(filters, onEvent);
  const resume = () => {
    setLines((xs) => held.current.reduce((acc, l) => appendBounded(acc, l), xs));
    held.current = [];
    setHeldCount(0);
    setPaused(false);
  };
  const shown = lines.filter((l) => matches(l, f));
  return (
    <div className="panel">
      <div className="row spread">
        <span role="status" className="small" data-testid="tail-stream-state" data-stream-state={stream.state}>Log stream: {STATE_TEXT[stream.state]}</span>
        <div className="row">
          {paused ? <button onClick={resume}>Resume ({heldCount} new)</button> : <button onClick={() => setPaused(true)}>Pause</button>}
          <button onClick={() => setLines([])}>Clear</button>
        </div>
      </div>
      {shown.length === 0 ? <p className="muted">Waiting for events… (start the bot or use a command)</p> : <Lines lines={shown} label="Live tail" />}
    </div>
  );
}

function History({ f, botId, eventId }: { f: LogFilters; botId?: string; eventId?: string }) {
  const q = useInfiniteQuery({
    queryKey: ['logs', botId, f, eventId],
    queryFn: ({ pageParam }) => api.get<LogPage>('/v1/logs', { ...filterQuery(f, botId), event_id: eventId, limit: 100, cursor: pageParam ?? undefined }),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  });
  if (q.isPending) return <Loading what="Loading history" />;
  if (q.error) return <ErrorBox error={q.error} retry={() => q.refetch()} />;
  const lines = q.data.pages.flatMap((p) => p.items.map(lineFromEntry));
  return (
    <div className="panel">
      {lines.length === 0 ? <Empty>No log lines match.</Empty> : <Lines lines={lines} label="History" />}
      <div className="row" style={{ marginTop: 8 }}>
        {q.hasNextPage && <button onClick={() => q.fetchNextPage()} disabled={q.isFetchingNextPage}>{q.isFetchingNextPage ? 'Loading…' : 'Older'}</button>}
        <button onClick={() => q.refetch()}>Refresh</button>
        <span className="muted small">newest first · {lines.length} shown</span>
      </div>
    </div>
  );
}

const COLORS: Record<string, string> = { debug: 'var(--off)', info: 'var(--accent)', warning: 'var(--warn)', error: 'var(--bad)', critical: 'var(--bad)' };

function Chart({ botId }: { botId?: string }) {
  const since = useMemo(() => new Date(Date.now() - 60 * 60_000).toISOString(), []);
  const s = useQuery({
    queryKey: ['summary', botId ?? 'all'],
    queryFn: () => api.get<EventsSummary>(summaryPath(botId), { since, bucket_s: 60 }),
    refetchInterval: 60_000,
  });
  if (s.isPending) return <Loading what="Loading the chart" />;
  if (s.error) return <ErrorBox error={s.error} />;
  const buckets = timeSlots(s.data.since, s.data.until, perMinute(s.data.series ?? []));
  const max = Math.max(1, ...buckets.map((b) => Object.values(b.counts).reduce((a, c) => a + c, 0)));
  const w = 600;
  const bw = buckets.length ? w / buckets.length : w;
  const summary = LEVELS.map((l) => `${s.data.counts.filter((c) => c.level === l).reduce((a, c) => a + c.count, 0)} ${l}`).join(', ');
  return (
    <figure className="panel" style={{ margin: '0 0 14px' }} data-testid="events-chart" data-total={s.data.total}>
      <figcaption className="small">Events per minute{botId ? '' : ' (all bots)'}, last hour — {s.data.total} total ({summary}). Since {when(s.data.since)}.</figcaption>
      <svg className="chart" viewBox={`0 0 ${w} 100`} preserveAspectRatio="none" role="img" aria-label={`Events per minute by level: ${summary}`}>
        {buckets.map((b, i) => {
          let y = 100;
          return LEVELS.map((l) => {
            const n = b.counts[l] ?? 0;
            if (!n) return null;
            const h = (n / max) * 100;
            y -= h;
            return <rect key={`${i}-${l}`} x={i * bw} y={y} width={Math.max(1, bw - 1)} height={h} fill={COLORS[l]}><title>{`${new Date(b.start).toLocaleTimeString()}: ${n} ${l}`}</title></rect>;
          });
        })}
      </svg>
      <div className="row small">{LEVELS.map((l) => <span key={l}><span aria-hidden="true" style={{ color: COLORS[l] }}>■</span> {l}</span>)}</div>
    </figure>
  );
}
