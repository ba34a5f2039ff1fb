import { useSearchParams, Navigate } from 'react-router';
import { safeNext } from '../api/client';
import { loginUrl, useMe, useProviders } from '../api/session';
import { ErrorBox, Loading } from '../components/ui';

export function SignIn() {
  const [params] = useSearchParams();
  const next = safeNext(params.get('next'));
  const me = useMe();
  const providers = useProviders();
  if (me.data) return <Navigate to={next} replace />;
  return (
    <main style={{ maxWidth: 420 }}>
      <h1>Sign in to botcenter</h1>
      <p className="muted">Control your Discord bots: commands, status and logs, live.</p>
      {params.get('expired') && <div className="alert info">Your session ended. Please sign in again.</div>}
      {providers.isPending && <Loading what="Loading sign-in options" />}
      <ErrorBox error={providers.error} retry={() => providers.refetch()} />
      {providers.data && providers.data.providers.length === 0 && <div className="alert info">No sign-in provider is configured on this server.</div>}
      <div style={{ display: 'grid', gap: 10 }}>
        {providers.data?.providers.map((p) => (
          <a key={p.name} className="button primary" href={loginUrl(p.name, next)} data-provider={p.name}>
            Sign in with {p.display_name}
          </a>
        ))}
      </div>
    </main>
  );
}
