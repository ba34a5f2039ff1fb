import { describe, expect, it } from 'vitest';
import { insertVariable, logLineHref, resultSummary, runOfInteraction, variablesFor } from './templateVars';
import type { LogEntry, TemplateVariable } from '../api/types';

const ITEMS: TemplateVariable[] = [
  { path: 'guild.name', description: "the server's name", example: 'Sandbox', only: [] },
  { path: 'options.NAME', description: 'an option', example: '', only: ['slash', 'prefix'] },
  { path: 'target.id', description: 'the target', example: '', only: ['user', 'message'] },
  { path: 'data', description: 'the JSON answer', example: '', only: ['http'] },
  { path: 'vars.NAME', description: 'a prompt variable', example: '', only: ['ai'] },
];

describe('template variables', () => {
  it('lists what one command can use, one entry per option', () => {
    expect(variablesFor(ITEMS, 'slash', 'template', ['who', 'n']).map((v) => v.path)).toEqual(['guild.name', 'options.who', 'options.n']);
    expect(variablesFor(ITEMS, 'user', 'http', []).map((v) => v.path)).toEqual(['guild.name', 'target.id', 'data']);
    expect(variablesFor(ITEMS, 'slash', 'ai', []).map((v) => v.path)).toEqual(['guild.name']);
  });
  it('inserts at the cursor, replacing the selection', () => {
    expect(insertVariable('Hi !', 3, 3, 'user.name')).toEqual({ text: 'Hi {{ user.name }}!', cursor: 18 });
    expect(insertVariable('Hi XX', 3, 5, 'guild.name')).toEqual({ text: 'Hi {{ guild.name }}', cursor: 19 });
    expect(insertVariable('', 9, 9, 'bot.name').text).toBe('{{ bot.name }}');
  });
  it('says which steps ran and how long it took', () => {
    expect(resultSummary({ steps: ['rendered template'], duration_ms: 0.4 })).toBe('rendered template · 1 ms in all');
    expect(resultSummary({ steps: ['called AI connection llm · 120 ms'], duration_ms: 121.6 })).toBe('called AI connection llm · 120 ms · 122 ms in all');
  });
  it('links to one log line and finds a sandbox run by its interaction', () => {
    expect(logLineHref('e1', 'b1')).toBe('/logs?event=e1&bot=b1');
    const entry = (id: string, interaction: string): LogEntry => ({ id, occurred_at: '', workspace_id: '', owner_id: '', bot_id: 'b1', domain: 'command', kind: 'executed', level: 'error', message: '', payload: { interaction_id: interaction } }) as LogEntry;
    expect(runOfInteraction([entry('a', '1'), entry('b', '2')], '2')?.id).toBe('b');
    expect(runOfInteraction([entry('a', '1')], '3')).toBeUndefined();
  });
});
