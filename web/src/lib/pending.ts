// What a bot action waits for, in words, and when it is done.
export type BotAction = 'start' | 'stop' | 'restart';

const SENDING: Record<BotAction, string> = {
  start: 'Sending the start request…',
  stop: 'Sending the stop request…',
  restart: 'Sending the restart request…',
};

/**
 * `phase`: the request is being sent, was accepted, or nothing was asked. Once accepted the
 * action waits for the live status: online after a start or restart, offline after a stop
 * (an error ends the wait too: the page shows what happened instead). `fresh`: the status
 * began after the request was accepted — a restart's "online" read from before the restart
 * (a poll answered before the bot went down) is not the restart done.
 */
export function actionWait(
  phase: 'idle' | 'sending' | 'sent',
  action: BotAction | undefined,
  state: string | null | undefined,
  fresh = true,
): { text: string; done: boolean } | null {
  if (phase === 'idle' || !action) return null;
  if (phase === 'sending') return { text: SENDING[action], done: false };
  const wanted = action === 'stop' ? 'offline' : 'online';
  if (state === wanted && fresh) return { text: action === 'stop' ? 'Bot stopped ✓' : action === 'restart' ? 'Bot restarted and online ✓' : 'Bot online ✓', done: true };
  if (state === 'error') return { text: '', done: true };
  // The status badge beside it says why it takes long (a wait for Discord's next session start).
  return {
    text: action === 'stop' ? 'Stopping — waiting for the bot to disconnect from Discord…' : 'Starting — waiting for Discord to report the bot online…',
    done: false,
  };
}

/** Whether a status that began at `since` came after the action accepted at `acceptedAt`
 * (both the server's clock); unknown times count as fresh. */
export function isFresh(since: string | null | undefined, acceptedAt: string | null | undefined): boolean {
  if (!since || !acceptedAt) return true;
  const a = Date.parse(since);
  const b = Date.parse(acceptedAt);
  return Number.isNaN(a) || Number.isNaN(b) || a >= b;
}
