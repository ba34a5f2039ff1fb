import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState, type KeyboardEvent } from 'react';
import { Link } from 'react-router';
import { useInfiniteQuery, useQuery } from '@tanstack/react-query';
import { api, buildUrl } from '../api/client';
import type { EventsSummary, LogPage } from '../api/types';
import { useEventStream } from '../components/stream';
import { useChartRefresh } from '../components/liveRefresh';
import { Empty, ErrorBox, Loading, when } from '../components/ui';
import { tabKeyTarget } from '../lib/words';
import { useListQuery } from '../api/workspaces';
import { ACCESS_CHANGED_TEXT } from '../api/stream';
import { appendBounded, backlogLines, filterQuery, LEVELS, lineFromEntry, lineFromEvent, matches, perMinute, sourceLinks, summaryPath, timeSlots, type Line, type LogFilters } from '../lib/logs';
import { bucketFor, DEFAULT_RANGE, RANGES, rangeBounds, rangeError, rangeLabel, type RangeKey, type TimeRange } from '../lib/logRange';

/** How many earlier events the live tail opens with. */
const BACKLOG = 50;

const MODES = ['live', 'history'] as const;

const STATE_TEXT: Record<string, string> = {
  connecting: 'connecting…', live: '● connected', replaying: 'catching up on missed events…', reconnecting: 'connection lost — reconnecting (no event will be missed)…',
  closed: 'off', unauthorized: 'stopped: sign in again', access_changed: `stopped: ${ACCESS_CHANGED_TEXT}`,
};

function Lines({ lines, label, follow = false }: { lines: Line[]; label: string; follow?: boolean }) {
  // A tail follows the newest line (at the bottom) unless the reader scrolled up.
  const box = useRef<HTMLDivElement>(null);
  const atEnd = useRef(true);
  useLayoutEffect(() => {
    const el = box.current;
    if (follow && el && atEnd.current) el.scrollTop = el.scrollHeight;
  }, [follow, lines]);
  const onScroll = () => {
    const el = box.current;
    if (el) atEnd.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
  };
  return (
    // A tab stop, so keyboard users can scroll it (axe: scrollable-region-focusable).
    <div ref={box} onScroll={follow ? onScroll : undefined} className="log" role="log" aria-label={label} aria-live="off" tabIndex={0} data-testid={label === 'Live tail' ? 'live-tail' : 'history'}>
      {lines.map((l) => {
        const links = sourceLinks(l);
        return (
          <div key={l.id} className={`lvl-${l.level}`} data-event-id={l.id}>
            <span className="muted">{new Date(l.at).toLocaleTimeString()}</span> [{l.level}] {l.domain}.{l.kind} {l.message}
            {links.map((link) => <span key={link.label}> · <Link to={link.to} data-testid="log-source-link">{link.label}</Link></span>)}
          </div>
        );
      })}
    </div>
  );
}

export default function LogsView({ botId, eventId }: { botId?: string; eventId?: string }) {
  const [f, setF] = useState<LogFilters>({ levels: [], kind: '', q: '' });
  const [range, setRange] = useState<TimeRange>(DEFAULT_RANGE);
  const rangeErr = rangeError(range);
  const [mode, setMode] = useState<'live' | 'history'>(eventId ? 'history' : 'live');
  const chartRefresh = useChartRefresh(botId);
  const ws = useListQuery();
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
              <input id="log-q" type="search" value={f.q} placeholder="any part of the message, e.g. greet" onChange={(e) => setF({ ...f, q: e.target.value })} />
            </div>
            <div style={{ flex: '1 1 160px' }}>
              <label htmlFor="log-range">Time range</label>
              <select id="log-range" value={range.key} aria-describedby="log-range-hint" onChange={(e) => setRange({ ...range, key: e.target.value as RangeKey })}>
                {RANGES.map((r) => <option key={r.key} value={r.key}>{r.label}</option>)}
              </select>
            </div>
          </div>
          {range.key === 'custom' && (
            <div className="row">
              <div style={{ flex: '1 1 200px' }}>
                <label htmlFor="log-from">From</label>
                <input id="log-from" type="datetime-local" value={range.from} aria-invalid={Boolean(rangeErr)} onChange={(e) => setRange({ ...range, from: e.target.value })} />
              </div>
              <div style={{ flex: '1 1 200px' }}>
                <label htmlFor="log-to">To (empty: now)</label>
                <input id="log-to" type="datetime-local" value={range.to} aria-invalid={Boolean(rangeErr)} onChange={(e) => setRange({ ...range, to: e.target.value })} />
              </div>
            </div>
          )}
          {rangeErr ? <p className="field-error" role="alert">{rangeErr}</p> : <p id="log-range-hint" className="muted small" style={{ margin: '4px 0 0' }}>The time range applies to the history, the chart and the export; the live tail shows what happens now.</p>}
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
          {!rangeErr && <a className="button" href={buildUrl('/v1/logs/export', { ...ws, ...filterQuery(f, botId, rangeBounds(range)) })} download>Export (NDJSON)</a>}
        </div>
      </div>
      <div id="logs-panel" role="tabpanel" aria-labelledby={`logs-tab-${mode}`}>
        {mode === 'live' ? <Live key={JSON.stringify([f.levels, f.kind.trim()])} f={f} botId={botId} onActivity={chartRefresh} /> : <History f={f} botId={botId} range={range} eventId={eventId} />}
      </div>
      <Chart botId={botId} range={range} />
    </section>
  );
}

