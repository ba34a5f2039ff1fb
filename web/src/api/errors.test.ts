import { describe, expect, it } from 'vitest';
import { ApiError, fieldErrors, parseError } from './errors';
import { buildUrl, readCookie, safeNext } from './client';
import { validationError } from './testing';

describe('parseError', () => {
  it('reads the gateway envelope', () => {
    const e = parseError(409, { error: { code: 'conflict', message: 'this application is already added', details: { x: 1 }, fields: [] } });
    expect(e).toBeInstanceOf(ApiError);
    expect(e.code).toBe('conflict');
    expect(e.message).toBe('this application is already added');
    expect(e.details).toEqual({ x: 1 });
  });
  it('never shows raw JSON or HTML for unknown bodies', () => {
    expect(parseError(502, '<html>bad gateway</html>').message).toBe('The server is not reachable right now.');
    expect(parseError(500, null).message).toMatch(/server had a problem/);
    expect(parseError(418, { foo: 1 }).message).toBe('Request failed (418).');
  });
  it('adds the retry time to rate limits', () => {
    const e = parseError(429, { error: { code: 'rate_limited', message: 'slow down' } }, '7');
    expect(e.retryAfterS).toBe(7);
    expect(e.message).toBe('slow down (try again in 7 s)');
  });
  it('says a long wait in minutes', () => {
    expect(parseError(429, { error: { code: 'rate_limited', message: 'slow down' } }, '596').message).toBe('slow down (try again in about 10 min)');
  });
  it('does not say the retry time twice when the message has it', () => {
    const e = parseError(429, { error: { code: 'rate_limited', message: 'Discord limits how often a bot\'s avatar can change; try again in about 10 min' } }, '596');
    expect(e.message).toBe("Discord limits how often a bot's avatar can change; try again in about 10 min");
    expect(e.retryAfterS).toBe(596);
  });
  it('flags 401 as unauthenticated', () => {
    expect(parseError(401, { error: { code: 'unauthenticated', message: 'sign in' } }).unauthenticated).toBe(true);
  });
});

describe('fieldErrors', () => {
  it('maps server locations onto form keys', () => {
    const e = validationError([
      { loc: ['body', 'command', 'name'], message: 'must be lowercase' },
      { loc: ['body', 'command', 'options', 0, 'name'], message: 'Value error, too long' },
      { loc: ['body', 'token'], message: 'Discord refused this token' },
      { loc: ['body'], message: 'whole body wrong' },
      { loc: ['name'], message: 'also wrong' },
      { loc: ['body', 'command', 'response', 'template', 'content'], message: 'needs content' },
    ]);
    expect(fieldErrors(e)).toEqual({
      name: 'Must be lowercase. Also wrong.',
      'options.0.name': 'Too long.',
      token: 'Discord refused this token.',
      _form: 'Whole body wrong.',
      'response.content': 'Needs content.',
    });
  });
  it('is empty for other errors', () => {
    expect(fieldErrors(new Error('x'))).toEqual({});
  });
});

describe('client helpers', () => {
  it('reads the CSRF cookie', () => {
    expect(readCookie('bc_csrf', 'a=1; bc_csrf=abc%3D; z=2')).toBe('abc=');
    expect(readCookie('bc_csrf', 'a=1')).toBeNull();
  });
  it('keeps next on this site', () => {
    expect(safeNext('/bots/1?tab=logs')).toBe('/bots/1?tab=logs');
    expect(safeNext('//evil.example')).toBe('/');
    expect(safeNext('https://evil.example')).toBe('/');
    expect(safeNext('/\\evil')).toBe('/');
    expect(safeNext(null)).toBe('/');
  });
  it('builds query strings without empty values', () => {
    expect(buildUrl('/v1/logs', { bot_id: 'b', level: ['error', 'warning'], q: '', cursor: undefined })).toBe('/v1/logs?bot_id=b&level=error&level=warning');
  });
});
