import { useEffect, useId, useRef, useState, type FormEvent } from 'react';
import { useNavigate } from 'react-router';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../api/client';
import { fieldErrors } from '../api/errors';
import { useMe } from '../api/session';
import { useMyWorkspaces, useWorkspaceParam, WS_PARAM } from '../api/workspaces';
import type { Workspace } from '../api/types';
import { Field, SubmitRow } from './ui';
import { Counter, SaveErrors } from './formErrors';
import { LIMITS } from '../lib/fields';
import { useToast } from './toast';

/** The header's workspace picker: every list shows the chosen workspace (or all of them). */
export function WorkspaceSwitcher() {
  const all = useMyWorkspaces();
  const [id, setId] = useWorkspaceParam();
  const me = useMe();
  const [creating, setCreating] = useState(false);
  const selectId = useId();
  const known = !id || all.some((w) => w.id === id);
  // A workspace just joined or created may not be in the cached `/v1/me` yet: ask once more.
  const refetch = me.refetch;
  useEffect(() => {
    if (!known) void refetch();
  }, [known, refetch]);
  return (
    <div className="workspace">
      <label htmlFor={selectId} className="small" style={{ margin: 0 }}>Workspace</label>
      <select id={selectId} value={known ? (id ?? '') : id} onChange={(e) => setId(e.target.value || null)} data-testid="workspace-switcher">
        <option value="">All workspaces</option>
        {all.map((w) => (
          <option key={w.id} value={w.id}>{w.personal ? `${w.name} (personal)` : w.name}</option>
        ))}
        {!known && <option value={id}>(a workspace you are no longer in)</option>}
      </select>
      <button type="button" onClick={() => setCreating(true)} aria-haspopup="dialog">New team</button>
      <CreateWorkspace open={creating} onClose={() => setCreating(false)} />
    </div>
  );
}

function CreateWorkspace({ open, onClose }: { open: boolean; onClose: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const [name, setName] = useState('');
  const qc = useQueryClient();
  const nav = useNavigate();
  const id = useId();
  const toast = useToast();
  const create = useMutation({
    mutationFn: () => api.post<Workspace>('/v1/workspaces', { name: name.trim() }),
    onSuccess: async (ws) => {
      await qc.invalidateQueries({ queryKey: ['me'] });
      toast(`Team ${ws.name} created ✓`);
      setName('');
      onClose();
      nav(`/team?${WS_PARAM}=${ws.id}`);
    },
  });
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) {
      create.reset();
      d.showModal?.();
    } else if (!open && d.open) d.close();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [open]);
  const errs = fieldErrors(create.error);
  const submit = (e: FormEvent) => (e.preventDefault(), create.mutate());
  return (
    <dialog ref={ref} aria-labelledby={`${id}-t`} onCancel={(e) => (e.preventDefault(), onClose())}>
      <form onSubmit={submit} noValidate>
        <h2 id={`${id}-t`} style={{ marginTop: 0 }}>Create a team workspace</h2>
        <p className="muted small">Bots, prompts, connections and files created in it are shared with the members you invite.</p>
        <Field label="Workspace name" name="name" error={errs.name} hint={<Counter value={name} max={LIMITS.workspaceName} />}>
          {(p) => <input {...p} value={name} onChange={(e) => setName(e.target.value)} autoComplete="off" />}
        </Field>
        <SaveErrors errors={errs} error={create.error} />
        <SubmitRow pending={create.isPending} label="Create workspace" busy="Creating…" onCancel={onClose} />
      </form>
    </dialog>
  );
}