function Live({ f, botId, onActivity }: { f: LogFilters; botId?: string; onActivity?: () => void }) {
  const ws = useListQuery();
  // The tail opens with the last events (newest stored first), then resumes the stream right
  // after the newest of them: the server replays what came since, so no gap and no duplicate.
  const backlog = useQuery({
    queryKey: ['log-backlog', ws.workspace_id, botId, f.levels, f.kind.trim()],
    queryFn: () => api.get<LogPage>('/v1/logs', { ...ws, ...filterQuery({ ...f, q: '' }, botId), limit: BACKLOG }),
    staleTime: Infinity,
    gcTime: 0,
    retry: 1,
    refetchOnWindowFocus: false,
  });
  const ready = !backlog.isPending;
  const [lines, setLines] = useState<Line[]>([]);
  const [paused, setPaused] = useState(false);
  const held = useRef<Line[]>([]);
  const [heldCount, setHeldCount] = useState(0);
  const pausedRef = useRef(paused);
  pausedRef.current = paused;
  const earlier = backlog.data?.items;
  useEffect(() => {
    if (earlier) setLines((xs) => xs.reduce((acc, l) => appendBounded(acc, l), backlogLines(earlier)));
  }, [earlier]);
  const filters = useMemo(() => ({ bot_ids: botId ? [botId] : [], levels: f.levels, kinds: f.kind.trim() ? [f.kind.trim()] : [] }), [botId, f.levels, f.kind]);
  const activity = useRef(onActivity);
  activity.current = onActivity;
  const onEvent = useCallback((e: Parameters<typeof lineFromEvent>[0]) => {
    activity.current?.();
    const line = lineFromEvent(e);
    if (pausedRef.current) {
      held.current.push(line);
      setHeldCount(held.current.length);
    } else setLines((xs) => appendBounded(xs, line));
  }, []);
  const stream = useEventStream(filters, onEvent, ready, earlier?.[0]?.id ?? null);
  const resume = () => {
    setLines((xs) => held.current.reduce((acc, l) => appendBounded(acc, l), xs));
    held.current = [];
    setHeldCount(0);
    setPaused(false);
  };
  const shown = lines.filter((l) => matches(l, f));
  let body;
  if (!ready) body = <Loading what={`Loading the last ${BACKLOG} events`} />;
  else if (shown.length) body = <Lines lines={shown} label="Live tail" follow />;
  else if (lines.length) body = <p className="muted">None of the {lines.length} recent events contain “{f.q.trim()}”. New ones appear here as they happen.</p>;
  else body = <p className="muted">No events{f.levels.length || f.kind.trim() ? ' match these filters' : ''} yet. They appear here as they happen: start the bot or use a command.</p>;
  return (
    <div className="panel">
      <div className="row spread">
        <span role="status" className="small" data-testid="tail-stream-state" data-stream-state={stream.state}>Log stream: {STATE_TEXT[stream.state]}</span>
        <div className="row">
          {paused ? <button onClick={resume}>Resume ({heldCount} new)</button> : <button onClick={() => setPaused(true)}>Pause</button>}
          <button onClick={() => setLines([])}>Clear</button>
        </div>
      </div>
      {backlog.error ? <p className="muted small">Earlier events could not be loaded; showing new ones as they happen.</p> : null}
      {body}
    </div>
  );
}

