import { describe, expect, it } from 'vitest';
import { savedWarningsNote, textToVars, varsToText } from './promptVars';

describe('prompt variables', () => {
  it('round-trips name = default lines', () => {
    expect(textToVars('tone = kind\n\n topic \nx=a=b')).toEqual({ tone: 'kind', topic: '', x: 'a=b' });
    expect(varsToText({ tone: 'kind', topic: '' })).toBe('tone = kind\ntopic = ');
  });
  it('notes warnings of a save', () => {
    expect(savedWarningsNote({ warnings: [] })).toBe('');
    expect(savedWarningsNote({ warnings: ['a', 'b'] })).toBe(' — 2 warnings: see its card');
    expect(savedWarningsNote(undefined)).toBe('');
  });
});
