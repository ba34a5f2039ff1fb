// The live stream (`/v1/stream` websocket): a ticket from `POST /v1/stream/ticket`, offered
// as subprotocols (never in the URL); a subscribe message with filters; on reconnect the
// subscribe carries `last_event_id`, so the server replays what was missed, then live.
// The stream closes when the access token behind its ticket expires (4419): the client then
// reconnects at once and silently (a fresh ticket, which refreshes the session cookie if it
// must), resuming after the last event, so nothing is lost and no error is shown.

export interface StreamEvent {
  type: 'event';
  seq: number;
  id: string;
  domain: string;
  kind: string;
  bot_id: string | null;
  event: Record<string, unknown> & { message?: string; level?: string; occurred_at?: string };
}

export interface StreamFilters {
  bot_ids?: string[];
  kinds?: string[];
  levels?: string[];
  domains?: string[];
}

export type StreamState = 'connecting' | 'live' | 'replaying' | 'reconnecting' | 'closed' | 'unauthorized' | 'access_changed';

/** What the console says when the server closes a stream with 4403. */
export const ACCESS_CHANGED_TEXT = 'your access to this workspace changed';

export interface SocketLike {
  readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

export interface StreamDeps {
  /** get the subprotocols to offer (a fresh single-use ticket each time) */
  ticket: () => Promise<string[]>;
  open: (url: string, protocols: string[]) => SocketLike;
  url: string;
  setTimer: (fn: () => void, ms: number) => unknown;
  clearTimer: (t: unknown) => void;
  random?: () => number;
}

/** Exponential backoff with jitter: 0.5 s, 1 s, 2 s … capped at 15 s. */
export function backoffMs(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(15000, 500 * 2 ** Math.max(0, attempt));
  return Math.round(base * (0.5 + random() / 2));
}

// Close codes of the stream: `proto.logs.StreamClose` (a test checks they match).
export const CLOSE_GOING_AWAY = 1001; // server shutting down: reconnect
export const CLOSE_ORIGIN_REFUSED = 1008; // this page's origin is not allowed
export const CLOSE_INTERNAL = 1011; // could not replay: reconnect with last_event_id
export const CLOSE_TRY_AGAIN = 1013; // too slow / server busy or starting: back off, reconnect
export const CLOSE_UNAUTHORIZED = 4401; // signed out, revoked or bad credentials: sign in again
export const CLOSE_ACCESS_CHANGED = 4403; // access to a workspace changed (#17): reconnect without it
export const CLOSE_TOKEN_EXPIRED = 4419; // the token expired: reconnect now with a fresh ticket
export const CLOSE_TOO_MANY_STREAMS = 4429; // too many streams of this account: back off
/** @deprecated use CLOSE_UNAUTHORIZED */
export const CLOSE_REVOKED = CLOSE_UNAUTHORIZED;

export class StreamClient {
  private deps: StreamDeps;
  private sock: SocketLike | null = null;
  private filters: StreamFilters = {};
  private attempt = 0;
  private timer: unknown = null;
  private stopped = false;
  /** Reconnecting because the token expired: keep the state shown (no error, no flicker). */
  private silent = false;
  /** The current socket was accepted (the server said hello). */
  private greeted = false;
  /** Reconnected once after a 4403 and not live since: another 4403 stops the stream. */
  private accessRetried = false;
  private seen = new Set<string>();
  private seenOrder: string[] = [];
  lastEventId: string | null = null;
  state: StreamState = 'closed';
  private listeners = new Set<(e: StreamEvent) => void>();
  private stateListeners = new Set<(s: StreamState, info?: string) => void>();
  private accessListeners = new Set<(info: string) => void>();

  constructor(deps: StreamDeps) {
    this.deps = deps;
  }

