import { describe, expect, it } from 'vitest';
import { applyStatusEvent, badgeFor, guidanceFor, onItsWay, ownMessage } from './status';

describe('badgeFor', () => {
  it('gives every state a word and a symbol, not only a color', () => {
    for (const s of ['online', 'starting', 'reconnecting', 'stopping', 'error', 'offline']) {
      const b = badgeFor(s);
      expect(b.label.length).toBeGreaterThan(0);
      expect(b.symbol.length).toBeGreaterThan(0);
    }
    expect(badgeFor('online').tone).toBe('ok');
    expect(badgeFor('offline').tone).toBe('off');
  });
  it('explains errors in words, preferring the server message', () => {
    expect(badgeFor('error', 'invalid_token').detail).toBe('Discord refused the token');
    expect(badgeFor('error', 'disallowed_intents', 'enable MESSAGE_CONTENT').detail).toBe('enable MESSAGE_CONTENT');
    expect(badgeFor('error', 'some_new_reason').detail).toBe('some new reason');
    expect(badgeFor('online', 'invalid_token').detail).toBeUndefined();
    // A start that waits says why (a restart waiting for Discord's session-start slot).
    expect(badgeFor('starting', 'identify_wait', "waiting 4 s for Discord's next session start").detail).toMatch(/waiting 4 s/);
    expect(badgeFor('starting').detail).toBeUndefined();
  });
  it('handles unknown states', () => {
    expect(badgeFor('weird').state).toBe('unknown');
    expect(badgeFor(undefined).label).toBe('Unknown');
  });
  it('tells what to do for known errors', () => {
    expect(guidanceFor('disallowed_intents')).toMatch(/Privileged Gateway Intents/);
    expect(guidanceFor('nope')).toBeUndefined();
  });
});

describe('applyStatusEvent', () => {
  it('applies newer events and ignores older ones', () => {
    const a = applyStatusEvent(undefined, { state: 'starting' }, 5);
    const b = applyStatusEvent(a, { state: 'online', latency_ms: 42, guild_count: 3 }, 6);
    expect(b).toMatchObject({ state: 'online', latency_ms: 42, guild_count: 3, seq: 6 });
    const c = applyStatusEvent(b, { state: 'starting' }, 4);
    expect(c).toBe(b);
    const d = applyStatusEvent(b, { state: 'error', reason: 'crashed' }, 7);
    expect(d).toMatchObject({ state: 'error', reason: 'crashed', latency_ms: 42 });
  });
});

describe('ownMessage', () => {
  it('keeps the words of a status event, not its log-line prefix', () => {
    expect(ownMessage("shard 0/1 starting (identify_wait): waiting 5 s for Discord's next session start")).toBe("waiting 5 s for Discord's next session start");
    expect(ownMessage('shard 0/1 online')).toBeNull();
    expect(ownMessage('resumed the session')).toBe('resumed the session');
    expect(ownMessage(null)).toBeNull();
  });
});

describe('onItsWay', () => {
  it('is true while a bot has not reached the state it was asked for', () => {
    expect(onItsWay('running', 'starting')).toBe(true);
    expect(onItsWay('running', 'offline')).toBe(true);
    expect(onItsWay('stopped', 'stopping')).toBe(true);
    expect(onItsWay('stopped', 'online')).toBe(true);
  });
  it('is false once it is there, or stuck in an error it reports', () => {
    expect(onItsWay('running', 'online')).toBe(false);
    expect(onItsWay('stopped', 'offline')).toBe(false);
    expect(onItsWay('running', 'error')).toBe(false);
    expect(onItsWay(undefined, undefined)).toBe(false);
  });
});
