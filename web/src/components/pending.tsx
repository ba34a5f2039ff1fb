// What a Start / Stop / Restart is waiting for, said while it waits and gone once the bot
// is there (issue #16: "Requested — watching the status live." stayed forever).
import { useEffect, useRef } from 'react';
import type { useBotAction } from '../api/bots';
import { actionWait, isFresh } from '../lib/pending';
import { useToast } from './toast';

export function ActionPending({
  action,
  state,
  since,
}: {
  action: ReturnType<typeof useBotAction>;
  state?: string | null;
  /** When the shown state began (the server's clock). */
  since?: string | null;
}) {
  const toast = useToast();
  const fresh = isFresh(since, action.data?.updated_at);
  const wait = actionWait(action.isPending ? 'sending' : action.isSuccess ? 'sent' : 'idle', action.variables, state, fresh);
  const announced = useRef<unknown>(null);
  useEffect(() => {
    // Once per request: the bot got where it was asked to go.
    if (wait?.done && wait.text && action.submittedAt && announced.current !== action.submittedAt) {
      announced.current = action.submittedAt;
      toast(wait.text);
    }
  }, [wait?.done, wait?.text, action.submittedAt, toast]);
  if (!wait || wait.done) return null;
  return (
    <span role="status" className="muted small" data-testid="action-pending">
      <span className="spinner" aria-hidden="true" /> {wait.text}
    </span>
  );
}
