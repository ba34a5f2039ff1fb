import { describe, expect, it } from 'vitest';
import { fieldLabel, unshown } from '../components/ui';
import { errorMessage, fieldErrors } from '../api/errors';
import { validationError } from '../api/testing';
import { counterParts, lengthError, plainFieldMessage } from './fields';

describe('field error summary', () => {
  it('names nested fields in words', () => {
    expect(fieldLabel('options.0.name')).toBe('options › 1 › name');
    expect(fieldLabel('cooldown_user_s')).toBe('cooldown user s');
    expect(fieldLabel('_form')).toBe('');
  });
  it('keeps only errors the form does not show next to a control', () => {
    expect(unshown({ token: 'bad', scope: 'dup', _form: 'x' }, ['token'])).toEqual({ scope: 'dup', _form: 'x' });
  });
});

describe('field errors in plain words', () => {
  it('never shows raw validator text', () => {
    expect(plainFieldMessage('String should have at least 1 character')).toBe('Can’t be empty.');
    expect(plainFieldMessage('String should have at most 100 characters')).toBe('Too long: use at most 100 characters.');
    expect(plainFieldMessage('String should have at least 3 characters')).toBe('Too short: use at least 3 characters.');
    expect(plainFieldMessage('Field required')).toBe('Required.');
    expect(plainFieldMessage('Input should be a valid integer, unable to parse string as an integer')).toBe('Enter a whole number.');
    expect(plainFieldMessage('Input should be greater than or equal to 1')).toBe('Use 1 or more.');
    expect(plainFieldMessage('Input should be less than or equal to 60')).toBe('Use 60 or less.');
    expect(plainFieldMessage("Input should be 'online', 'idle' or 'dnd'")).toBe('Choose one of: online, idle, dnd.');
    expect(plainFieldMessage('Value error, must be an http:// or https:// URL with a host')).toMatch(/^Enter a full web address starting with http:\/\/ or https:\/\//);
    expect(plainFieldMessage('1 to 64 characters')).toBe('Use 1 to 64 characters.');
    expect(plainFieldMessage("String should match pattern '^[^@\\s]+@[^@\\s]+$'")).toBe('Enter an e-mail address, like ada@example.com.');
    expect(plainFieldMessage("String should match pattern '^[a-z]+$'")).toBe('Contains characters that are not allowed here.');
  });
  it('keeps the server’s own words, as a sentence', () => {
    expect(plainFieldMessage('Value error, must not contain a query or fragment')).toBe('Must not contain a query or fragment.');
    expect(plainFieldMessage('Discord refused this token')).toBe('Discord refused this token.');
  });
  it('maps the API’s fields onto form keys in plain words, one message per field', () => {
    const e = validationError(
      [
        { loc: ['body', 'name'], message: 'String should have at most 100 characters' },
        { loc: ['body', 'name'], message: 'String should have at most 100 characters' },
        { loc: ['body', 'connection', 'base_url'], message: 'Value error, must be an http:// or https:// URL with a host' },
      ],
      'invalid body.name: String should have at most 100 characters',
    );
    const errs = fieldErrors(e);
    expect(errs.name).toBe('Too long: use at most 100 characters.');
    expect(errs.base_url).toMatch(/^Enter a full web address/);
    expect(Object.values(errs).join(' ')).not.toMatch(/String should|Value error/);
    // Shown in a box instead (no field to put it at): still plain words, naming the field.
    expect(errorMessage(e)).toBe('Name: Too long: use at most 100 characters. Base url: Enter a full web address starting with http:// or https://, like https://api.example.com.');
  });
});

describe('length counters', () => {
  it('count before the limit and say how many too many after it', () => {
    expect(counterParts(12, 100)).toEqual({ count: '12 / 100' });
    expect(counterParts(300, 100)).toEqual({ count: '300 / 100', over: '200 characters too many' });
    expect(counterParts(101, 100)).toEqual({ count: '101 / 100', over: '1 character too many' });
  });
  it('check a length with the words the server’s refusal maps to', () => {
    expect(lengthError('  ', 100, { required: true })).toBe(plainFieldMessage('String should have at least 1 character'));
    expect(lengthError('x'.repeat(300), 100)).toBe(plainFieldMessage('String should have at most 100 characters'));
    expect(lengthError('ok', 100)).toBeUndefined();
  });
});
