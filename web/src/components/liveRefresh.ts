// The logs chart follows the live tail: each live event asks for a fresh summary, at most
// once every few seconds (the 60 s poll stays for when no tail is open).
import { useEffect, useMemo } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { throttle } from '../lib/throttle';

export const CHART_REFRESH_MS = 5_000;

/** A function to call on each live event: it refreshes the chart of `botId` (throttled). */
export function useChartRefresh(botId: string | undefined): () => void {
  const qc = useQueryClient();
  const refresh = useMemo(() => throttle(() => void qc.invalidateQueries({ queryKey: ['summary', botId ?? 'all'] }), CHART_REFRESH_MS), [qc, botId]);
  useEffect(() => () => refresh.cancel(), [refresh]);
  return refresh;
}
