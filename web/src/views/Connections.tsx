import { useState, type FormEvent } from 'react';
import { useMutation } from '@tanstack/react-query';
import { api } from '../api/client';
import { fieldErrors } from '../api/errors';
import type { ConnectionIn, ConnectionOut, ConnectionTestResult } from '../api/types';
import { CatalogPage, EditorActions, useCatalogEditor, type EditorProps } from '../components/catalog';
import { testSummary } from '../lib/words';
import { ErrorBox, Field } from '../components/ui';
import { Counter, ErrorSummary } from '../components/formErrors';
import { LIMITS } from '../lib/fields';
import { Gated } from '../components/gated';

type AuthType = NonNullable<ConnectionIn['auth_type']>;
const AUTH: Record<AuthType, string> = { none: 'None', bearer: 'Bearer token', header: 'Header', basic: 'Basic (user + password)', query: 'Query parameter' };

export default function Connections() {
  return (
    <CatalogPage<ConnectionOut>
      resource="connections"
      title="API connections"
      newLabel="New connection"
      intro="Third-party APIs your commands call (HTTP actions, AI). Credentials are encrypted and never shown again."
      Editor={ConnectionEditor}
      details={(c, edit) => (
        <>
          <div className="muted small mono" style={{ overflowWrap: 'anywhere' }}>{c.base_url}</div>
          <div className="muted small">auth: {AUTH[c.auth_type ?? 'none']}{c.secret_set ? ` · secret ${c.secret_hint ?? 'set'}` : ''}</div>
          <div className="row"><Gated perm="connections.edit" workspaceId={c.workspace_id}><button onClick={edit}>Edit</button></Gated><TestButton id={c.id} /></div>
        </>
      )}
    />
  );
}

function TestButton({ id }: { id: string }) {
  const t = useMutation({ mutationFn: () => api.post<ConnectionTestResult>(`/v1/connections/${id}/test`) });
  return (
    <>
      <button onClick={() => t.mutate()} disabled={t.isPending}>{t.isPending ? 'Testing…' : 'Test connection'}</button>
      <ErrorBox error={t.error} />
      {t.data && (
        <div className={`alert ${t.data.ok ? 'ok' : 'error'}`} role="status" style={{ width: '100%' }}>
          {testSummary(t.data)}
          {t.data.error && !testSummary(t.data).includes(t.data.error.trim()) && <div>{t.data.error}</div>}
          {t.data.preview && <pre className="small" style={{ whiteSpace: 'pre-wrap' }}>{t.data.preview}</pre>}
        </div>
      )}
    </>
  );
}

function ConnectionEditor({ saved, onDone }: EditorProps<ConnectionOut>) {
  const [f, setF] = useState<ConnectionIn>({ name: saved?.name ?? '', base_url: saved?.base_url ?? 'https://', auth_type: saved?.auth_type ?? 'none', auth_name: saved?.auth_name ?? '', auth_username: saved?.auth_username ?? '', timeout_s: saved?.timeout_s ?? 10 });
  const [secret, setSecret] = useState('');
  const body = () => {
    const b: Record<string, unknown> = { ...f, auth_name: f.auth_name || null, auth_username: f.auth_username || null };
    if (secret) b.secret = secret; // write-only: omitted = keep the stored one
    return b;
  };
  const editor = useCatalogEditor('connections', saved, body, onDone, () => setSecret(''));
  const { save } = editor;
  const errs = fieldErrors(save.error);
  const set = <K extends keyof ConnectionIn>(k: K, v: ConnectionIn[K]) => setF((x) => ({ ...x, [k]: v }));
  const submit = (e: FormEvent) => (e.preventDefault(), save.mutate());
  const auth = f.auth_type ?? 'none';
  return (
    <form className="panel" onSubmit={submit} aria-label="Connection editor" noValidate>
      <h2 style={{ marginTop: 0 }}>{saved ? `Edit ${saved.name}` : 'New connection'}</h2>
      <Field label="Name" name="name" error={errs.name} hint={<Counter value={f.name} max={LIMITS.connectionName} />}>{(p) => <input {...p} value={f.name} onChange={(e) => set('name', e.target.value)} />}</Field>
      <Field label="Base URL" name="base_url" error={errs.base_url} hint="The API’s address, like https://api.example.com">{(p) => <input {...p} type="url" value={f.base_url} onChange={(e) => set('base_url', e.target.value)} />}</Field>
      <Field label="Authentication" name="auth_type" error={errs.auth_type}>
        {(p) => <select {...p} value={auth} onChange={(e) => set('auth_type', e.target.value as AuthType)}>{Object.entries(AUTH).map(([k, v]) => <option key={k} value={k}>{v}</option>)}</select>}
      </Field>
      {(auth === 'header' || auth === 'query') && <Field label={auth === 'header' ? 'Header name' : 'Parameter name'} name="auth_name" error={errs.auth_name}>{(p) => <input {...p} value={f.auth_name ?? ''} onChange={(e) => set('auth_name', e.target.value)} />}</Field>}
      {auth === 'basic' && <Field label="Username" name="auth_username" error={errs.auth_username}>{(p) => <input {...p} value={f.auth_username ?? ''} onChange={(e) => set('auth_username', e.target.value)} />}</Field>}
      {auth !== 'none' && (
        <Field label={auth === 'basic' ? 'Password' : 'Secret'} name="secret" error={errs.secret} hint={saved?.secret_set ? `A secret is stored${saved.secret_hint ? ` (${saved.secret_hint})` : ''}. Leave empty to keep it.` : 'Stored encrypted; never shown again.'}>
          {(p) => (
            <Gated perm="connections.secrets" workspaceId={saved?.workspace_id}>
              <input {...p} type="password" autoComplete="off" value={secret} onChange={(e) => setSecret(e.target.value)} />
            </Gated>
          )}
        </Field>
      )}
      <Field label="Timeout (s)" name="timeout_s" error={errs.timeout_s}>{(p) => <input {...p} type="number" min={1} max={60} value={f.timeout_s ?? 10} onChange={(e) => set('timeout_s', Number(e.target.value))} />}</Field>
      <ErrorSummary errors={errs} attempt={save.error} />
      <EditorActions noun="connection" saved={saved} editor={editor} fieldErrorCount={Object.keys(errs).length} onDone={onDone} />
    </form>
  );
}
