import { useEffect } from 'react';
import { NavLink, Outlet, useLocation, useNavigate } from 'react-router';
import { useQueryClient } from '@tanstack/react-query';
import { onUnauthenticated, signInUrl } from '../api/client';
import { useMe } from '../api/session';
import { ErrorBox, Loading } from '../components/ui';
import { StreamProvider } from '../components/stream';
import { WorkspaceSwitcher } from '../components/workspaceSwitcher';
import { WS_PARAM } from '../api/workspaces';

const NAV = [
  ['/', 'Bots'],
  ['/prompts', 'Prompts'],
  ['/connections', 'Connections'],
  ['/files', 'Files'],
  ['/logs', 'Logs'],
  ['/team', 'Team'],
  ['/account', 'Account'],
] as const;

export function Layout() {
  const me = useMe();
  const nav = useNavigate();
  const loc = useLocation();
  const qc = useQueryClient();
  const here = loc.pathname + loc.search;
  const ws = new URLSearchParams(loc.search).get(WS_PARAM);
  useEffect(
    () =>
      onUnauthenticated(() => {
        qc.clear();
        nav(signInUrl(here) + '&expired=1', { replace: true });
      }),
    [nav, qc, here],
  );
  useEffect(() => {
    if (me.error && (me.error as { status?: number }).status === 401) nav(signInUrl(here), { replace: true });
  }, [me.error, nav, here]);

  if (me.isPending) return <main><Loading what="Checking your session" /></main>;
  if (me.error) return <main><ErrorBox error={me.error} retry={() => me.refetch()} /></main>;
  return (
    <StreamProvider>
      <a className="skip" href="#content">Skip to content</a>
      <header className="top">
        <NavLink to="/" className="brand">botcenter</NavLink>
        <nav className="main" aria-label="Main">
          {NAV.map(([to, label]) => (
            // The chosen workspace follows the user from page to page.
            <NavLink key={to} to={{ pathname: to, search: ws ? `?${WS_PARAM}=${encodeURIComponent(ws)}` : '' }} end={to === '/'}>
              {label}
            </NavLink>
          ))}
        </nav>
        <WorkspaceSwitcher />
        <span className="muted small" data-testid="who">{me.data.display_name}</span>
      </header>
      <main id="content" tabIndex={-1}>
        <Outlet />
      </main>
    </StreamProvider>
  );
}
