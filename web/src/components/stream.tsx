import { createContext, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { api } from '../api/client';
import { ACCESS_CHANGED_TEXT, StreamClient, streamUrl, type StreamEvent, type StreamFilters, type StreamState } from '../api/stream';
import type { BotStatus, StreamTicket } from '../api/types';
import { applyStatusEvent } from '../lib/status';
import { useMe } from '../api/session';
import { useToast } from './toast';

/** Which workspaces' events a new stream shows: the server fixes them when the stream opens,
 * so a workspace joined (or left) since needs a new stream. */
function useStreamScope(): string {
  const all = useMe().data?.workspaces ?? [];
  return all
    .filter((w) => w.permissions.includes('logs.view'))
    .map((w) => w.id)
    .sort()
    .join(',');
}

export function newStreamClient(): StreamClient {
  return new StreamClient({
    url: streamUrl(),
    ticket: async () => (await api.post<StreamTicket>('/v1/stream/ticket')).protocols,
    open: (url, protocols) => new WebSocket(url, protocols) as unknown as import('../api/stream').SocketLike,
    setTimer: (fn, ms) => window.setTimeout(fn, ms),
    clearTimer: (t) => window.clearTimeout(t as number),
  });
}

const Ctx = createContext<{ state: StreamState; info?: string }>({ state: 'closed' });

/** One app-wide stream of status events: keeps every bot's badge live without reloads. */
export function StreamProvider({ children }: { children: ReactNode }) {
  const qc = useQueryClient();
  const [state, setState] = useState<{ state: StreamState; info?: string }>({ state: 'connecting' });
  const timers = useRef(new Map<string, number>());
  const scope = useStreamScope();
  const toast = useToast();
  useEffect(() => {
    const client = newStreamClient();
    const offState = client.onState((s, info) => {
      setState({ state: s, info });
      // A new stream (a workspace joined, a reconnect) saw nothing from before it opened: a bot
      // that went online meanwhile would keep its old badge until the 60 s poll.
      if (s === 'live') {
        void qc.invalidateQueries({ queryKey: ['status'] });
        void qc.invalidateQueries({ queryKey: ['shards'] });
      }
    });
    // What the user may see changed: their workspaces, roles and every list come again.
    const offAccess = client.onAccessChanged((info) => {
      toast(`Live updates: ${info}. The pages now show what you may still see.`);
      void qc.invalidateQueries();
    });
    const offEvent = client.onEvent((e: StreamEvent) => {
      if (e.domain !== 'bot' || e.kind !== 'status' || !e.bot_id) return;
      const botId = e.bot_id;
      const ev = e.event;
      const wholeBot = ev.shard_id == null || ev.shard_count === 1;
      if (wholeBot) {
        qc.setQueryData<BotStatus | undefined>(['status', botId], (prev) => {
          const live = applyStatusEvent(prev ? { ...prev, seq: (prev as { seq?: number }).seq } : undefined, ev, e.seq);
          return { ...(prev ?? { bot_id: botId, shards: [] }), ...live, since: live.since ?? prev?.since ?? new Date().toISOString() } as BotStatus;
        });
      }
      // The aggregate over shards (and the shard table) comes from the API: refetch, debounced.
      window.clearTimeout(timers.current.get(botId));
      timers.current.set(
        botId,
        window.setTimeout(() => {
          void qc.invalidateQueries({ queryKey: ['status', botId] });
          void qc.invalidateQueries({ queryKey: ['shards', botId] });
        }, 400),
      );
    });
    client.start({ domains: ['bot'], kinds: ['status'] });
    return () => {
      offState();
      offAccess();
      offEvent();
      client.stop();
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps -- `toast` is stable in use; a new one must not reopen the stream
  }, [qc, scope]);
  return <Ctx.Provider value={state}>{children}</Ctx.Provider>;
}

export function useStreamState() {
  return useContext(Ctx);
}

export function StreamIndicator() {
  const { state, info } = useStreamState();
  const text: Record<StreamState, string> = {
    connecting: 'Live updates: connecting…',
    live: 'Live updates: on',
    replaying: 'Catching up…',
    reconnecting: 'Live updates lost — reconnecting…',
    closed: 'Live updates off',
    unauthorized: 'Live updates stopped: please sign in again',
    access_changed: `Live updates stopped: ${ACCESS_CHANGED_TEXT}`,
  };
  return (
    // The console's own connection for live status and logs, not the bot's state: say so.
    <span className="small muted" role="status" aria-live="polite" data-stream-state={state} title="The console’s live connection to botcenter (status and logs update by themselves while it is on)">
      <span aria-hidden="true">{state === 'live' ? '● ' : '○ '}</span>
      {text[state]}
      {info && state !== 'live' ? ` (${info})` : ''}
    </span>
  );
}

/** A private stream with its own filters (the logs tail); `resumeAfter` (an event id) makes
 * it start with what came after that event, then live: no gap, no duplicate. */
export function useEventStream(filters: StreamFilters, onEvent: (e: StreamEvent) => void, enabled = true, resumeAfter: string | null = null) {
  const [state, setState] = useState<StreamState>('closed');
  const cb = useRef(onEvent);
  cb.current = onEvent;
  const key = JSON.stringify(filters);
  const clientRef = useRef<StreamClient | null>(null);
  const scope = useStreamScope();
  useEffect(() => {
    if (!enabled) return;
    const client = newStreamClient();
    clientRef.current = client;
    const offS = client.onState((s) => setState(s));
    const offE = client.onEvent((e) => cb.current(e));
    client.lastEventId = resumeAfter;
    client.start(JSON.parse(key));
    return () => {
      offS();
      offE();
      client.stop();
      clientRef.current = null;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [enabled, scope]);
  useEffect(() => {
    clientRef.current?.setFilters(JSON.parse(key));
  }, [key]);
  return useMemo(() => ({ state }), [state]);
}
