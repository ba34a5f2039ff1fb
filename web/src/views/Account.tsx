import { useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api } from '../api/client';
import { fieldErrors } from '../api/errors';
import { loginUrl, useMe, useProviders } from '../api/session';
import type { ApiTokenCreated, ApiTokenList } from '../api/types';
import { Confirm, CopyButton, Empty, ErrorBox, Field, Loading, when } from '../components/ui';
import { Counter, SaveErrors } from '../components/formErrors';
import { useToast } from '../components/toast';
import { LIMITS } from '../lib/fields';

const SCOPES = ['bots:read', 'bots:write', 'commands:read', 'commands:write', 'files:read', 'files:write', 'logs:read', 'settings:read', 'settings:write'];

export default function Account() {
  const me = useMe();
  const providers = useProviders();
  const qc = useQueryClient();
  const [signingOutAll, setSigningOutAll] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const goSignIn = () => {
    qc.clear();
    window.location.assign('/signin');
  };
  const logout = useMutation({ mutationFn: () => api.post('/v1/auth/logout'), onSuccess: goSignIn });
  const logoutAll = useMutation({ mutationFn: () => api.post('/v1/auth/logout-all'), onSuccess: goSignIn });
  const del = useMutation({ mutationFn: () => api.del('/v1/me'), onSuccess: goSignIn });
  if (me.isPending) return <Loading />;
  if (me.error) return <ErrorBox error={me.error} />;
  const u = me.data;
  const linked = new Set((u.identities ?? []).map((i) => i.provider));
  return (
    <>
      <h1>Account</h1>
      <section className="panel" aria-labelledby="me-h">
        <h2 id="me-h" style={{ marginTop: 0 }}>You</h2>
        <div className="row">
          {u.avatar_url && <img src={u.avatar_url} alt="" width={48} height={48} style={{ borderRadius: '50%' }} />}
          <div>
            <strong data-testid="display-name">{u.display_name}</strong>
            <div className="muted small">{u.email ?? 'no email'} · member since {when(u.created_at)}</div>
          </div>
        </div>
        <h3>Sign-in methods</h3>
        <ul>
          {providers.data?.providers.map((p) => (
            <li key={p.name}>
              {p.display_name}: {linked.has(p.name) ? '✓ linked' : <a href={loginUrl(p.name, '/account', true)}>Link {p.display_name}</a>}
            </li>
          ))}
        </ul>
        <div className="row">
          <button onClick={() => logout.mutate()} disabled={logout.isPending}>Sign out</button>
          <button onClick={() => setSigningOutAll(true)}>Sign out everywhere</button>
        </div>
        <ErrorBox error={logout.error ?? logoutAll.error} />
        <Confirm open={signingOutAll} title="Sign out everywhere?" confirmLabel="Sign out everywhere" busy={logoutAll.isPending} onConfirm={() => logoutAll.mutate()} onCancel={() => setSigningOutAll(false)}>
          <p>Every browser signed in to your account is signed out, this one included.</p>
        </Confirm>
      </section>
      <Tokens />
      <section className="panel" aria-labelledby="del-acct">
        <h2 id="del-acct" style={{ marginTop: 0 }}>Delete account</h2>
        <p className="muted small">Stops and deletes all your bots, commands, files and logs, then your account.</p>
        <button className="danger" onClick={() => setDeleting(true)}>Delete my account…</button>
        <ErrorBox error={del.error} />
        <Confirm open={deleting} title="Delete your account?" typed="delete my account" confirmLabel="Delete everything" busy={del.isPending} onConfirm={() => del.mutate()} onCancel={() => setDeleting(false)}>
          <p>This cannot be undone.</p>
        </Confirm>
      </section>
    </>
  );
}

