import { useId } from 'react';
import { PERMISSION_GROUPS, fromBits, parseBits, permissionNames, toggle } from '../lib/permissions';

type Props = {
  /** What the permissions are for, e.g. "Permissions the bot asks for". */
  label: string;
  /** The decimal bit field ('' = none). */
  value: string;
  onChange: (bits: string) => void;
  /** Shown under the summary line. */
  hint?: string;
  /** Closed by default (a long list in a form); the summary line names what is checked. */
  collapsed?: boolean;
};

const groupsStyle = { display: 'grid', gridTemplateColumns: 'repeat(auto-fill, minmax(13em, 1fr))', gap: '4px 12px' } as const;
const groupStyle = { border: '1px solid var(--border, #8884)', borderRadius: 6, padding: '4px 10px 8px', margin: '6px 0', minWidth: 0 } as const;

/** Discord's permissions as checkboxes grouped as Discord groups them; the bit field is
 * computed (and may still be typed: bits this list lacks are kept). */
export function PermissionsPicker({ label, value, onChange, hint, collapsed = false }: Props) {
  const id = useId();
  const checked = fromBits(value);
  const valid = parseBits(value) !== null;
  const names = permissionNames(value);
  const summary = names.length === 0 ? 'none' : names.length <= 4 ? names.join(', ') : `${names.slice(0, 3).join(', ')} and ${names.length - 3} more`;
  return (
    <details className="permissions-picker" open={!collapsed} data-testid="permissions-picker">
      <summary>
        <span id={`${id}-label`} style={{ fontWeight: 600 }}>{label}</span>: <span data-testid="permissions-summary">{summary}</span>
      </summary>
      {hint && <div className="muted small">{hint}</div>}
      <div role="group" aria-labelledby={`${id}-label`}>
        {PERMISSION_GROUPS.map((g) => (
          <fieldset key={g.name} style={groupStyle}>
            <legend className="small" style={{ fontWeight: 600 }}>{g.name}</legend>
            <div style={groupsStyle}>
              {g.permissions.map((perm) => (
                <label key={perm.key} className="inline" style={{ margin: 0, minWidth: 0, overflowWrap: 'anywhere' }}>
                  <input
                    type="checkbox"
                    name={perm.key}
                    checked={checked.has(perm.key)}
                    onChange={(e) => onChange(toggle(valid ? value : '', perm.key, e.target.checked))}
                  />
                  {perm.name}
                </label>
              ))}
            </div>
          </fieldset>
        ))}
      </div>
      <div className="row" style={{ marginTop: 6, flexWrap: 'wrap' }}>
        <label htmlFor={`${id}-bits`} className="small">Bit field</label>
        <input
          id={`${id}-bits`}
          inputMode="numeric"
          value={value}
          onChange={(e) => onChange(e.target.value.trim())}
          aria-invalid={!valid}
          aria-describedby={valid ? undefined : `${id}-bad`}
          style={{ width: '14em', maxWidth: '100%' }}
          data-testid="permissions-bits"
        />
      </div>
      {!valid && (
        <div id={`${id}-bad`} className="field-error">
          The bit field is a whole number, such as 2048 for Send Messages.
        </div>
      )}
    </details>
  );
}
