// The one way the console talks to the gateway: same-origin fetch with the session cookie,
// the CSRF double-submit header on unsafe methods, typed errors, and one silent refresh of
// the access cookie when it expired (401) before giving up and asking to sign in.
import { ApiError, networkError, parseError } from './errors';

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export function readCookie(name: string, cookie: string = typeof document === 'undefined' ? '' : document.cookie): string | null {
  for (const part of cookie.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return decodeURIComponent(v.join('='));
  }
  return null;
}

type Listener = () => void;
const unauthListeners = new Set<Listener>();
/** Called when the session is gone (refresh failed): the app sends the user to sign in. */
export function onUnauthenticated(fn: Listener): () => void {
  unauthListeners.add(fn);
  return () => unauthListeners.delete(fn);
}

let refreshing: Promise<boolean> | null = null;
async function refreshSession(): Promise<boolean> {
  // No session to refresh: the gateway sets `bc_csrf` with the refresh cookie's lifetime, and
  // the refresh needs its value anyway. A signed-out visitor gets no failing refresh.
  if (!readCookie('bc_csrf')) return false;
  // Only one refresh at a time: refresh tokens rotate and reuse signs the session out.
  refreshing ??= (async () => {
    try {
      const res = await fetch('/v1/auth/refresh', {
        method: 'POST',
        credentials: 'same-origin',
        headers: csrfHeaders(),
      });
      return res.ok;
    } catch {
      return false;
    } finally {
      setTimeout(() => (refreshing = null), 0);
    }
  })();
  return refreshing;
}

function csrfHeaders(): Record<string, string> {
  const token = readCookie('bc_csrf');
  return token ? { 'X-CSRF-Token': token } : {};
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  query?: Record<string, string | number | boolean | undefined | null | string[]>;
  signal?: AbortSignal;
  /** Don't announce a 401 (used by `GET /v1/me` on the sign-in page). */
  quiet401?: boolean;
  raw?: boolean;
}

export function buildUrl(path: string, query?: RequestOptions['query']): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null || v === '') continue;
    if (Array.isArray(v)) v.forEach((x) => params.append(k, x));
    else params.append(k, String(v));
  }
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

async function send(path: string, opts: RequestOptions): Promise<Response> {
  const method = (opts.method ?? 'GET').toUpperCase();
  const headers: Record<string, string> = { Accept: 'application/json' };
  let body: BodyInit | undefined;
  if (opts.body instanceof FormData) body = opts.body;
  else if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.body);
  }
  if (UNSAFE.has(method)) Object.assign(headers, csrfHeaders());
  try {
    return await fetch(buildUrl(path, opts.query), { method, headers, body, credentials: 'same-origin', signal: opts.signal });
  } catch (err) {
    throw networkError(err);
  }
}

export async function toError(res: Response): Promise<ApiError> {
  let data: unknown = null;
  try {
    data = await res.json();
  } catch {
    /* not JSON: parseError falls back to a readable message */
  }
  return parseError(res.status, data, res.headers.get('Retry-After'));
}

export async function request<T>(path: string, opts: RequestOptions = {}): Promise<T> {
  let res = await send(path, opts);
  if (res.status === 401 && !path.startsWith('/v1/auth/')) {
    if (await refreshSession()) res = await send(path, opts);
  }
  if (!res.ok) {
    const err = await toError(res);
    if (err.unauthenticated && !opts.quiet401) unauthListeners.forEach((fn) => fn());
    throw err;
  }
  if (opts.raw) return res as unknown as T;
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

export const api = {
  get: <T>(path: string, query?: RequestOptions['query'], extra?: Omit<RequestOptions, 'query'>) => request<T>(path, { ...extra, query }),
  post: <T>(path: string, body?: unknown, extra?: RequestOptions) => request<T>(path, { ...extra, method: 'POST', body }),
  put: <T>(path: string, body?: unknown) => request<T>(path, { method: 'PUT', body }),
  patch: <T>(path: string, body?: unknown) => request<T>(path, { method: 'PATCH', body }),
  del: <T>(path: string) => request<T>(path, { method: 'DELETE' }),
};

/** Upload with progress (fetch has no upload progress): XMLHttpRequest, same error model,
 * and the same one refresh of an expired session before giving up. */
export async function upload<T>(path: string, form: FormData, onProgress: (fraction: number) => void, signal?: AbortSignal): Promise<T> {
  try {
    return await xhrUpload<T>(path, form, onProgress, signal);
  } catch (err) {
    if (!(err instanceof ApiError) || !err.unauthenticated) throw err;
    if (await refreshSession()) {
      try {
        return await xhrUpload<T>(path, form, onProgress, signal);
      } catch (again) {
        if (again instanceof ApiError && again.unauthenticated) unauthListeners.forEach((fn) => fn());
        throw again;
      }
    }
    unauthListeners.forEach((fn) => fn());
    throw err;
  }
}

function xhrUpload<T>(path: string, form: FormData, onProgress: (fraction: number) => void, signal?: AbortSignal): Promise<T> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', path);
    xhr.withCredentials = true;
    xhr.setRequestHeader('Accept', 'application/json');
    const csrf = readCookie('bc_csrf');
    if (csrf) xhr.setRequestHeader('X-CSRF-Token', csrf);
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onerror = () => reject(networkError(new Error('network')));
    xhr.onabort = () => reject(networkError(Object.assign(new Error('aborted'), { name: 'AbortError' })));
    xhr.onload = () => {
      let data: unknown = null;
      try {
        data = xhr.responseText ? JSON.parse(xhr.responseText) : null;
      } catch {
        /* handled below */
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(data as T);
      else reject(parseError(xhr.status, data, xhr.getResponseHeader('Retry-After')));
    };
    signal?.addEventListener('abort', () => xhr.abort());
    xhr.send(form);
  });
}

export function signInUrl(next: string): string {
  return `/signin?next=${encodeURIComponent(next)}`;
}

/** `next` must stay on this site: a relative path, never `//host` or a scheme. */
export function safeNext(next: string | null | undefined): string {
  if (!next || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return '/';
  return next;
}
