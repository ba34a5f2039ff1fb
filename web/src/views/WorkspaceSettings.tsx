import { useState, type FormEvent } from 'react';
import { useNavigate } from 'react-router';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { request } from '../api/client';
import { fieldErrors } from '../api/errors';
import type { MyWorkspace, Workspace, WorkspaceDeleted } from '../api/types';
import { Gated } from '../components/gated';
import { Confirm, ErrorBox, Field } from '../components/ui';
import { useToast } from '../components/toast';
import { Counter, SaveErrors } from '../components/formErrors';
import { LIMITS } from '../lib/fields';

export default function WorkspaceSettings({ ws }: { ws: MyWorkspace }) {
  const qc = useQueryClient();
  const nav = useNavigate();
  const toast = useToast();
  const [name, setName] = useState(ws.name);
  const [deleting, setDeleting] = useState(false);
  const rename = useMutation({
    mutationFn: () => request<Workspace>(`/v1/workspaces/${ws.id}`, { method: 'PATCH', body: { name: name.trim() } }),
    onSuccess: () => (toast('Workspace renamed ✓'), void qc.invalidateQueries({ queryKey: ['me'] })),
  });
  const remove = useMutation({
    mutationFn: (confirm: string) => request<WorkspaceDeleted>(`/v1/workspaces/${ws.id}`, { method: 'DELETE', body: { confirm_name: confirm } }),
    onSuccess: async () => {
      setDeleting(false);
      toast(`${ws.name} deleted ✓`);
      await qc.invalidateQueries();
      nav('/');
    },
  });
  const errs = fieldErrors(rename.error);
  const submit = (e: FormEvent) => (e.preventDefault(), rename.mutate());
  // Deleting is the owner's alone (not a permission a role can grant).
  const deleteWhy = ws.personal ? 'A personal workspace cannot be deleted (delete your account instead).' : ws.role !== 'owner' ? `Only the owner can delete ${ws.name}.` : null;
  return (
    <>
      <form className="panel" onSubmit={submit} aria-label="Rename the workspace" noValidate>
        <h2 style={{ marginTop: 0 }}>Name</h2>
        <Field label="Workspace name" name="name" error={errs.name} hint={<Counter value={name} max={LIMITS.workspaceName} />}>
          {(p) => <input {...p} value={name} onChange={(e) => setName(e.target.value)} autoComplete="off" />}
        </Field>
        <SaveErrors errors={errs} error={rename.error} />
        <div className="row" style={{ marginTop: 10 }}>
          <Gated perm="workspace.admin" workspaceId={ws.id}>
            <button className="primary" disabled={rename.isPending || name.trim() === ws.name}>{rename.isPending ? 'Saving…' : 'Rename'}</button>
          </Gated>
        </div>
      </form>
      <section className="panel" aria-labelledby="ws-del-h">
        <h2 id="ws-del-h" style={{ marginTop: 0 }}>Delete this workspace</h2>
        <p className="muted small">Stops its bots and removes its bots, commands, prompts, connections, files and logs. This cannot be undone.</p>
        <span className="gated" title={deleteWhy ?? undefined}>
          <button className="danger" onClick={() => setDeleting(true)} disabled={Boolean(deleteWhy)} title={deleteWhy ?? undefined} aria-describedby={deleteWhy ? 'ws-del-why' : undefined}>
            Delete {ws.name}…
          </button>
        </span>
        {deleteWhy && <p id="ws-del-why" className="muted small">{deleteWhy}</p>}
        <ErrorBox error={remove.error} />
      </section>
      <Confirm open={deleting} title={`Delete ${ws.name}?`} typed={ws.name} confirmLabel="Delete the workspace" busy={remove.isPending} onConfirm={() => remove.mutate(ws.name)} onCancel={() => setDeleting(false)}>
        <p>Every bot of it stops, and all its data is removed for every member.</p>
      </Confirm>
    </>
  );
}
