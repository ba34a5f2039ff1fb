import { useEffect, useMemo, useRef, useState } from 'react';
import { useInfiniteQuery, useQuery } from '@tanstack/react-query';
import { api, buildUrl } from '../api/client';
import { fieldErrors } from '../api/errors';
import type { AuditPage, AuditRecord, MemberList, MyWorkspace } from '../api/types';
import { can } from '../lib/can';
import { Empty, ErrorBox, Loading, when } from '../components/ui';

type Filters = { actor: string; action: string; target_type: string; target_id: string; since: string; until: string };
const NONE: Filters = { actor: '', action: '', target_type: '', target_id: '', since: '', until: '' };
const PAGE = 50;

/** The filters as the API takes them: empty ones left out, local times as ISO 8601. */
export function auditQuery(f: Filters): Record<string, string | undefined> {
  const iso = (v: string) => (v ? new Date(v).toISOString() : undefined);
  return {
    actor: f.actor || undefined,
    action: f.action.trim() || undefined,
    target_type: f.target_type.trim() || undefined,
    target_id: f.target_id.trim() || undefined,
    since: iso(f.since),
    until: iso(f.until),
  };
}

/** One value, short: a whole command's options would fill the screen (the export has them all). */
function short(v: unknown): string {
  const text = JSON.stringify(v ?? null);
  return text.length > 60 ? `${text.slice(0, 59)}…` : text;
}

/** `changes` in words: `name: "a" → "b"`, a secret as "changed" (never its value). */
function changeWords(changes: AuditRecord['changes']): string {
  return Object.entries(changes ?? {})
    .map(([k, v]) => {
      const c = v as { old?: unknown; new?: unknown; changed?: boolean } | null;
      if (c && typeof c === 'object' && ('old' in c || 'new' in c)) return `${k}: ${short(c.old)} → ${short(c.new)}`;
      if (c && typeof c === 'object' && c.changed) return `${k}: changed`;
      return `${k}: ${short(v)}`;
    })
    .join('; ');
}

/** A free-text filter with its error under it; `options` (the values seen so far) are suggestions. */
function TextFilter({ id, label, width, placeholder, options, value, error, onChange }: {
  id: string;
  label: string;
  width: string;
  placeholder?: string;
  options?: string[];
  value: string;
  error?: string;
  onChange: (v: string) => void;
}) {
  return (
    <div style={{ flex: `1 1 ${width}` }}>
      <label htmlFor={id}>{label}</label>
      <input id={id} list={options ? `${id}s` : undefined} value={value} placeholder={placeholder} onChange={(e) => onChange(e.target.value)} aria-invalid={Boolean(error)} />
      {options && <datalist id={`${id}s`}>{options.map((a) => <option key={a} value={a} />)}</datalist>}
      {error && <div className="field-error">{error}</div>}
    </div>
  );
}

