import { describe, expect, it } from 'vitest';
import { appendBounded, backlogLines, filterQuery, lineFromEntry, lineFromEvent, matches, perMinute, sourceLink, sourceLinks, summaryPath, timeSlots, type Line } from './logs';

const line = (id: string, level = 'info', message = 'hello', kind = 'info'): Line => ({ id, at: '', level, kind, domain: 'log', botId: 'b', message });

describe('logs', () => {
  it('filters by level, kind and text', () => {
    const f = { levels: ['error'], kind: '', q: '' };
    expect(matches(line('1', 'error'), f)).toBe(true);
    expect(matches(line('1', 'info'), f)).toBe(false);
    expect(matches(line('1', 'info', 'Shard Ready'), { levels: [], kind: '', q: 'ready' })).toBe(true);
    expect(matches(line('1', 'info', 'x', 'status'), { levels: [], kind: 'executed', q: '' })).toBe(false);
  });
  it('keeps a bounded tail without duplicates', () => {
    let t: Line[] = [];
    for (let i = 0; i < 10; i++) t = appendBounded(t, line(String(i)), 5);
    t = appendBounded(t, line('9'), 5);
    expect(t.map((l) => l.id)).toEqual(['5', '6', '7', '8', '9']);
  });
  it('reads stream events', () => {
    const l = lineFromEvent({ type: 'event', seq: 1, id: 'e', domain: 'bot', kind: 'status', bot_id: 'b', event: { level: 'warning', message: 'reconnecting', occurred_at: 't' } });
    expect(l).toMatchObject({ id: 'e', level: 'warning', message: 'reconnecting', at: 't' });
    expect(lineFromEvent({ type: 'event', seq: 1, id: 'e', domain: 'bot', kind: 'status', bot_id: 'b', event: {} }).message).toBe('bot.status');
  });
  it('sums the chart per level', () => {
    const b = perMinute([{ start: '2026-01-01T00:00:00Z', counts: [{ level: 'info', count: 2 }, { level: 'info', count: 3 }, { level: 'error', count: 1 }] }]);
    expect(b[0].counts).toEqual({ info: 5, error: 1 });
  });
  it('turns filters into query parameters', () => {
    expect(filterQuery({ levels: [], kind: ' ', q: '' }, 'b')).toEqual({ bot_id: 'b', level: undefined, kind: undefined, q: undefined, since: undefined, until: undefined });
    expect(filterQuery({ levels: [], kind: '', q: ' greet ' }, undefined, { since: 's', until: 'u' })).toMatchObject({ q: 'greet', since: 's', until: 'u' });
  });
  it('opens the tail oldest first from a newest-first page', () => {
    const entry = (id: string) => ({ id, occurred_at: id, workspace_id: 'o', owner_id: 'o', bot_id: 'b', domain: 'log', kind: 'info', level: 'info' as const, message: id, payload: {} });
    expect(backlogLines([entry('3'), entry('2'), entry('1')]).map((l) => l.id)).toEqual(['1', '2', '3']);
  });
  it('links an error line to the command it came from, else to its connection', () => {
    const payload = { command_id: 'c1', connection_id: 'k1' };
    const failed = lineFromEntry({ id: 'e', occurred_at: 't', workspace_id: 'o', owner_id: 'o', bot_id: 'b1', domain: 'command', kind: 'executed', level: 'error', message: 'command /ask failed: x', payload });
    expect(sourceLink(failed)).toEqual({ to: '/bots/b1/commands/c1', label: 'Open the command' });
    expect(sourceLink({ ...failed, commandId: null })).toEqual({ to: '/connections#connection-k1', label: 'Open the connection' });
    expect(sourceLink({ ...failed, level: 'info' })).toBeNull();
    expect(sourceLinks(failed).map((l) => l.label)).toEqual(['Open the command', 'Open the connection']);
    expect(sourceLinks(failed)[1].to).toBe('/connections#connection-k1');
    expect(sourceLinks({ ...failed, connectionId: null }).map((l) => l.label)).toEqual(['Open the command']);
    expect(sourceLinks({ ...failed, level: 'info' })).toEqual([]);
    const live = lineFromEvent({ type: 'event', seq: 1, id: 'e', domain: 'command', kind: 'executed', bot_id: 'b1', event: { level: 'error', message: 'm', command_id: 'c1' } });
    expect(sourceLink(live)?.to).toBe('/bots/b1/commands/c1');
    expect(sourceLink(line('x', 'error'))).toBeNull();
  });
});

describe('timeSlots', () => {
  it('spreads buckets over the whole window, empty minutes included', () => {
    const since = '2026-01-01T00:00:00Z';
    const until = '2026-01-01T01:00:00Z';
    const slots = timeSlots(since, until, [{ start: Date.parse('2026-01-01T00:59:10Z'), counts: { info: 4 } }]);
    expect(slots).toHaveLength(60);
    expect(slots[59].counts).toEqual({ info: 4 });
    expect(slots.slice(0, 59).every((s) => Object.keys(s.counts).length === 0)).toBe(true);
  });
  it('charts one bot or all of them', () => {
    expect(summaryPath('b1')).toBe('/v1/bots/b1/events/summary');
    expect(summaryPath(undefined)).toBe('/v1/events/summary');
    expect(summaryPath('')).toBe('/v1/events/summary');
  });
});
