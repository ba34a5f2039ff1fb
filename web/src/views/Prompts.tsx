import { useState, type FormEvent } from 'react';
import { fieldErrors } from '../api/errors';
import type { PromptIn, PromptOut } from '../api/types';
import { CatalogPage, EditorActions, useCatalogEditor, type EditorProps } from '../components/catalog';
import { Field, FieldSummary, unshown, when } from '../components/ui';

const blank: PromptIn = { name: '', model: 'gpt-4o-mini', system: '', user: '{{ options.question }}', temperature: 0.7, max_tokens: 500 };

export default function Prompts() {
  return (
    <CatalogPage<PromptOut>
      resource="prompts"
      title="Prompts"
      newLabel="New prompt"
      intro="Reusable AI prompts; a command with an “AI prompt” response picks one and an API connection."
      Editor={PromptEditor}
      details={(p, edit) => (
        <>
          <div className="muted small">{p.model} · updated {when(p.updated_at)}</div>
          <button onClick={edit}>Edit</button>
        </>
      )}
    />
  );
}

function PromptEditor({ saved, onDone }: EditorProps<PromptOut>) {
  const [f, setF] = useState<PromptIn>(saved ? { name: saved.name, model: saved.model, system: saved.system ?? '', user: saved.user, temperature: saved.temperature, max_tokens: saved.max_tokens, variables: saved.variables } : blank);
  const editor = useCatalogEditor('prompts', saved, () => f, onDone);
  const { save } = editor;
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
      <EditorActions noun="prompt" saved={saved} editor={editor} fieldErrorCount={Object.keys(errs).length} onDone={onDone}>
        <p>Commands using it will answer with an error until you pick another.</p>
      </EditorActions>
    </form>
  );
}
