import { describe, expect, it } from 'vitest';
import { bucketFor, rangeBounds, rangeError, rangeLabel } from './logRange';

const NOW = Date.parse('2026-12-07T12:00:00Z');

describe('time range', () => {
  it('counts relative ranges back from now, open-ended', () => {
    expect(rangeBounds({ key: '15m', from: '', to: '' }, NOW)).toEqual({ since: '2026-12-07T11:45:00.000Z' });
    expect(rangeBounds({ key: '1h', from: '', to: '' }, NOW)).toEqual({ since: '2026-12-07T11:00:00.000Z' });
    expect(rangeBounds({ key: '24h', from: '', to: '' }, NOW)).toEqual({ since: '2026-12-06T12:00:00.000Z' });
    expect(rangeBounds({ key: '7d', from: '', to: '' }, NOW)).toEqual({ since: '2026-11-30T12:00:00.000Z' });
  });
  it('sends a custom range as ISO 8601 (local input → UTC), either end open', () => {
    const from = '2026-12-07T10:00';
    const to = '2026-12-07T11:30';
    expect(rangeBounds({ key: 'custom', from, to }, NOW)).toEqual({ since: new Date(from).toISOString(), until: new Date(to).toISOString() });
    expect(rangeBounds({ key: 'custom', from, to: '' }, NOW)).toEqual({ since: new Date(from).toISOString(), until: undefined });
  });
  it('says in plain words when a custom range is backwards, and sends nothing then', () => {
    const r = { key: 'custom' as const, from: '2026-12-07T11:00', to: '2026-12-07T10:00' };
    expect(rangeError(r)).toBe('From must be before To.');
    expect(rangeBounds(r, NOW)).toEqual({});
    expect(rangeError({ key: '1h', from: 'x', to: '' })).toBeNull();
  });
  it('picks a chart bucket that keeps the bars few', () => {
    const at = (h: number) => new Date(NOW - h * 3600_000).toISOString();
    const now = new Date(NOW).toISOString();
    expect(bucketFor(at(0.25), now).label).toBe('minute');
    expect(bucketFor(at(1), now).label).toBe('minute');
    expect(bucketFor(at(24), now).label).toBe('15 minutes');
    expect(bucketFor(at(24 * 7), now).label).toBe('hour');
  });
  it('reads well in a caption', () => {
    expect(rangeLabel({ key: '1h', from: '', to: '' })).toBe('last hour');
    expect(rangeLabel({ key: 'custom', from: '', to: '' })).toBe('… – now');
  });
});
