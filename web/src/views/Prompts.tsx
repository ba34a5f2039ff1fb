import { useState, type FormEvent } from 'react';
import { fieldErrors } from '../api/errors';
import type { PromptIn, PromptOut } from '../api/types';
import { CatalogPage, EditorActions, useCatalogEditor, type EditorProps } from '../components/catalog';
import { Field, when } from '../components/ui';
import { Counter, ErrorSummary } from '../components/formErrors';
import { LIMITS } from '../lib/fields';
import { TemplateWarnings } from '../components/templates';
import { textToVars, varsToText } from '../lib/promptVars';
import { Gated } from '../components/gated';

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
          <TemplateWarnings warnings={p.warnings} />
          <Gated perm="prompts.edit" workspaceId={p.workspace_id}>
            <button onClick={edit}>Edit</button>
          </Gated>
        </>
      )}
    />
  );
}

function PromptEditor({ saved, onDone }: EditorProps<PromptOut>) {
  const [f, setF] = useState<PromptIn>(saved ? { name: saved.name, model: saved.model, system: saved.system ?? '', user: saved.user, temperature: saved.temperature, max_tokens: saved.max_tokens, variables: saved.variables } : blank);
  const [varsText, setVarsText] = useState(() => varsToText(saved?.variables));
  const editor = useCatalogEditor('prompts', saved, () => ({ ...f, variables: textToVars(varsText) }), onDone);
  const { save } = editor;
  const errs = fieldErrors(save.error);
  const set = <K extends keyof PromptIn>(k: K, v: PromptIn[K]) => setF((x) => ({ ...x, [k]: v }));
  const submit = (e: FormEvent) => (e.preventDefault(), save.mutate());
  return (
    <form className="panel" onSubmit={submit} aria-label="Prompt editor" noValidate>
      <h2 style={{ marginTop: 0 }}>{saved ? `Edit ${saved.name}` : 'New prompt'}</h2>
      <Field label="Name" name="name" error={errs.name} hint={<Counter value={f.name} max={LIMITS.promptName} />}>{(p) => <input {...p} value={f.name} onChange={(e) => set('name', e.target.value)} />}</Field>
      <Field label="Model" name="model" error={errs.model} hint={<Counter value={f.model} max={LIMITS.promptModel} />}>{(p) => <input {...p} value={f.model} onChange={(e) => set('model', e.target.value)} />}</Field>
      <Field label="System message" name="system" error={errs.system}>{(p) => <textarea {...p} value={f.system ?? ''} onChange={(e) => set('system', e.target.value)} />}</Field>
      <Field label="User message template" name="user" error={errs.user} hint="Jinja: {{ options.NAME }}, {{ user.name }}, {{ vars.NAME }}…">{(p) => <textarea {...p} value={f.user} onChange={(e) => set('user', e.target.value)} />}</Field>
      <Field label="Variables" name="variables" error={errs.variables} hint="One per line, “name = default”; used as {{ vars.name }}. A command using the prompt can set them.">{(p) => <textarea {...p} rows={3} value={varsText} onChange={(e) => setVarsText(e.target.value)} />}</Field>
      {saved && <TemplateWarnings warnings={saved.warnings} />}
      <div className="row">
        <Field label="Temperature" name="temperature" error={errs.temperature}>{(p) => <input {...p} type="number" step="0.1" min={0} max={2} value={f.temperature ?? 0.7} onChange={(e) => set('temperature', Number(e.target.value))} />}</Field>
        <Field label="Max tokens" name="max_tokens" error={errs.max_tokens}>{(p) => <input {...p} type="number" min={1} value={f.max_tokens ?? 500} onChange={(e) => set('max_tokens', Number(e.target.value))} />}</Field>
      </div>
      <ErrorSummary errors={errs} attempt={save.error} />
      <EditorActions noun="prompt" saved={saved} editor={editor} fieldErrorCount={Object.keys(errs).length} onDone={onDone}>
        <p>Commands using it will answer with an error until you pick another.</p>
      </EditorActions>
    </form>
  );
}
