import { useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api } from '../api/client';
import { fieldErrors } from '../api/errors';
import type { MyWorkspace, Permission, PermissionInfo, Role } from '../api/types';
import { Gated } from '../components/gated';
import { Confirm, ErrorBox, Field, Loading, SubmitRow } from '../components/ui';
import { useToast } from '../components/toast';
import { Counter, SaveErrors } from '../components/formErrors';
import { LIMITS } from '../lib/fields';
import { useRoles } from './Members';

export const usePermissions = () =>
  useQuery({ queryKey: ['permissions'], queryFn: () => api.get<{ permissions: PermissionInfo[] }>('/v1/permissions'), staleTime: 3_600_000 });

export default function Roles({ ws }: { ws: MyWorkspace }) {
  const perms = usePermissions();
  const roles = useRoles(ws.id);
  const [editing, setEditing] = useState<Role | 'new' | null>(null);
  if (perms.isPending || roles.isPending) return <Loading what="Loading roles" />;
  if (perms.error || roles.error) return <ErrorBox error={perms.error ?? roles.error} retry={() => (perms.refetch(), roles.refetch())} />;
  const all = roles.data.roles;
  const list = perms.data.permissions;
  return (
    <>
      <div className="row spread">
        <h2 style={{ margin: 0 }}>Roles</h2>
        <Gated perm="workspace.admin" workspaceId={ws.id}>
          <button className="primary" onClick={() => setEditing('new')} disabled={ws.personal} title={ws.personal ? 'A personal workspace has no other members to give roles to.' : undefined}>New custom role</button>
        </Gated>
      </div>
      <p className="muted small">Built-in roles are fixed. A custom role is any set of permissions; a member can also be limited to some bots.</p>
      {editing && <RoleEditor key={editing === 'new' ? 'new' : editing.id} ws={ws} perms={list} saved={editing === 'new' ? undefined : editing} onDone={() => setEditing(null)} />}
      <div className="table-wrap panel" tabIndex={0} role="region" aria-label="Permissions of each role">
        <table className="perm-grid">
          <caption className="muted small" style={{ textAlign: 'left' }}>What each role may do (✓ allowed)</caption>
          <thead>
            <tr>
              <th scope="col" style={{ textAlign: 'left' }}>Permission</th>
              {all.map((r) => (
                <th key={r.id} scope="col">
                  {r.name}
                  {!r.builtin && (
                    <div>
                      <Gated perm="workspace.admin" workspaceId={ws.id}>
                        <button className="small" onClick={() => setEditing(r)} aria-label={`Edit ${r.name}`}>Edit</button>
                      </Gated>
                    </div>
                  )}
                  {r.builtin && <div className="muted small">built-in</div>}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {list.map((p) => (
              <tr key={p.name}>
                <th scope="row">
                  {p.description}
                  <div className="muted small mono">{p.name}</div>
                </th>
                {all.map((r) => {
                  const has = r.permissions.includes(p.name);
                  return (
                    <td key={r.id} aria-label={`${r.name}: ${has ? 'allowed' : 'not allowed'}`}>
                      {has ? '✓' : <span className="muted">–</span>}
                    </td>
                  );
                })}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}

function RoleEditor({ ws, perms, saved, onDone }: { ws: MyWorkspace; perms: PermissionInfo[]; saved?: Role; onDone: () => void }) {
  const qc = useQueryClient();
  const toast = useToast();
  const [name, setName] = useState(saved?.name ?? '');
  const [chosen, setChosen] = useState<Permission[]>(saved?.permissions ?? ['bots.view']);
  const [deleting, setDeleting] = useState(false);
  const refresh = () => void qc.invalidateQueries({ queryKey: ['roles', ws.id] });
  const save = useMutation({
    mutationFn: () => {
      const body = { name: name.trim(), permissions: chosen };
      return saved ? api.patch<Role>(`/v1/workspaces/${ws.id}/roles/${saved.id}`, body) : api.post<Role>(`/v1/workspaces/${ws.id}/roles`, body);
    },
    onSuccess: (r) => (toast(`Role ${r.name} saved ✓`), refresh(), onDone()),
  });
  const remove = useMutation({
    mutationFn: () => api.del(`/v1/workspaces/${ws.id}/roles/${saved?.id}`),
    onSuccess: () => (setDeleting(false), toast('Role deleted ✓'), refresh(), onDone()),
  });
  const errs = fieldErrors(save.error);
  const toggle = (p: Permission) => setChosen((xs) => (xs.includes(p) ? xs.filter((x) => x !== p) : [...xs, p]));
  const submit = (e: FormEvent) => (e.preventDefault(), save.mutate());
  return (
    <form className="panel" onSubmit={submit} aria-label="Role editor" noValidate>
      <h2 style={{ marginTop: 0 }}>{saved ? `Edit ${saved.name}` : 'New custom role'}</h2>
      <Field label="Role name" name="name" error={errs.name} hint={<Counter value={name} max={LIMITS.roleName} />}>
        {(p) => <input {...p} value={name} onChange={(e) => setName(e.target.value)} autoComplete="off" />}
      </Field>
      <fieldset data-field="permissions">
        <legend>Permissions</legend>
        {errs.permissions && <div className="field-error">{errs.permissions}</div>}
        {perms.map((p) => (
          <div key={p.name}>
            <label className="inline">
              <input type="checkbox" checked={chosen.includes(p.name)} onChange={() => toggle(p.name)} /> {p.description}
              <span className="muted small mono">{p.name}</span>
            </label>
          </div>
        ))}
      </fieldset>
      <SaveErrors errors={errs} error={save.error} />
      <SubmitRow pending={save.isPending} label="Save role" busy="Saving…" onCancel={onDone}>
        {saved && <button type="button" className="danger" onClick={() => setDeleting(true)}>Delete role</button>}
      </SubmitRow>
      <ErrorBox error={remove.error} />
      <Confirm open={deleting} title={`Delete ${saved?.name}?`} confirmLabel="Delete role" busy={remove.isPending} onConfirm={() => remove.mutate()} onCancel={() => setDeleting(false)}>
        {saved?.members ? <p>{saved.members} {saved.members === 1 ? 'member has' : 'members have'} this role.</p> : null}
      </Confirm>
    </form>
  );
}
