import { plainFieldMessage } from '../lib/fields';
import { humanDuration } from '../lib/words';

// API errors: every error of the gateway is `{"error": {code, message, details, fields}}`.

export interface FieldIssue {
  loc: Array<string | number>;
  message: string;
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: Record<string, unknown>;
  readonly fields: FieldIssue[];
  readonly retryAfterS: number | null;

  constructor(
    status: number,
    code: string,
    message: string,
    details: Record<string, unknown> = {},
    fields: FieldIssue[] = [],
    retryAfterS: number | null = null,
  ) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details;
    this.fields = fields;
    this.retryAfterS = retryAfterS;
  }

  get unauthenticated(): boolean {
    return this.status === 401;
  }
}

const FALLBACK: Record<number, string> = {
  400: 'The request was not accepted.',
  401: 'Please sign in again.',
  403: 'You are not allowed to do that.',
  404: 'Not found — it may have been deleted.',
  409: 'That conflicts with something that already exists.',
  413: 'That is too large.',
  422: 'Some fields need attention.',
  429: 'Too many requests — please wait a moment.',
  500: 'The server had a problem. Please try again.',
  502: 'The server is not reachable right now.',
  503: 'A service is unavailable right now. Please try again shortly.',
  504: 'The server took too long to answer. Please try again.',
};

function asRecord(v: unknown): Record<string, unknown> | null {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}

/** Turn any response body into an ApiError with a message a person can read (never raw JSON). */
export function parseError(status: number, body: unknown, retryAfter?: string | null): ApiError {
  const retry = retryAfter != null && retryAfter !== '' && !Number.isNaN(Number(retryAfter)) ? Number(retryAfter) : null;
  const env = asRecord(asRecord(body)?.error);
  if (env) {
    const code = typeof env.code === 'string' ? env.code : `http_${status}`;
    let message = typeof env.message === 'string' && env.message.trim() ? env.message : FALLBACK[status] ?? `Request failed (${status}).`;
    const fields: FieldIssue[] = Array.isArray(env.fields)
      ? env.fields
          .map((f) => asRecord(f))
          .filter((f): f is Record<string, unknown> => f !== null)
          .map((f) => ({
            loc: Array.isArray(f.loc) ? f.loc.filter((p): p is string | number => typeof p === 'string' || typeof p === 'number') : [],
            message: typeof f.message === 'string' ? f.message : 'invalid value',
          }))
      : [];
    // The server's message may already say when ("… try again in about 10 min"): never say it twice.
    if (retry !== null && status === 429 && !/try again/i.test(message)) message = `${message} (try again in ${humanDuration(retry)})`;
    return new ApiError(status, code, message, asRecord(env.details) ?? {}, fields, retry);
  }
  // FastAPI's default `{"detail": ...}` or a proxy's HTML page: never show it raw.
  const detail = asRecord(body)?.detail;
  const message = typeof detail === 'string' ? detail : FALLBACK[status] ?? `Request failed (${status}).`;
  return new ApiError(status, `http_${status}`, message, {}, [], retry);
}

/** A network failure (server down, offline) as an ApiError with status 0. */
export function networkError(err: unknown): ApiError {
  const msg = err instanceof Error && err.name === 'AbortError' ? 'The request was cancelled.' : 'Cannot reach the server. Check your connection.';
  return new ApiError(0, 'network', msg);
}

// Wrapper segments the gateway or the services put before a form's own field names.
const UNION_TAGS = new Set(['template', 'http', 'ai']);
const WRAPPERS = new Set(['body', 'query', 'path', 'command', 'patch', 'settings', 'prompt', 'connection']);

/**
 * Map the server's field errors onto a form's field keys: `["body","command","options",0,"name"]`
 * → `options.0.name`. Errors that do not name a field go to `_form`.
 */
export function fieldErrors(err: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!(err instanceof ApiError)) return out;
  for (const f of err.fields) {
    const loc = [...f.loc];
    while (loc.length > 1 && typeof loc[0] === 'string' && WRAPPERS.has(loc[0])) loc.shift();
    // pydantic names the member of a tagged union (`response.template.content`): drop the tag.
    for (let i = 1; i < loc.length - 1; i++) if (loc[i - 1] === 'response' && UNION_TAGS.has(String(loc[i]))) loc.splice(i, 1);
    const key = loc.length === 0 || (loc.length === 1 && WRAPPERS.has(String(loc[0]))) ? '_form' : loc.join('.');
    const msg = plainFieldMessage(f.message);
    if (out[key]?.includes(msg)) continue;
    out[key] = out[key] ? `${out[key]} ${msg}` : msg;
  }
  return out;
}

/** The error for one field or any of its children (`options` also shows `options.0.name`). */
export function errorFor(errors: Record<string, string>, key: string): string | undefined {
  if (errors[key]) return errors[key];
  return undefined;
}

/** An error in words for a box (not next to a field): a refused input names its field in
 * plain words ("name: Too long: use at most 100 characters."), never the validator's text. */
export function errorMessage(err: unknown): string {
  if (err instanceof ApiError && err.status === 422 && err.fields.length > 0) {
    return Object.entries(fieldErrors(err))
      .map(([k, v]) => {
        const where = k.replace(/_/g, ' ');
        return k === '_form' ? v : `${where[0].toUpperCase()}${where.slice(1)}: ${v}`;
      })
      .join(' ');
  }
  if (err instanceof ApiError) return err.message;
  if (err instanceof Error) return err.message;
  return 'Something went wrong.';
}
