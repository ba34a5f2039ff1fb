import { describe, expect, it } from 'vitest';
import { actionWait, isFresh } from './pending';

describe('what a bot action waits for', () => {
  it('says what it waits for, and is done once the bot is there', () => {
    expect(actionWait('idle', undefined, 'online')).toBeNull();
    expect(actionWait('sending', 'restart', 'online')).toEqual({ text: 'Sending the restart request…', done: false });
    expect(actionWait('sent', 'restart', 'starting')?.text).toBe('Starting — waiting for Discord to report the bot online…');
    expect(actionWait('sent', 'start', 'online')).toEqual({ text: 'Bot online ✓', done: true });
    expect(actionWait('sent', 'stop', 'stopping')?.done).toBe(false);
    expect(actionWait('sent', 'stop', 'offline')).toEqual({ text: 'Bot stopped ✓', done: true });
  });
  it('ends the wait on an error (the page explains it instead)', () => {
    expect(actionWait('sent', 'start', 'error')?.done).toBe(true);
  });
  it('does not call a restart done on an "online" from before it', () => {
    const accepted = '2026-12-07T22:00:00.500000Z';
    expect(isFresh('2026-12-07T21:00:00Z', accepted)).toBe(false);
    expect(actionWait('sent', 'restart', 'online', false)).toEqual({ text: 'Starting — waiting for Discord to report the bot online…', done: false });
    expect(isFresh('2026-12-07T22:00:01Z', accepted)).toBe(true);
    expect(actionWait('sent', 'restart', 'online', true)?.done).toBe(true);
    expect(isFresh(undefined, accepted)).toBe(true);
  });
});
