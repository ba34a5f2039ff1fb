import { describe, expect, it } from 'vitest';
import { countOf, humanDuration, importSummary, plural, tabKeyTarget, testSummary, wantedWords } from './words';

describe('plural and countOf', () => {
  it('says "1 command", never "1 commands"', () => {
    expect(plural(1, 'command')).toBe('1 command');
    expect(plural(0, 'command')).toBe('0 commands');
    expect(countOf(1, 'commands')).toBe('1 command');
    expect(countOf(3, 'commands')).toBe('3 commands');
    expect(countOf(1, 'prompt')).toBe('1 prompt');
    expect(countOf(2, 'prompt')).toBe('2 prompts');
  });
});

describe('importSummary', () => {
  it('names what the import did, singular and plural right', () => {
    expect(importSummary({ created: { commands: 3 }, updated: { commands: 1 } })).toBe('Imported ✓ — 3 commands created, 1 updated');
    expect(importSummary({ created: { commands: 1 } })).toBe('Imported ✓ — 1 command created');
    expect(importSummary({ updated: { commands: 2 } })).toBe('Imported ✓ — 2 commands updated');
    expect(importSummary({ created: { commands: 1, prompts: 2 }, updated: { connections: 1 } })).toBe(
      'Imported ✓ — 1 command created; 2 prompts created; 1 connection updated',
    );
  });
  it('says nothing changed when everything was the same', () => {
    expect(importSummary({ created: {}, updated: { commands: 0 } })).toBe('Imported ✓ — nothing changed');
    expect(importSummary({})).toBe('Imported ✓ — nothing changed');
  });
});

describe('testSummary', () => {
  it('gives the reason, not "Failed · 0 ms", for a request never sent', () => {
    const s = testSummary({ ok: false, status: null, duration_ms: 0, error: 'loopback addresses are not allowed' });
    expect(s).toBe('✕ Failed: loopback addresses are not allowed');
    expect(s).not.toMatch(/0 ms/);
  });
  it('keeps status and time for requests that were answered', () => {
    expect(testSummary({ ok: true, status: 200, duration_ms: 41.6 })).toBe('✓ Reachable · HTTP 200 · 42 ms');
    expect(testSummary({ ok: false, status: 500, duration_ms: 12 })).toBe('✕ Failed · HTTP 500 · 12 ms');
    expect(testSummary({ ok: false, status: null, duration_ms: 5000, error: 'timed out' })).toBe('✕ Failed · 5000 ms');
  });
});

describe('wantedWords', () => {
  it('says what Start / Stop asked for in plain words', () => {
    expect(wantedWords('running')).toBe('set to run');
    expect(wantedWords('stopped')).toBe('set to stay stopped');
  });
});

describe('tabKeyTarget', () => {
  it('moves with Left/Right (wrapping) and jumps with Home/End', () => {
    expect(tabKeyTarget('ArrowRight', 0, 2)).toBe(1);
    expect(tabKeyTarget('ArrowRight', 1, 2)).toBe(0);
    expect(tabKeyTarget('ArrowLeft', 0, 3)).toBe(2);
    expect(tabKeyTarget('Home', 2, 3)).toBe(0);
    expect(tabKeyTarget('End', 0, 3)).toBe(2);
    expect(tabKeyTarget('Enter', 0, 3)).toBeNull();
  });
});

describe('humanDuration', () => {
  it('reads waits as people say them', () => {
    expect(humanDuration(0.2)).toBe('1 s');
    expect(humanDuration(45)).toBe('45 s');
    expect(humanDuration(596)).toBe('about 10 min');
    expect(humanDuration(600)).toBe('10 min');
    expect(humanDuration(7200)).toBe('2 h');
    expect(humanDuration(2 * 86_400 + 1000)).toBe('about 2 days');
  });
});
