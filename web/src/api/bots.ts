import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api } from './client';
import { useStreamState } from '../components/stream';
import type { BotPage, BotStatus, BotView, PatchBot, ShardStatus } from './types';

export const useBots = () => useQuery({ queryKey: ['bots'], queryFn: () => api.get<BotPage>('/v1/bots') });
export const useBot = (id: string) => useQuery({ queryKey: ['bot', id], queryFn: () => api.get<BotView>(`/v1/bots/${id}`) });
/** Live status: pushed by the stream; polled every 5 s only while the stream is down. */
export function useStatus(id: string) {
  const live = useStreamState().state === 'live';
  return useQuery({ queryKey: ['status', id], queryFn: () => api.get<BotStatus>(`/v1/bots/${id}/status`), refetchInterval: live ? 60_000 : 5_000 });
}
export const useShards = (id: string) =>
  useQuery({ queryKey: ['shards', id], queryFn: () => api.get<{ bot_id: string; shards: ShardStatus[] }>(`/v1/bots/${id}/shards`) });

export function useBotAction(id: string) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (action: 'start' | 'stop' | 'restart') => api.post<BotView>(`/v1/bots/${id}/${action}`),
    onSuccess: (bot, action) => {
      qc.setQueryData(['bot', id], bot);
      // Immediate feedback; the stream then brings the real state.
      qc.setQueryData<BotStatus | undefined>(['status', id], (prev) =>
        prev ? { ...prev, state: action === 'stop' ? 'stopping' : 'starting', reason: null, message: null } : prev,
      );
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
