/**
 * The CRUD plumbing the prompts and connections pages share: a list of the user's saved
 * items at `/v1/{resource}`, one editor open at a time (new or existing), save (POST a new
 * one, PATCH an existing one) and delete, each refreshing the list.
 */
import { useEffect, useState, type ComponentType, type ReactNode } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api } from '../api/client';
import { Confirm, Empty, ErrorBox, Loading } from './ui';
import { useToast } from './toast';
import { savedWarningsNote } from '../lib/promptVars';
import { useActiveWorkspace, useListQuery } from '../api/workspaces';
import { Gated } from './gated';
import type { Permission } from '../api/types';

const NOUN: Record<CatalogResource, string> = { prompts: 'Prompt', connections: 'Connection' };
/** The permission that creates, changes and deletes each kind of item. */
export const EDIT_PERM: Record<CatalogResource, Permission> = { prompts: 'prompts.edit', connections: 'connections.edit' };

export type CatalogResource = 'prompts' | 'connections';
type Saved = { id: string; name: string; workspace_id?: string | null };
export type EditorProps<T> = { saved?: T; onDone: () => void };

export function CatalogPage<T extends Saved>({
  resource,
  title,
  newLabel,
  intro,
  Editor,
  details,
}: {
  resource: CatalogResource;
  title: string;
  newLabel: string;
  intro: ReactNode;
  Editor: ComponentType<EditorProps<T>>;
  /** What a card shows under the item's name; `edit` opens the editor on it. */
  details: (item: T, edit: () => void) => ReactNode;
}) {
  const ws = useListQuery();
  const list = useQuery({ queryKey: [resource, ws.workspace_id ?? 'all'], queryFn: () => api.get<{ items: T[] }>(`/v1/${resource}`, ws) });
  const [editing, setEditing] = useState<T | 'new' | null>(null);
  // `#connection-<id>` (a log line's link) brings that card into view once the list is here.
  const loaded = Boolean(list.data);
  useEffect(() => {
    if (loaded && window.location.hash) document.getElementById(window.location.hash.slice(1))?.scrollIntoView({ block: 'center' });
  }, [loaded]);
  return (
    <>
      <div className="row spread">
        <h1>{title}</h1>
        <Gated perm={EDIT_PERM[resource]}>
          <button className="primary" onClick={() => setEditing('new')}>{newLabel}</button>
        </Gated>
      </div>
      <p className="muted">{intro}</p>
      {editing && <Editor key={editing === 'new' ? 'new' : editing.id} saved={editing === 'new' ? undefined : editing} onDone={() => setEditing(null)} />}
      {list.isPending && <Loading what={`Loading ${resource}`} />}
      <ErrorBox error={list.error} retry={() => list.refetch()} />
      {list.data && list.data.items.length === 0 && !editing && <Empty>{`No ${resource} yet.`}</Empty>}
      <div className="grid">
        {list.data?.items.map((item) => (
          <div key={item.id} id={`${resource.slice(0, -1)}-${item.id}`} className="panel">
            <strong title={item.name}>{item.name}</strong>
            {details(item, () => setEditing(item))}
          </div>
        ))}
      </div>
    </>
  );
}

/** Save and delete for an editor; `onSaved` runs first on a successful save (e.g. to forget a typed secret). */
export function useCatalogEditor(resource: CatalogResource, saved: Saved | undefined, body: () => unknown, onDone: () => void, onSaved?: () => void) {
  const qc = useQueryClient();
  const toast = useToast();
  const refresh = () => void qc.invalidateQueries({ queryKey: [resource] });
  // A new item goes to the workspace chosen in the header (else the personal one).
  const target = useActiveWorkspace()?.id;
  const save = useMutation({
    mutationFn: () => (saved ? api.patch(`/v1/${resource}/${saved.id}`, body()) : api.post(`/v1/${resource}`, { ...(body() as object), workspace_id: target })),
    onSuccess: (data) => (onSaved?.(), refresh(), toast(`${NOUN[resource]} saved ✓${savedWarningsNote(data)}`), onDone()),
  });
  const remove = useMutation({
    mutationFn: () => api.del(`/v1/${resource}/${saved?.id}`),
    onSuccess: () => (refresh(), toast(`${NOUN[resource]} deleted ✓`), onDone()),
  });
  return { save, remove, resource };
}

/** The end of an editor form: the save error no field shows, Save / Cancel / Delete, and the delete confirmation. */
export function EditorActions({
  noun,
  saved,
  editor: { save, remove, resource },
  fieldErrorCount,
  onDone,
  children,
}: {
  noun: string;
  saved?: Saved;
  editor: ReturnType<typeof useCatalogEditor>;
  fieldErrorCount: number;
  onDone: () => void;
  /** What the delete confirmation says besides its title. */
  children?: ReactNode;
}) {
  const [del, setDel] = useState(false);
  return (
    <>
      {save.error && fieldErrorCount === 0 && <ErrorBox error={save.error} />}
      <div className="row" style={{ marginTop: 10 }}>
        <Gated perm={EDIT_PERM[resource]} workspaceId={saved?.workspace_id}>
          <button className="primary" disabled={save.isPending}>{save.isPending ? 'Saving…' : `Save ${noun}`}</button>
        </Gated>
        <button type="button" onClick={onDone}>Cancel</button>
        {saved && (
          <Gated perm={EDIT_PERM[resource]} workspaceId={saved.workspace_id}>
            <button type="button" className="danger" onClick={() => setDel(true)}>Delete</button>
          </Gated>
        )}
      </div>
      <ErrorBox error={remove.error} />
      <Confirm open={del} title={`Delete ${saved?.name}?`} confirmLabel={`Delete ${noun}`} busy={remove.isPending} onConfirm={() => remove.mutate()} onCancel={() => setDel(false)}>
        {children}
      </Confirm>
    </>
  );
}