  onEvent(fn: (e: StreamEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  onState(fn: (s: StreamState, info?: string) => void): () => void {
    this.stateListeners.add(fn);
    return () => this.stateListeners.delete(fn);
  }

  /** Called when the server closed the stream because the user's access changed (4403). */
  onAccessChanged(fn: (info: string) => void): () => void {
    this.accessListeners.add(fn);
    return () => this.accessListeners.delete(fn);
  }

  private setState(s: StreamState, info?: string): void {
    this.state = s;
    this.stateListeners.forEach((fn) => fn(s, info));
  }

  start(filters: StreamFilters = {}): void {
    this.filters = filters;
    this.stopped = false;
    if (!this.sock) void this.connect();
  }

  /** Change filters at any time (the server applies them to the next events). */
  setFilters(filters: StreamFilters): void {
    this.filters = filters;
    if (this.sock && this.sock.readyState === 1) this.sendSubscribe(false);
  }

  stop(): void {
    this.stopped = true;
    this.silent = false;
    if (this.timer !== null) this.deps.clearTimer(this.timer);
    this.timer = null;
    const s = this.sock;
    this.sock = null;
    if (s) {
      s.onclose = null;
      s.close(1000, 'bye');
    }
    this.setState('closed');
  }

  private async connect(): Promise<void> {
    if (!this.silent) this.setState(this.attempt === 0 ? 'connecting' : 'reconnecting');
    let protocols: string[];
    try {
      protocols = await this.deps.ticket();
    } catch (err) {
      this.silent = false;
      if ((err as { status?: number })?.status === 401) {
        this.setState('unauthorized');
        return;
      }
      this.scheduleReconnect();
      return;
    }
    if (this.stopped) return;
    const sock = this.deps.open(this.deps.url, protocols);
    this.sock = sock;
    this.greeted = false;
    sock.onopen = () => {
      this.attempt = 0;
      this.sendSubscribe(true);
    };
    sock.onmessage = (ev) => this.onMessage(ev.data);
    sock.onerror = () => undefined;
    sock.onclose = (ev) => {
      this.sock = null;
      if (this.stopped) return;
      if (ev.code === CLOSE_UNAUTHORIZED) {
        this.silent = false;
        this.setState('unauthorized', ev.reason);
        return;
      }
      if (ev.code === CLOSE_ACCESS_CHANGED) {
        // Removed from a workspace or a lower role: say so, and reconnect once at once (the
        // new stream shows what the user may still see). Refused again before it was live:
        // stop, never loop against a server that keeps saying no.
        // The server's reason is written for programs ("reconnect to see…"): people get ours.
        const info = ACCESS_CHANGED_TEXT;
        this.accessListeners.forEach((fn) => fn(info));
        this.setState('access_changed', info);
        if (this.greeted && !this.accessRetried) {
          this.accessRetried = true;
          this.silent = true;
          void this.connect();
        } else this.silent = false;
        return;
      }
      if (ev.code === CLOSE_TOKEN_EXPIRED && this.greeted) {
        // Routine: the access token's lifetime is over. A fresh ticket (the API client
        // refreshes the session on its 401) and resume after the last event, right away.
        this.silent = true;
        void this.connect();
        return;
      }
      // Refused as expired at once (clocks apart?), or anything else: back off.
      this.silent = false;
      this.scheduleReconnect(ev.reason);
    };
  }

  private scheduleReconnect(reason?: string): void {
    if (this.stopped) return;
    this.setState('reconnecting', reason);
    const delay = backoffMs(this.attempt, this.deps.random);
    this.attempt += 1;
    this.timer = this.deps.setTimer(() => {
      this.timer = null;
      void this.connect();
    }, delay);
  }

  private sendSubscribe(first: boolean): void {
    const msg: Record<string, unknown> = {
      type: 'subscribe',
      bot_ids: this.filters.bot_ids ?? [],
      kinds: this.filters.kinds ?? [],
      levels: this.filters.levels ?? [],
      domains: this.filters.domains ?? [],
    };
    // 'live' only once the server confirms (`subscribed`/`resumed`): the socket may be open
    // at a proxy before the log-service behind it has the subscription.
    if (first && this.lastEventId) {
      msg.last_event_id = this.lastEventId;
      if (!this.silent) this.setState('replaying');
    }
    this.sock?.send(JSON.stringify(msg));
  }

  private remember(id: string): boolean {
    if (this.seen.has(id)) return false;
    this.seen.add(id);
    this.seenOrder.push(id);
    if (this.seenOrder.length > 5000) this.seen.delete(this.seenOrder.shift() as string);
    return true;
  }

  private onMessage(data: unknown): void {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(String(data));
    } catch {
      return;
    }
    switch (msg.type) {
      case 'event': {
        const ev = msg as unknown as StreamEvent;
        if (ev.id && !this.remember(ev.id)) return; // a replay overlap: never show twice
        if (ev.id) this.lastEventId = ev.id;
        this.listeners.forEach((fn) => fn(ev));
        break;
      }
      case 'hello':
        this.greeted = true;
        break;
      case 'subscribed':
        if (this.state === 'connecting' || this.state === 'reconnecting' || this.state === 'access_changed') this.setState('live');
        this.accessRetried = false;
        if (!this.lastEventId) this.silent = false; // no resume follows
        break;
      case 'resumed':
        if (!this.silent || this.state !== 'live') this.setState('live');
        this.silent = false;
        break;
      case 'resume_failed':
        this.silent = false;
        this.setState('live', 'some events could not be replayed; see the history view');
        break;
      default:
        break;
    }
  }
}

export function streamUrl(loc: { protocol: string; host: string } = window.location): string {
  return `${loc.protocol === 'https:' ? 'wss' : 'ws'}://${loc.host}/v1/stream`;
}
