import { cloneElement, useId, type ReactElement } from 'react';
import { Link } from 'react-router';
import { useCan } from '../api/workspaces';
import type { Permission } from '../api/types';

type Gate = {
  /** Several: every one is needed (the first one missing is the reason). */
  perm: Permission | Permission[];
  /** The resource's workspace; none: the workspace chosen in the header (or the personal one). */
  workspaceId?: string | null;
  botId?: string | null;
};

type Disableable = { disabled?: boolean; title?: string; 'aria-describedby'?: string };

/**
 * The one button of an action the caller may not use stays in place, disabled, with the
 * reason on hover (`title`) and for screen readers (`aria-describedby`): never hidden, so
 * nobody wonders where a feature went.
 */
export function Gated({ perm, workspaceId, botId, children }: Gate & { children: ReactElement<Disableable> }) {
  const verdict = useCan(perm, workspaceId, botId);
  const id = useId();
  if (verdict.ok) return children;
  const described = [children.props['aria-describedby'], `${id}-why`].filter(Boolean).join(' ');
  return (
    // A disabled button gets no hover in some browsers: the wrapper carries the tooltip too.
    <span className="gated" title={verdict.reason} data-gated={[perm].flat().join(' ')}>
      {cloneElement(children, { disabled: true, title: verdict.reason, 'aria-describedby': described })}
      <span id={`${id}-why`} hidden>
        {verdict.reason}
      </span>
    </span>
  );
}

/** A link styled as a button (e.g. "New command"): when refused, a disabled button instead. */
export function GatedLink({ perm, workspaceId, botId, to, className = 'button', children }: Gate & { to: string; className?: string; children: string }) {
  const verdict = useCan(perm, workspaceId, botId);
  if (verdict.ok) return <Link className={className} to={to}>{children}</Link>;
  return (
    <Gated perm={perm} workspaceId={workspaceId} botId={botId}>
      <button type="button" className={className.replace(/\bbutton\b/, '').trim() || undefined}>{children}</button>
    </Gated>
  );
}
