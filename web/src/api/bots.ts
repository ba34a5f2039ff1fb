import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api } from './client';
import { useStreamState } from '../components/stream';
import { useListQuery } from './workspaces';
import { onItsWay } from '../lib/status';
import type { BotPage, BotStatus, BotView, PatchBot, SandboxInfo, ShardStatus } from './types';

/** A bot's live status as kept in the query cache: the full status, or the list's brief. */
export type CachedStatus = BotStatus & { latency_ms?: number | null; guild_count?: number | null };

/**
 * The bots list carries each bot's live status (`status` in the items), seeded into the
 * per-bot status cache that the stream keeps live: no status request per bot. Polled every
 * 5 s while the stream is down, every 3 s while a bot starts or stops.
 */
export function useBots() {
  const qc = useQueryClient();
  const live = useStreamState().state === 'live';
  const ws = useListQuery();
  return useQuery({
    // Under ['bots'], so every `invalidateQueries(['bots'])` refreshes each workspace's list.
    queryKey: ['bots', ws.workspace_id ?? 'all'],
    queryFn: async () => {
      const page = await api.get<BotPage>('/v1/bots', ws);
      for (const b of page.bots) {
        if (!b.status) continue;
        const brief = b.status;
        qc.setQueryData<CachedStatus | undefined>(['status', b.id], (prev) => ({
          ...(prev ?? { bot_id: b.id, shards: [], since: new Date().toISOString() }),
          state: brief.state,
          reason: brief.reason ?? null,
          message: brief.message ?? null,
          latency_ms: brief.latency_ms ?? null,
          guild_count: brief.guild_count ?? null,
        }));
      }
      return page;
    },
    // While a bot is on its way (starting, stopping) the list is asked again every 3 s even
    // with the stream on: a badge never waits on one event alone to stop saying "Starting".
    refetchInterval: (q) => {
      if (!live) return 5_000;
      const moving = (q.state.data?.bots ?? []).some((b) => onItsWay(b.desired_state, qc.getQueryData<CachedStatus>(['status', b.id])?.state));
      return moving ? 3_000 : false;
    },
  });
}
/** The cached live status only (seeded by the list, updated by the stream); never fetched. */
export const useCachedStatus = (id: string) =>
  useQuery({ queryKey: ['status', id], queryFn: () => api.get<CachedStatus>(`/v1/bots/${id}/status`), enabled: false });
/** Whether the server runs against the discord-sandbox (Try it invokes real commands). */
export const useSandbox = () => useQuery({ queryKey: ['sandbox'], queryFn: () => api.get<SandboxInfo>('/v1/sandbox'), staleTime: 300_000 });
export const useBot = (id: string) => useQuery({ queryKey: ['bot', id], queryFn: () => api.get<BotView>(`/v1/bots/${id}`) });
/** Live status: pushed by the stream; polled every 5 s only while the stream is down. */
export function useStatus(id: string) {
  const live = useStreamState().state === 'live';
  const bot = useQueryClient().getQueryData<BotView>(['bot', id]);
  return useQuery({
    queryKey: ['status', id],
    queryFn: () => api.get<BotStatus>(`/v1/bots/${id}/status`),
    refetchInterval: (q) => (!live ? 5_000 : onItsWay(bot?.desired_state, q.state.data?.state) ? 3_000 : 60_000),
  });
}
export const useShards = (id: string) =>
  useQuery({ queryKey: ['shards', id], queryFn: () => api.get<{ bot_id: string; shards: ShardStatus[] }>(`/v1/bots/${id}/shards`) });

export function useBotAction(id: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (action: 'start' | 'stop' | 'restart') => api.post<BotView>(`/v1/bots/${id}/${action}`),
    // Immediate feedback, set before the request: the stream's events, which may arrive
    // before the reply, then win (set after the reply, "Starting" could overwrite an
    // "Online" that had already come and stay until the next refetch).
    onMutate: (action) => {
      const busy = action === 'stop' ? 'stopping' : 'starting';
      qc.setQueryData<BotStatus | undefined>(['status', id], (prev) =>
        // The shard rows too: never "Starting" above a shard row still saying Online.
        prev ? { ...prev, state: busy, reason: null, message: null, shards: (prev.shards ?? []).map((x) => ({ ...x, state: busy, reason: null, message: null })) } : prev,
      );
    },
    onError: () => void qc.invalidateQueries({ queryKey: ['status', id] }),
    onSuccess: (bot) => {
      qc.setQueryData(['bot', id], bot);
      void qc.invalidateQueries({ queryKey: ['bots'] });
    },
  });
}

export function useUpdateBot(id: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (patch: PatchBot) => api.patch<BotView>(`/v1/bots/${id}`, patch),
    onSuccess: (bot) => {
      qc.setQueryData(['bot', id], bot);
      void qc.invalidateQueries({ queryKey: ['bots'] });
    },
  });
}
