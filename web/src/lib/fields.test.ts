import { describe, expect, it } from 'vitest';
import { fieldLabel, unshown } from '../components/ui';

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