function Tokens() {
  const qc = useQueryClient();
  const tokens = useQuery({ queryKey: ['tokens'], queryFn: () => api.get<ApiTokenList>('/v1/me/tokens') });
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<string[]>(['bots:read']);
  const [days, setDays] = useState('90');
  const [created, setCreated] = useState<ApiTokenCreated | null>(null);
  const toast = useToast();
  const create = useMutation({
    mutationFn: () => api.post<ApiTokenCreated>('/v1/me/tokens', { name: name.trim(), scopes, expires_in_days: days ? Number(days) : null }),
    onSuccess: (t) => (setCreated(t), setName(''), toast('Token created ✓ — copy it now'), void qc.invalidateQueries({ queryKey: ['tokens'] })),
  });
  const revoke = useMutation({
    mutationFn: (id: string) => api.del(`/v1/me/tokens/${id}`),
    onSuccess: () => (toast('Token revoked ✓'), void qc.invalidateQueries({ queryKey: ['tokens'] })),
  });
  const errs = fieldErrors(create.error);
  const submit = (e: FormEvent) => (e.preventDefault(), create.mutate());
  return (
    <section className="panel" aria-labelledby="tok-h">
      <h2 id="tok-h" style={{ marginTop: 0 }}>Personal API tokens</h2>
      <p className="muted small">For scripts and CI: send as <code>Authorization: Bearer …</code>.</p>
      {created && (
        <div className="alert ok" role="status">
          <strong>Copy your new token now — it is shown only once.</strong>
          <div className="secret" data-testid="new-token">{created.token}</div>
          <div className="row" style={{ marginTop: 6 }}>
            <CopyButton text={created.token} />
            <button onClick={() => setCreated(null)}>Done</button>
          </div>
        </div>
      )}
      <form onSubmit={submit} aria-label="Create a token" noValidate>
        <Field label="Token name" name="name" error={errs.name} hint={<Counter value={name} max={LIMITS.tokenName} />}>{(p) => <input {...p} value={name} onChange={(e) => setName(e.target.value)} />}</Field>
        <fieldset data-field="scopes">
          <legend>Scopes</legend>
          {errs.scopes && <div className="field-error">{errs.scopes}</div>}
          {SCOPES.map((s) => (
            <label key={s} className="inline"><input type="checkbox" checked={scopes.includes(s)} onChange={() => setScopes((x) => (x.includes(s) ? x.filter((y) => y !== s) : [...x, s]))} /> {s}</label>
          ))}
        </fieldset>
        <Field label="Expires after (days, empty = never)" name="expires_in_days" error={errs.expires_in_days}>{(p) => <input {...p} type="number" min={1} value={days} onChange={(e) => setDays(e.target.value)} />}</Field>
        <SaveErrors errors={errs} error={create.error} what="Not created" />
        <button className="primary" style={{ marginTop: 8 }} disabled={!name.trim() || create.isPending}>{create.isPending ? 'Creating…' : 'Create token'}</button>
      </form>
      <h3>Your tokens</h3>
      {tokens.isPending && <Loading />}
      <ErrorBox error={tokens.error ?? revoke.error} retry={() => tokens.refetch()} />
      {tokens.data && tokens.data.tokens.length === 0 && <Empty>No tokens.</Empty>}
      {tokens.data && tokens.data.tokens.length > 0 && (
        <div className="table-wrap">
          <table>
            <thead><tr><th>Name</th><th className="opt">Scopes</th><th>Last used</th><th /></tr></thead>
            <tbody>
              {tokens.data.tokens.map((t) => (
                <tr key={t.id}>
                  <td>{t.name} <span className="muted small mono">…{t.last4}</span>{t.expires_at && <div className="muted small">expires {when(t.expires_at)}</div>}</td>
                  <td className="opt small">{t.scopes.join(', ')}</td>
                  <td className="small">{t.last_used_at ? when(t.last_used_at) : 'never'}</td>
                  <td><button className="danger" onClick={() => revoke.mutate(t.id)} disabled={revoke.isPending}>Revoke</button></td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
