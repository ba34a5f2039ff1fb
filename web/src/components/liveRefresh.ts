// The logs chart follows the live tail: each live event asks for a fresh summary, at most
// once every few seconds, the first a moment after the event (the live stream can be ahead
// of the stored rows the summary counts); the 60 s poll stays for when no tail is open.
import { useEffect, useMemo } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { throttle } from '../lib/throttle';

export const CHART_REFRESH_MS = 5_000;
const AFTER_EVENT_MS = 1_500;

/** A function to call on each live event: it refreshes the chart of `botId` (throttled). */
export function useChartRefresh(botId: string | undefined): () => void {
  const qc = useQueryClient();
  const refresh = useMemo(() => throttle(() => void qc.invalidateQueries({ queryKey: ['summary', botId ?? 'all'] }), CHART_REFRESH_MS, AFTER_EVENT_MS), [qc, botId]);
  useEffect(() => () => refresh.cancel(), [refresh]);
  return refresh;
}
