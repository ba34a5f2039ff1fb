import { useEffect, useId, useRef, useState, type ReactNode } from 'react';
import { errorMessage } from '../api/errors';
import { badgeFor } from '../lib/status';

export function Loading({ what = 'Loading' }: { what?: string }) {
  return (
    <p role="status" aria-live="polite" className="muted">
      <span className="spinner" aria-hidden="true" /> {what}…
    </p>
  );
}

export function ErrorBox({ error, retry }: { error: unknown; retry?: () => void }) {
  if (!error) return null;
  return (
    <div className="alert error" role="alert">
      {errorMessage(error)} {retry && <button onClick={retry}>Try again</button>}
    </div>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <div className="alert info">{children}</div>;
}

export function StatusBadge({ state, reason, message }: { state?: string | null; reason?: string | null; message?: string | null }) {
  const b = badgeFor(state, reason, message);
  return (
    <span className={`badge tone-${b.tone}`} data-state={b.state} title={b.detail ?? b.label}>
      <span aria-hidden="true">{b.symbol}</span>
      {b.label}
      {b.detail && <span className="small" style={{ fontWeight: 400 }}>— {b.detail}</span>}
    </span>
  );
}

type FieldProps = {
  label: string;
  /** The form key its errors come under: the error summary links here (formErrors.tsx). */
  name?: string;
  error?: string;
  hint?: ReactNode;
  children: (props: { id: string; 'aria-invalid': boolean; 'aria-describedby'?: string }) => ReactNode;
};

/** A labelled control with its hint and its server-side error next to it. */
export function Field({ label, name, error, hint, children }: FieldProps) {
  const id = useId();
  const describedBy = [hint ? `${id}-hint` : '', error ? `${id}-err` : ''].filter(Boolean).join(' ') || undefined;
  return (
    <div data-field={name}>
      <label htmlFor={id}>{label}</label>
      {children({ id, 'aria-invalid': Boolean(error), 'aria-describedby': describedBy })}
      {hint && (
        <div id={`${id}-hint`} className="muted small">
          {hint}
        </div>
      )}
      {error && (
        <div id={`${id}-err`} className="field-error">
          {error}
        </div>
      )}
    </div>
  );
}

/** A form's Submit (saying what it waits for while pending) and Cancel, and any more buttons. */
export function SubmitRow({
  pending,
  label,
  busy,
  onCancel,
  children,
}: {
  pending: boolean;
  label: string;
  busy: string;
  onCancel?: () => void;
  children?: ReactNode;
}) {
  return (
    <div className="row" style={{ marginTop: 12 }}>
      <button className="primary" disabled={pending}>{pending ? busy : label}</button>
      {onCancel && (
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      )}
      {children}
    </div>
  );
}

export function CopyButton({ text, label = 'Copy' }: { text: string; label?: string }) {
  const [done, setDone] = useState(false);
  return (
    <button
      type="button"
      onClick={async () => {
        try {
          await navigator.clipboard.writeText(text);
          setDone(true);
          setTimeout(() => setDone(false), 1500);
        } catch {
          window.prompt('Copy this value:', text);
        }
      }}
    >
      {done ? 'Copied ✓' : label}
    </button>
  );
}

/** A confirmation dialog; with `typed`, the user must type that word to confirm. */
export function Confirm({
  open,
  title,
  children,
  typed,
  confirmLabel = 'Confirm',
  busy,
  onConfirm,
  onCancel,
}: {
  open: boolean;
  title: string;
  children?: ReactNode;
  typed?: string;
  confirmLabel?: string;
  busy?: boolean;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const [text, setText] = useState('');
  const id = useId();
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) {
      setText('');
      d.showModal?.();
    } else if (!open && d.open) d.close();
  }, [open]);
  return (
    <dialog ref={ref} aria-labelledby={`${id}-t`} onCancel={(e) => (e.preventDefault(), onCancel())}>
      <h2 id={`${id}-t`}>{title}</h2>
      {children}
      {typed && (
        <>
          <label htmlFor={`${id}-i`}>
            Type <strong>{typed}</strong> to confirm
          </label>
          <input id={`${id}-i`} value={text} onChange={(e) => setText(e.target.value)} autoComplete="off" />
        </>
      )}
      <div className="row" style={{ marginTop: 12 }}>
        <button className="danger" disabled={busy || (typed !== undefined && text !== typed)} onClick={onConfirm}>
          {busy ? 'Working…' : confirmLabel}
        </button>
        <button onClick={onCancel}>Cancel</button>
      </div>
    </dialog>
  );
}

export function when(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** A secret's hint as the API gives it (`…abcd`), never the secret. */
export function hint(h: string | null | undefined): string {
  if (!h) return '…';
  return h.startsWith('…') ? h : `…${h}`;
}

/** Where a field error belongs, in words: `options.0.name` → "options 1 › name". */
export function fieldLabel(key: string): string {
  if (key === '_form') return '';
  return key
    .split('.')
    .map((p) => (/^\d+$/.test(p) ? String(Number(p) + 1) : p.replace(/_/g, ' ')))
    .join(' › ');
}

/** Every field error of a form in one list (some may name fields the form does not show). */
export function FieldSummary({ errors }: { errors: Record<string, string> }) {
  const entries = Object.entries(errors);
  if (entries.length === 0) return null;
  return (
    <div className="alert error" role="alert">
      <strong>Please fix:</strong>
      <ul style={{ margin: '4px 0 0' }}>
        {entries.map(([k, v]) => (
          <li key={k}>
            {fieldLabel(k) && <strong>{fieldLabel(k)}: </strong>}
            {v}
          </li>
        ))}
      </ul>
    </div>
  );
}

/** The field errors a form does not show next to a control (so none is ever hidden). */
export function unshown(errors: Record<string, string>, shown: string[]): Record<string, string> {
  return Object.fromEntries(Object.entries(errors).filter(([k]) => !shown.includes(k)));
}
