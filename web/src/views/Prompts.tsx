import { useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api } from '../api/client';
import { fieldErrors } from '../api/errors';
import type { PromptList, PromptIn, PromptOut } from '../api/types';
import { Confirm, Empty, ErrorBox, Field, FieldSummary, Loading, unshown, when } from '../components/ui';

const blank: PromptIn = { name: '', model: 'gpt-4o-mini', system: '', user: '{{ options.question }}', temperature: 0.7, max_tokens: 500 };

export default function Prompts() {
  const list = useQuery({ queryKey: ['prompts'], queryFn: () => api.get<PromptList>('/v1/prompts') });
  const [editing, setEditing] = useState<PromptOut | 'new' | null>(null);
  return (
    <>
      <div className="row spread">
        <h1>Prompts</h1>
        <button className="primary" onClick={() => setEditing('new')}>New prompt</button>
      </div>
      <p className="muted">Reusable AI prompts; a command with an “AI prompt” response picks one and an API connection.</p>
      {editing && <PromptEditor key={editing === 'new' ? 'new' : editing.id} saved={editing === 'new' ? undefined : editing} onDone={() => setEditing(null)} />}
      {list.isPending && <Loading what="Loading prompts" />}
      <ErrorBox error={list.error} retry={() => list.refetch()} />
      {list.data && list.data.items.length === 0 && !editing && <Empty>No prompts yet.</Empty>}
      <div className="grid">
        {list.data?.items.map((p) => (
          <div key={p.id} className="panel">
            <strong>{p.name}</strong>
            <div className="muted small">{p.model} · updated {when(p.updated_at)}</div>
            <button onClick={() => setEditing(p)}>Edit</button>
          </div>
        ))}
      </div>
    </>
  );
}

function PromptEditor({ saved, onDone }: { saved?: PromptOut; onDone: () => void }) {
  const qc = useQueryClient();
  const [f, setF] = useState<PromptIn>(saved ? { name: saved.name, model: saved.model, system: saved.system ?? '', user: saved.user, temperature: saved.temperature, max_tokens: saved.max_tokens, variables: saved.variables } : blank);
  const [del, setDel] = useState(false);
  const save = useMutation({
    mutationFn: () => (saved ? api.patch(`/v1/prompts/${saved.id}`, f) : api.post('/v1/prompts', f)),
    onSuccess: () => (void qc.invalidateQueries({ queryKey: ['prompts'] }), onDone()),
  });
  const remove = useMutation({ mutationFn: () => api.del(`/v1/prompts/${saved?.id}`), onSuccess: () => (void qc.invalidateQueries({ queryKey: ['prompts'] }), onDone()) });
  const errs = fieldErrors(save.error);
  const set = <K extends keyof PromptIn>(k: K, v: PromptIn[K]) => setF((x) => ({ ...x, [k]: v }));
  const submit = (e: FormEvent) => (e.preventDefault(), save.mutate());
  return (
    <form className="panel" onSubmit={submit} aria-label="Prompt editor">
      <h2 style={{ marginTop: 0 }}>{saved ? `Edit ${saved.name}` : 'New prompt'}</h2>
      <Field label="Name" error={errs.name}>{(p) => <input {...p} value={f.name} onChange={(e) => set('name', e.target.value)} />}</Field>
      <Field label="Model" error={errs.model}>{(p) => <input {...p} value={f.model} onChange={(e) => set('model', e.target.value)} />}</Field>
      <Field label="System message" error={errs.system}>{(p) => <textarea {...p} value={f.system ?? ''} onChange={(e) => set('system', e.target.value)} />}</Field>
      <Field label="User message template" error={errs.user} hint="Jinja: {{ options.NAME }}, {{ user.name }}…">{(p) => <textarea {...p} value={f.user} onChange={(e) => set('user', e.target.value)} />}</Field>
      <div className="row">
        <Field label="Temperature" error={errs.temperature}>{(p) => <input {...p} type="number" step="0.1" min={0} max={2} value={f.temperature ?? 0.7} onChange={(e) => set('temperature', Number(e.target.value))} />}</Field>
        <Field label="Max tokens" error={errs.max_tokens}>{(p) => <input {...p} type="number" min={1} value={f.max_tokens ?? 500} onChange={(e) => set('max_tokens', Number(e.target.value))} />}</Field>
      </div>
      <FieldSummary errors={unshown(errs, ['name', 'model', 'system', 'user', 'temperature', 'max_tokens'])} />
      {save.error && Object.keys(errs).length === 0 && <ErrorBox error={save.error} />}
      <div className="row" style={{ marginTop: 10 }}>
        <button className="primary" disabled={save.isPending}>Save prompt</button>
        <button type="button" onClick={onDone}>Cancel</button>
        {saved && <button type="button" className="danger" onClick={() => setDel(true)}>Delete</button>}
      </div>
      <ErrorBox error={remove.error} />
      <Confirm open={del} title={`Delete ${saved?.name}?`} confirmLabel="Delete prompt" busy={remove.isPending} onConfirm={() => remove.mutate()} onCancel={() => setDel(false)}>
        <p>Commands using it will answer with an error until you pick another.</p>
      </Confirm>
    </form>
  );
}
