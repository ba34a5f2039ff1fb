// Helpers for the unit tests only (nothing in the app imports this file).
import { type ApiError, type FieldIssue, parseError } from './errors';

/** The gateway's answer to a request that failed validation (422), parsed as the client does. */
export function validationError(fields: FieldIssue[], message = 'invalid'): ApiError {
  return parseError(422, { error: { code: 'validation', message, fields } });
}