export default function Audit({ ws }: { ws: MyWorkspace }) {
  const allowed = can('audit.view', ws);
  const [draft, setDraft] = useState<Filters>(NONE);
  const [f, setF] = useState<Filters>(NONE);
  const members = useQuery({ queryKey: ['members', ws.id], queryFn: () => api.get<MemberList>(`/v1/workspaces/${ws.id}/members`) });
  const names = useMemo(() => new Map((members.data?.members ?? []).map((m) => [m.user_id, m.display_name])), [members.data]);
  const q = useInfiniteQuery({
    queryKey: ['audit', ws.id, f],
    initialPageParam: null as string | null,
    queryFn: ({ pageParam }) => api.get<AuditPage>(`/v1/workspaces/${ws.id}/audit`, { ...auditQuery(f), limit: PAGE, cursor: pageParam ?? undefined }),
    getNextPageParam: (last) => last.next_cursor ?? null,
    enabled: allowed.ok,
  });
  // Infinite scroll: the next page loads when the end of the list comes into view.
  const end = useRef<HTMLDivElement>(null);
  const { hasNextPage, isFetchingNextPage, fetchNextPage } = q;
  useEffect(() => {
    const el = end.current;
    if (!el || !hasNextPage || typeof IntersectionObserver === 'undefined') return;
    const io = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting) && !isFetchingNextPage) void fetchNextPage();
    });
    io.observe(el);
    return () => io.disconnect();
  }, [hasNextPage, isFetchingNextPage, fetchNextPage]);
  if (!allowed.ok) {
    return (
      <>
        <h2>Audit trail</h2>
        <div className="alert info" role="status">{allowed.reason}</div>
      </>
    );
  }
  const items = q.data?.pages.flatMap((p) => p.items) ?? [];
  const seenActions = [...new Set(items.map((r) => r.action))].sort();
  const seenTypes = [...new Set(items.map((r) => r.target_type).filter(Boolean) as string[])].sort();
  const errs = fieldErrors(q.error);
  const exportUrl = (format: 'csv' | 'jsonl') => buildUrl(`/v1/workspaces/${ws.id}/audit/export`, { ...auditQuery(f), format });
  const set = (k: keyof Filters, v: string) => setDraft((x) => ({ ...x, [k]: v }));
  return (
    <>
      <div className="row spread">
        <h2 style={{ margin: 0 }}>Audit trail</h2>
        <div className="row">
          <a className="button" href={exportUrl('csv')} download>Export CSV</a>
          <a className="button" href={exportUrl('jsonl')} download>Export JSON lines</a>
        </div>
      </div>
      <form className="panel" aria-label="Audit filters" onSubmit={(e) => (e.preventDefault(), setF(draft))}>
        <div className="row">
          <div style={{ flex: '1 1 160px' }}>
            <label htmlFor="au-actor">Who</label>
            <select id="au-actor" value={draft.actor} onChange={(e) => set('actor', e.target.value)}>
              <option value="">Anyone</option>
              {(members.data?.members ?? []).map((m) => <option key={m.user_id} value={m.user_id}>{m.display_name}</option>)}
            </select>
          </div>
          <TextFilter id="au-action" label="Action" width="160px" placeholder="e.g. bot.start" options={seenActions} value={draft.action} error={errs.action} onChange={(v) => set('action', v)} />
          <TextFilter id="au-type" label="Target type" width="140px" placeholder="e.g. bot" options={seenTypes} value={draft.target_type} error={errs.target_type} onChange={(v) => set('target_type', v)} />
          <TextFilter id="au-target" label="Target id" width="200px" value={draft.target_id} error={errs.target_id} onChange={(v) => set('target_id', v)} />
        </div>
        <div className="row">
          <div style={{ flex: '1 1 200px' }}>
            <label htmlFor="au-since">From</label>
            <input id="au-since" type="datetime-local" value={draft.since} onChange={(e) => set('since', e.target.value)} />
          </div>
          <div style={{ flex: '1 1 200px' }}>
            <label htmlFor="au-until">To</label>
            <input id="au-until" type="datetime-local" value={draft.until} onChange={(e) => set('until', e.target.value)} />
          </div>
        </div>
        <div className="row" style={{ marginTop: 10 }}>
          <button className="primary">Apply filters</button>
          <button type="button" onClick={() => (setDraft(NONE), setF(NONE))}>Clear</button>
        </div>
      </form>
      {q.isPending && <Loading what="Loading the audit trail" />}
      {q.error && Object.keys(errs).length === 0 && <ErrorBox error={q.error} retry={() => q.refetch()} />}
      {q.data && items.length === 0 && <Empty>Nothing recorded{f === NONE ? ' yet' : ' matches these filters'}.</Empty>}
      {items.length > 0 && (
        <div className="table-wrap panel" tabIndex={0} role="region" aria-label="Audit entries">
          <table data-testid="audit-table">
            <thead>
              <tr><th>When</th><th>Who</th><th>Action</th><th>Target</th><th className="opt">Changes</th><th className="opt">From</th></tr>
            </thead>
            <tbody>
              {items.map((r) => (
                <tr key={r.id} data-action={r.action}>
                  <td className="small">{when(r.at)}</td>
                  <td className="small">
                    {r.actor_user_id ? (names.get(r.actor_user_id) ?? <span className="mono">{r.actor_user_id.slice(0, 8)}</span>) : 'system'}
                    {r.actor_token_id && <div className="muted small">with an API token</div>}
                  </td>
                  <td className="mono small">{r.action}</td>
                  <td className="small">
                    {r.target_type ?? '—'}
                    {r.target_id && <div className="muted mono small" title={r.target_id}>{r.target_id.slice(0, 8)}</div>}
                  </td>
                  <td className="opt audit-changes">{changeWords(r.changes) || '—'}</td>
                  <td className="opt small" title={r.user_agent ?? undefined}>{r.ip ?? '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <div ref={end} />
      {hasNextPage && (
        <button onClick={() => fetchNextPage()} disabled={isFetchingNextPage}>{isFetchingNextPage ? 'Loading…' : 'Older entries'}</button>
      )}
      {q.data && !hasNextPage && items.length > 0 && <p className="muted small">That is everything{f === NONE ? '' : ' that matches'}.</p>}
    </>
  );
}
