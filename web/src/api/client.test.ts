import { afterEach, describe, expect, it, vi } from 'vitest';
import { api, onUnauthenticated } from './client';
import { ApiError } from './errors';

type Call = { url: string; method: string; headers: Record<string, string> };

function fakeFetch(responses: Array<[number, unknown]>) {
  const calls: Call[] = [];
  const fn = vi.fn(async (url: string, init: RequestInit) => {
    calls.push({ url, method: init.method ?? 'GET', headers: (init.headers ?? {}) as Record<string, string> });
    const [status, body] = responses.shift() ?? [500, null];
    return new Response(body === null ? null : JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
  });
  vi.stubGlobal('fetch', fn);
  return calls;
}

afterEach(() => vi.unstubAllGlobals());

describe('api client', () => {
  it('refreshes the session once on 401 and retries', async () => {
    vi.stubGlobal('document', { cookie: 'bc_csrf=tok' });
    const calls = fakeFetch([
      [401, { error: { code: 'unauthenticated', message: 'expired' } }],
      [200, { token_type: 'cookie' }],
      [200, { bots: [] }],
    ]);
    await expect(api.get('/v1/bots')).resolves.toEqual({ bots: [] });
    expect(calls.map((c) => `${c.method} ${c.url}`)).toEqual(['GET /v1/bots', 'POST /v1/auth/refresh', 'GET /v1/bots']);
    expect(calls[1].headers['X-CSRF-Token']).toBe('tok');
  });

  it('does not try a refresh without a session (signed out)', async () => {
    vi.stubGlobal('document', { cookie: '' });
    const calls = fakeFetch([[401, { error: { code: 'unauthenticated', message: 'sign in' } }]]);
    const err = (await api.get('/v1/me', undefined, { quiet401: true }).catch((e: unknown) => e)) as ApiError;
    expect(err.status).toBe(401);
    expect(calls.map((c) => `${c.method} ${c.url}`)).toEqual(['GET /v1/me']);
  });

  it('announces a lost session when the refresh fails', async () => {
    vi.stubGlobal('document', { cookie: 'bc_csrf=old' });
    fakeFetch([
      [401, { error: { code: 'unauthenticated', message: 'expired' } }],
      [401, { error: { code: 'unauthenticated', message: 'no refresh token' } }],
    ]);
    const lost = vi.fn();
    const off = onUnauthenticated(lost);
    const err = (await api.get('/v1/me/tokens').catch((e: unknown) => e)) as ApiError;
    off();
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(401);
    expect(lost).toHaveBeenCalledTimes(1);
  });

  it('sends the CSRF header on unsafe methods only', async () => {
    vi.stubGlobal('document', { cookie: 'bc_csrf=abc' });
    const calls = fakeFetch([
      [200, {}],
      [204, null],
    ]);
    await api.get('/v1/bots');
    await api.del('/v1/bots/1');
    expect(calls[0].headers['X-CSRF-Token']).toBeUndefined();
    expect(calls[1].headers['X-CSRF-Token']).toBe('abc');
  });

  it('turns a network failure into a readable error', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => Promise.reject(new TypeError('Failed to fetch'))));
    const err = (await api.get('/v1/bots').catch((e: unknown) => e)) as Error;
    expect(err.message).toBe('Cannot reach the server. Check your connection.');
  });
});
