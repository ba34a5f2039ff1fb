// A list shown as a table: on a narrow screen it scrolls sideways inside its own box (never the
// page), and that box is a named, focusable region so the keyboard can scroll it too.
import type { ReactNode } from 'react';

/** A column's heading; `optional` columns hide on a phone (styles.css `.opt`). */
export type Column = string | { label: string; optional: true };

export function ListTable({ label, columns, children }: { label: string; columns: Column[]; children: ReactNode }) {
  return (
    <div className="table-wrap panel" tabIndex={0} role="region" aria-label={label}>
      <table>
        <thead>
          <tr>
            {columns.map((c) => (typeof c === 'string' ? <th key={c}>{c}</th> : <th key={c.label} className="opt">{c.label}</th>))}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  );
}