function History({ f, botId, range, eventId }: { f: LogFilters; botId?: string; range: TimeRange; eventId?: string }) {
  const ws = useListQuery();
  // One log line asked for by id is shown whatever the range says.
  const invalid = eventId ? null : rangeError(range);
  const q = useInfiniteQuery({
    queryKey: ['logs', ws.workspace_id, botId, f, range, eventId],
    // Relative ranges count back from when the history is (re)loaded.
    queryFn: ({ pageParam }) => api.get<LogPage>('/v1/logs', { ...ws, ...filterQuery(f, botId, eventId ? {} : rangeBounds(range)), event_id: eventId, limit: 100, cursor: pageParam ?? undefined }),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor ?? undefined,
    enabled: !invalid,
  });
  if (invalid) return <div className="panel"><p className="muted">Pick a valid time range to see the history.</p></div>;
  if (q.isPending) return <Loading what="Loading history" />;
  if (q.error) return <ErrorBox error={q.error} retry={() => q.refetch()} />;
  const lines = q.data.pages.flatMap((p) => p.items.map(lineFromEntry));
  const text = f.q.trim();
  return (
    <div className="panel">
      {lines.length === 0 ? <Empty>No log lines{text ? ` contain “${text}”` : ' match'} in the {rangeLabel(range)}{range.key === '7d' ? '' : ' — try a wider time range'}.</Empty> : <Lines lines={lines} label="History" />}
      <div className="row" style={{ marginTop: 8 }}>
        {q.hasNextPage && <button onClick={() => q.fetchNextPage()} disabled={q.isFetchingNextPage}>{q.isFetchingNextPage ? 'Loading…' : 'Older'}</button>}
        <button onClick={() => q.refetch()}>Refresh</button>
        <span className="muted small" data-testid="history-count">newest first · {lines.length} shown · {rangeLabel(range)}</span>
      </div>
    </div>
  );
}

const COLORS: Record<string, string> = { debug: 'var(--off)', info: 'var(--accent)', warning: 'var(--warn)', error: 'var(--bad)', critical: 'var(--bad)' };

function Chart({ botId, range }: { botId?: string; range: TimeRange }) {
  const invalid = rangeError(range);
  // One bot's chart is that bot's; the all-bots chart is the chosen workspace's.
  const ws = useListQuery();
  const s = useQuery({
    queryKey: ['summary', botId ?? 'all', botId ? null : (ws.workspace_id ?? null), range],
    queryFn: async () => {
      const b = rangeBounds(range);
      const until = b.until ?? new Date().toISOString();
      const since = b.since ?? new Date(Date.parse(until) - 24 * 3600_000).toISOString();
      const bucket = bucketFor(since, until);
      const summary = await api.get<EventsSummary>(summaryPath(botId), { ...(botId ? {} : ws), since, until: b.until, bucket_s: bucket.s });
      return { summary, bucket };
    },
    refetchInterval: 60_000,
    enabled: !invalid,
  });
  if (invalid) return null;
  if (s.isPending) return <Loading what="Loading the chart" />;
  if (s.error) return <ErrorBox error={s.error} />;
  const { summary: data, bucket } = s.data;
  const buckets = timeSlots(data.since, data.until, perMinute(data.series ?? []), bucket.s);
  const max = Math.max(1, ...buckets.map((b) => Object.values(b.counts).reduce((a, c) => a + c, 0)));
  const w = 600;
  const bw = buckets.length ? w / buckets.length : w;
  const summary = LEVELS.map((l) => `${data.counts.filter((c) => c.level === l).reduce((a, c) => a + c.count, 0)} ${l}`).join(', ');
  return (
    <figure className="panel" style={{ margin: '14px 0 0' }} data-testid="events-chart" data-total={data.total}>
      <figcaption className="small">Events per {bucket.label}{botId ? '' : ' (all bots)'}, {rangeLabel(range)} — {data.total} total ({summary}). Since {when(data.since)}.</figcaption>
      <svg className="chart" viewBox={`0 0 ${w} 100`} preserveAspectRatio="none" role="img" aria-label={`Events per ${bucket.label} by level: ${summary}`}>
        {buckets.map((b, i) => {
          let y = 100;
          return LEVELS.map((l) => {
            const n = b.counts[l] ?? 0;
            if (!n) return null;
            const h = (n / max) * 100;
            y -= h;
            return <rect key={`${i}-${l}`} x={i * bw} y={y} width={Math.max(1, bw - 1)} height={h} fill={COLORS[l]}><title>{`${new Date(b.start).toLocaleString()}: ${n} ${l}`}</title></rect>;
          });
        })}
      </svg>
      <div className="row small">{LEVELS.map((l) => <span key={l}><span aria-hidden="true" style={{ color: COLORS[l] }}>■</span> {l}</span>)}</div>
    </figure>
  );
}
