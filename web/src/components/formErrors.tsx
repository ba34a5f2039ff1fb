// One way to show a form's errors: each next to its field (ui.tsx `Field`, in plain words,
// see lib/fields.ts) and all of them in a summary at the Save button that links to each
// field and moves focus to the first one after every failed attempt.
import { useEffect, useLayoutEffect, useRef, useState } from 'react';
import { counterParts } from '../lib/fields';
import { ErrorBox, fieldLabel } from './ui';

type Target = { id?: string; label?: string };

/** A form's controls in the summary's order: the field with `data-field=key`, its control and label. */
function findTargets(root: ParentNode, keys: string[]): Record<string, Target> {
  const out: Record<string, Target> = {};
  for (const k of keys) {
    const box = root.querySelector(`[data-field="${CSS.escape(k)}"]`);
    // Else a control named like the key's last part (`response.content` → name="content").
    // Not for list items (`options.0.name` is no command name).
    const byName = /(^|\.)\d+(\.|$)/.test(k) ? null : k.split('.').pop() ?? k;
    const control =
      box?.querySelector<HTMLElement>('input, select, textarea') ??
      (byName === null ? null : root.querySelector<HTMLElement>(`:is(input, select, textarea)[name="${CSS.escape(byName)}"]`));
    const label = (box?.querySelector('label, legend') ?? (control?.id ? root.querySelector(`label[for="${CSS.escape(control.id)}"]`) : null))?.textContent?.trim();
    out[k] = { id: control?.id || undefined, label: label || undefined };
  }
  return out;
}

function focusControl(el: HTMLElement | null | undefined): boolean {
  if (!el) return false;
  el.focus({ preventScroll: true });
  el.scrollIntoView?.({ block: 'center' });
  return document.activeElement === el;
}

/**
 * Every error of the last attempt, at the Save button: "Not saved — fix 2 fields", each a
 * link to its field. A new attempt (a new `attempt` value) moves focus to the first field
 * in error (or to this summary when no field shows it). Errors the form has no field for
 * (`_form`, a nested key) are listed here too, so none is ever hidden.
 */
export function ErrorSummary({
  errors,
  labels = {},
  attempt,
  what = 'Not saved',
}: {
  errors: Record<string, string>;
  /** Field names as the form labels them (else read from the form, else from the key). */
  labels?: Record<string, string>;
  /** Changes with each failed attempt (the mutation's error object): focus moves again. */
  attempt?: unknown;
  what?: string;
}) {
  const ref = useRef<HTMLDivElement>(null);
  const keys = Object.keys(errors);
  const sig = keys.join('\n');
  const [targets, setTargets] = useState<Record<string, Target>>({});
  useLayoutEffect(() => {
    const root = ref.current?.closest('form') ?? ref.current?.parentElement;
    if (!root || !sig) return;
    const t = findTargets(root, sig.split('\n'));
    setTargets((prev) => (JSON.stringify(prev) === JSON.stringify(t) ? prev : t));
  }, [sig]);
  useEffect(() => {
    if (!sig || attempt === undefined || attempt === null) return;
    const root = ref.current?.closest('form') ?? ref.current?.parentElement;
    const first = root?.querySelector<HTMLElement>('[aria-invalid="true"]');
    if (!focusControl(first)) focusControl(ref.current);
    // Only a new attempt moves focus, not a re-render.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [attempt]);
  if (keys.length === 0) return null;
  const fieldKeys = keys.filter((k) => k !== '_form');
  return (
    <div ref={ref} className="alert error error-summary" role="alert" tabIndex={-1} data-testid="error-summary">
      <strong>
        {what} —{' '}
        {fieldKeys.length === 0 ? 'please fix this:' : fieldKeys.length === 1 ? 'fix 1 field:' : `fix ${fieldKeys.length} fields:`}
      </strong>
      <ul>
        {keys.map((k) => {
          const name = k === '_form' ? '' : labels[k] ?? targets[k]?.label ?? fieldLabel(k);
          const id = targets[k]?.id;
          return (
            <li key={k}>
              {name &&
                (id ? (
                  <a
                    href={`#${id}`}
                    onClick={(e) => {
                      e.preventDefault();
                      focusControl(document.getElementById(id));
                    }}
                  >
                    {name}
                  </a>
                ) : (
                  <strong>{name}</strong>
                ))}
              {name && ': '}
              {errors[k]}
            </li>
          );
        })}
      </ul>
    </div>
  );
}

/** A failed save's errors at its Save button: the summary of its field errors, or the
 * error itself when it names no field. */
export function SaveErrors({
  error,
  errors,
  labels,
  what,
}: {
  error: unknown;
  errors: Record<string, string>;
  labels?: Record<string, string>;
  what?: string;
}) {
  return (
    <>
      <ErrorSummary errors={errors} labels={labels} attempt={error} what={what} />
      {error != null && Object.keys(errors).length === 0 && <ErrorBox error={error} />}
    </>
  );
}

/** How much of a length limit is used, shown before the limit is hit (and past it, by how much). */
export function Counter({ value, max }: { value: string; max: number }) {
  const n = value.length;
  const tone = n > max ? 'over' : n >= max * 0.9 ? 'near' : '';
  const { count, over } = counterParts(n, max);
  // "N too many" hides while the field shows its error (styles.css), which says it in words.
  return (
    <span className={`counter ${tone}`} data-testid="counter" aria-live={n > max ? 'polite' : 'off'}>
      {count}
      {over && <span className="counter-over"> — {over}</span>}
    </span>
  );
}
