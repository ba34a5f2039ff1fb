import { describe, expect, it } from 'vitest';
import {
  backoffMs,
  ACCESS_CHANGED_TEXT,
  CLOSE_ACCESS_CHANGED,
  CLOSE_REVOKED,
  CLOSE_TOKEN_EXPIRED,
  CLOSE_TOO_MANY_STREAMS,
  StreamClient,
  type SocketLike,
} from './stream';

class FakeSocket implements SocketLike {
  readyState = 0;
  sent: unknown[] = [];
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  constructor(public protocols: string[]) {}
  send(data: string) {
    this.sent.push(JSON.parse(data));
  }
  close() {
    this.readyState = 3;
  }
  open() {
    this.readyState = 1;
    this.onopen?.({});
  }
  push(msg: unknown) {
    this.onmessage?.({ data: JSON.stringify(msg) });
  }
  drop(code = 1006, reason = '') {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
  /** The server's welcome and its confirmation of the filters: the stream is live. */
  greet() {
    this.push({ type: 'hello', user_id: 'u' });
    this.push({ type: 'subscribed', filters: {} });
  }
}

function harness() {
  const sockets: FakeSocket[] = [];
  const timers: Array<{ fn: () => void; ms: number }> = [];
  let tickets = 0;
  const client = new StreamClient({
    url: 'ws://x/v1/stream',
    ticket: async () => ['botcenter.v1', `ticket.t${++tickets}`],
    open: (_url, protocols) => {
      const s = new FakeSocket(protocols);
      sockets.push(s);
      return s;
    },
    setTimer: (fn, ms) => timers.push({ fn, ms }),
    clearTimer: () => undefined,
    random: () => 0.5,
  });
  return { client, sockets, timers };
}

const flush = () => new Promise((r) => setTimeout(r, 0));

/** Start the client and open the socket it asks for. */
async function connect(client: StreamClient, sockets: FakeSocket[]) {
  client.start();
  await flush();
  sockets[0].open();
}
const ev = (seq: number, id: string) => ({ type: 'event', seq, id, domain: 'log', kind: 'info', bot_id: 'b', event: { message: `m${seq}` } });

describe('StreamClient', () => {
  it('subscribes with filters, then resumes after the last event id on reconnect', async () => {
    const { client, sockets, timers } = harness();
    const got: number[] = [];
    client.onEvent((e) => got.push(e.seq));
    client.start({ bot_ids: ['b'], levels: ['error'] });
    await flush();
    expect(sockets[0].protocols).toEqual(['botcenter.v1', 'ticket.t1']);
    sockets[0].open();
    expect(sockets[0].sent[0]).toEqual({ type: 'subscribe', bot_ids: ['b'], kinds: [], levels: ['error'], domains: [] });
    expect(client.state).toBe('connecting'); // not live until the server confirms
    sockets[0].push({ type: 'subscribed', filters: {} });
    expect(client.state).toBe('live');
    sockets[0].push(ev(1, 'e1'));
    sockets[0].push(ev(2, 'e2'));
    sockets[0].drop(1006);
    expect(client.state).toBe('reconnecting');
    expect(timers).toHaveLength(1);
    timers[0].fn();
    await flush();
    expect(sockets[1].protocols[1]).toBe('ticket.t2'); // a fresh single-use ticket
    sockets[1].open();
    expect(sockets[1].sent[0]).toMatchObject({ type: 'subscribe', last_event_id: 'e2', bot_ids: ['b'] });
    expect(client.state).toBe('replaying');
    sockets[1].push(ev(2, 'e2')); // overlap is never shown twice
    sockets[1].push(ev(3, 'e3'));
    sockets[1].push({ type: 'subscribed', filters: {} });
    expect(client.state).toBe('replaying'); // still catching up
    sockets[1].push({ type: 'resumed', replayed: 1 });
    expect(client.state).toBe('live');
    expect(got).toEqual([1, 2, 3]);
  });

  it('backs off exponentially with a cap and resets after a good connection', async () => {
    expect(backoffMs(0, () => 1)).toBe(500);
    expect(backoffMs(3, () => 1)).toBe(4000);
    expect(backoffMs(20, () => 1)).toBe(15000);
    expect(backoffMs(2, () => 0)).toBe(1000);
    const { client, sockets, timers } = harness();
    client.start();
    await flush();
    sockets[0].drop();
    timers[0].fn();
    await flush();
    sockets[1].drop();
    expect(timers[1].ms).toBeGreaterThan(timers[0].ms);
    timers[1].fn();
    await flush();
    sockets[2].open();
    sockets[2].drop();
    expect(timers[2].ms).toBe(timers[0].ms);
  });

  it('stops on a revoked session instead of looping', async () => {
    const { client, sockets, timers } = harness();
    const states: string[] = [];
    client.onState((s) => states.push(s));
    await connect(client, sockets);
    sockets[0].drop(CLOSE_REVOKED, 'signed out everywhere');
    expect(client.state).toBe('unauthorized');
    expect(timers).toHaveLength(0);
  });

  it('says the access changed on 4403, reconnects once, and stops when refused again', async () => {
    const { client, sockets, timers } = harness();
    const told: string[] = [];
    client.onAccessChanged((info) => told.push(info));
    await connect(client, sockets);
    sockets[0].greet();
    expect(client.state).toBe('live');

    sockets[0].drop(CLOSE_ACCESS_CHANGED, 'access to a workspace changed; reconnect to see what you may still see');
    expect(client.state).toBe('access_changed');
    expect(told).toEqual([ACCESS_CHANGED_TEXT]);
    await flush();
    // One fresh stream right away: it shows what the user may still see.
    expect(sockets).toHaveLength(2);
    expect(timers).toHaveLength(0);

    // Refused again before it was live: the stream stops, no loop, the message stays.
    sockets[1].open();
    sockets[1].drop(CLOSE_ACCESS_CHANGED, '');
    await flush();
    expect(sockets).toHaveLength(2);
    expect(timers).toHaveLength(0);
    expect(client.state).toBe('access_changed');
  });

  it('is live again after the one reconnect a 4403 allows', async () => {
    const { client, sockets } = harness();
    await connect(client, sockets);
    sockets[0].greet();
    sockets[0].drop(CLOSE_ACCESS_CHANGED, 'removed from Team A');
    await flush();
    sockets[1].open();
    sockets[1].greet();
    expect(client.state).toBe('live');
  });

  it('reconnects at once and silently when the token expires, resuming after the last event', async () => {
    const { client, sockets, timers } = harness();
    const got: number[] = [];
    client.onEvent((e) => got.push(e.seq));
    client.start({ domains: ['bot'] });
    await flush();
    sockets[0].open();
    sockets[0].push({ type: 'hello', user_id: 'u', expires_at: '2030-01-01T00:00:00+00:00' });
    sockets[0].push({ type: 'subscribed', filters: {} });
    sockets[0].push(ev(1, 'e1'));
    sockets[0].push(ev(2, 'e2'));
    expect(client.state).toBe('live');
    const states: Array<[string, string | undefined]> = [];
    client.onState((s, info) => states.push([s, info]));

    sockets[0].drop(CLOSE_TOKEN_EXPIRED, 'the access token expired; reconnect with a fresh token');
    await flush();
    expect(timers).toHaveLength(0); // no backoff: right away
    expect(sockets[1].protocols[1]).toBe('ticket.t2'); // a fresh ticket (the session is refreshed there)
    sockets[1].open();
    expect(sockets[1].sent[0]).toMatchObject({ type: 'subscribe', last_event_id: 'e2', domains: ['bot'] });
    sockets[1].greet();
    sockets[1].push(ev(2, 'e2')); // the overlap is not shown twice
    sockets[1].push(ev(3, 'e3')); // missed while reconnecting: replayed
    sockets[1].push({ type: 'resumed', replayed: 1 });
    sockets[1].push(ev(4, 'e4'));
    expect(got).toEqual([1, 2, 3, 4]);
    expect(client.state).toBe('live');
    // Nothing but "live" was ever shown: no error, no "reconnecting", no "catching up".
    expect(states.every(([s, info]) => s === 'live' && info === undefined)).toBe(true);

    // It happens again an access-token lifetime later: same again.
    sockets[1].drop(CLOSE_TOKEN_EXPIRED, 'expired');
    await flush();
    expect(sockets[2].protocols[1]).toBe('ticket.t3');
    expect(timers).toHaveLength(0);
  });

  it('backs off when a stream is refused as expired before it opened (no tight loop)', async () => {
    const { client, sockets, timers } = harness();
    await connect(client, sockets);
    sockets[0].drop(CLOSE_TOKEN_EXPIRED, 'expired'); // refused at once: no hello
    await flush();
    expect(sockets).toHaveLength(1);
    expect(timers).toHaveLength(1);
    expect(client.state).toBe('reconnecting');
  });

  it('signs out when the expired session cannot be refreshed', async () => {
    let calls = 0;
    const sockets: FakeSocket[] = [];
    const client = new StreamClient({
      url: 'ws://x/v1/stream',
      ticket: async () => {
        calls += 1;
        if (calls > 1) throw Object.assign(new Error('sign in'), { status: 401 });
        return ['botcenter.v1', 'ticket.t1'];
      },
      open: (_url, protocols) => {
        const s = new FakeSocket(protocols);
        sockets.push(s);
        return s;
      },
      setTimer: () => undefined,
      clearTimer: () => undefined,
    });
    await connect(client, sockets);
    sockets[0].push({ type: 'hello', user_id: 'u' });
    sockets[0].drop(CLOSE_TOKEN_EXPIRED, 'expired');
    await flush();
    expect(client.state).toBe('unauthorized');
  });

  it('backs off and says why when the account has too many streams', async () => {
    const { client, sockets, timers } = harness();
    const infos: Array<string | undefined> = [];
    client.onState((_s, info) => infos.push(info));
    await connect(client, sockets);
    sockets[0].drop(CLOSE_TOO_MANY_STREAMS, 'this account has 20 live streams open');
    expect(client.state).toBe('reconnecting');
    expect(infos.at(-1)).toContain('20 live streams');
    expect(timers).toHaveLength(1);
  });

  it('sends filter changes on the open socket without last_event_id', async () => {
    const { client, sockets } = harness();
    await connect(client, sockets);
    sockets[0].push(ev(1, 'e1'));
    client.setFilters({ kinds: ['status'] });
    expect(sockets[0].sent[1]).toEqual({ type: 'subscribe', bot_ids: [], kinds: ['status'], levels: [], domains: [] });
  });
});
