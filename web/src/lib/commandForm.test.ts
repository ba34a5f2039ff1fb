import { describe, expect, it } from 'vitest';
import { emptyCommand, emptyOption, emptySample, fromCommand, localErrors, parseChoices, parsePairs, previewBody, sampleOptions, toPayload } from './commandForm';
import type { CommandOut } from '../api/types';

describe('command form', () => {
  it('builds a slash command with typed options and choices', () => {
    const f = { ...emptyCommand(), name: 'roll', description: 'Roll dice', options: [{ ...emptyOption(), name: 'sides', description: 'how many', type: 'integer' as const, required: true, choices: 'six=6\ntwenty=20', min: '1', max: '' }] };
    const p = toPayload(f);
    expect(p.kind).toBe('slash');
    expect(p.options?.[0]).toEqual({ name: 'sides', description: 'how many', type: 'integer', required: true, choices: [{ name: 'six', value: 6 }, { name: 'twenty', value: 20 }], min_value: 1, max_value: null });
    expect(p.response).toEqual({ type: 'template', content: null });
  });
  it('drops options and descriptions where Discord has none', () => {
    const f = { ...emptyCommand(), kind: 'user' as const, name: 'Say hi', description: 'x', options: [emptyOption()] };
    const p = toPayload(f);
    expect(p.options).toEqual([]);
    expect(p.description).toBe('');
  });
  it('round-trips a saved command', () => {
    const saved = { id: 'c', bot_id: 'b', created_at: '', updated_at: '', name: 'ask', kind: 'slash', description: 'Ask AI', options: [], response: { type: 'ai', connection_id: 'k', prompt_id: 'p' }, guild_ids: ['123456789012345678'] } as CommandOut;
    const f = fromCommand(saved);
    expect(f.responseType).toBe('ai');
    expect(toPayload(f).response).toEqual({ type: 'ai', connection_id: 'k', prompt_id: 'p' });
    expect(toPayload(f).guild_ids).toEqual(['123456789012345678']);
  });
  it('finds local errors with the same keys as server field errors', () => {
    const f = { ...emptyCommand(), name: 'Bad Name', options: [emptyOption()], responseType: 'ai' as const };
    expect(localErrors(f)).toMatchObject({ name: expect.any(String), description: expect.any(String), 'options.0.name': expect.any(String), 'response.connection_id': expect.any(String), 'response.prompt_id': expect.any(String) });
    expect(localErrors({ ...emptyCommand(), name: 'hello', description: 'hi' })).toEqual({});
  });
  it('says a too-long name, description or reply template in words instead of cutting it', () => {
    const long = { ...emptyCommand(), name: 'a'.repeat(33), description: 'd'.repeat(101), content: 'c'.repeat(4001) };
    expect(localErrors(long)).toMatchObject({
      name: 'Too long: use at most 32 characters.',
      description: 'Too long: use at most 100 characters.',
      'response.content': 'Too long: use at most 4000 characters.',
    });
    expect(localErrors({ ...emptyCommand(), name: 'a'.repeat(32), description: 'd'.repeat(100), content: 'c'.repeat(4000) })).toEqual({});
  });
  it('parses choices with or without labels', () => {
    expect(parseChoices('a\nB = b\n\n', 'string')).toEqual([{ name: 'a', value: 'a' }, { name: 'B', value: 'b' }]);
  });
});

describe('http action', () => {
  it('sends query and headers as objects and reads them back', () => {
    const f = { ...emptyCommand(), name: 'w', description: 'weather', responseType: 'http' as const, connectionId: 'k', path: '/v1/w', query: 'q={{ options.city }}\nunits=metric', headers: 'X-Trace: 1' };
    const p = toPayload(f);
    expect(p.response).toMatchObject({ type: 'http', query: { q: '{{ options.city }}', units: 'metric' }, headers: { 'X-Trace': '1' } });
    const back = fromCommand({ id: 'c', bot_id: 'b', created_at: '', updated_at: '', name: 'w', response: p.response } as never);
    expect(back.query).toBe('q={{ options.city }}\nunits=metric');
    expect(parsePairs(back.headers, ':')).toEqual({ 'X-Trace': '1' });
  });
  it('types sample option values for a preview and leaves blanks out', () => {
    const opts = [
      { ...emptyOption(), name: 'who', type: 'string' as const },
      { ...emptyOption(), name: 'n', type: 'integer' as const },
      { ...emptyOption(), name: 'ratio', type: 'number' as const },
      { ...emptyOption(), name: 'loud', type: 'boolean' as const },
      { ...emptyOption(), name: 'odd', type: 'integer' as const },
      { ...emptyOption(), name: 'blank', type: 'string' as const },
      { ...emptyOption(), name: ' ', type: 'string' as const },
    ];
    const values = { who: ' Ada ', n: '3', ratio: '0.5', loud: 'TRUE', odd: 'three', blank: '  ', ' ': 'x' };
    expect(sampleOptions(opts, values)).toEqual({ who: 'Ada', n: 3, ratio: 0.5, loud: true, odd: 'three' });
  });
  it('previews what is in the form: the create body plus the sample, and the command it edits', () => {
    const f = { ...emptyCommand(), name: 'greet', description: 'Say hi', content: 'Hi {{ options.who }}!', options: [{ ...emptyOption(), name: 'who', description: 'w' }] };
    const body = previewBody(f, { values: { who: 'Ada' }, message: 'ignored for slash' });
    expect(body).toEqual({ ...toPayload(f), sample: { options: { who: 'Ada' } } });
    expect('command_id' in body).toBe(false);
    expect(previewBody(f, emptySample(), 'c1').command_id).toBe('c1');
    // A prefix command gets a message: its name, then the sample words.
    const echo = { ...emptyCommand(), kind: 'prefix' as const, name: 'echo', content: 'You said {{ options.text }}' };
    expect(previewBody(echo, { values: {}, message: ' hello there ' }).sample).toEqual({ content: 'echo hello there' });
    expect(previewBody(echo, emptySample()).sample).toEqual({});
    // Context menu commands take no sample options.
    expect(previewBody({ ...emptyCommand(), kind: 'user' as const, name: 'Wave' }, { values: { x: '1' }, message: '' }).sample).toEqual({});
  });
});
