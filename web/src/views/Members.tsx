import { useEffect, useId, useRef, useState, type FormEvent } from 'react';
import { useNavigate } from 'react-router';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api } from '../api/client';
import { fieldErrors } from '../api/errors';
import { useMe } from '../api/session';
import type { BotPage, Invitation, InvitationCreated, InvitationList, Member, MemberList, MyWorkspace, Role, RoleList } from '../api/types';
import { Gated } from '../components/gated';
import { Confirm, CopyButton, Empty, ErrorBox, Field, Loading, when, SubmitRow } from '../components/ui';
import { useToast } from '../components/toast';
import { SaveErrors } from '../components/formErrors';
import { ListTable } from '../components/table';

const EXPIRY = [
  [3600, '1 hour'],
  [86_400, '1 day'],
  [7 * 86_400, '7 days'],
  [30 * 86_400, '30 days'],
] as const;

export const useRoles = (wsId: string) => useQuery({ queryKey: ['roles', wsId], queryFn: () => api.get<RoleList>(`/v1/workspaces/${wsId}/roles`) });
const useWorkspaceBots = (wsId: string) => useQuery({ queryKey: ['bots', wsId], queryFn: () => api.get<BotPage>('/v1/bots', { workspace_id: wsId }) });

/** A role's name: built-in roles are their own id, a custom role is named by the list. */
export function roleName(role: string, roles: Role[] | undefined): string {
  return roles?.find((r) => r.id === role)?.name ?? role;
}

export default function Members({ ws }: { ws: MyWorkspace }) {
  const members = useQuery({ queryKey: ['members', ws.id], queryFn: () => api.get<MemberList>(`/v1/workspaces/${ws.id}/members`) });
  const roles = useRoles(ws.id);
  const [inviting, setInviting] = useState(false);
  return (
    <>
      <div className="row spread">
        <h2 style={{ margin: 0 }}>Members</h2>
        {ws.personal ? (
          <span className="gated" title="A personal workspace is yours alone: create a team workspace (New team, in the header) to share bots.">
            <button className="primary" disabled aria-describedby="personal-why">Invite someone</button>
          </span>
        ) : (
          <Gated perm="members.manage" workspaceId={ws.id}>
            <button className="primary" onClick={() => setInviting(true)} aria-haspopup="dialog">Invite someone</button>
          </Gated>
        )}
      </div>
      {ws.personal && <p id="personal-why" className="muted small">A personal workspace is yours alone: create a team workspace (New team, in the header) to share bots.</p>}
      {members.isPending && <Loading what="Loading members" />}
      <ErrorBox error={members.error} retry={() => members.refetch()} />
      {members.data && (
        <ListTable label="Members" columns={['Member', 'Role', 'Bots', { label: 'Joined', optional: true }, 'Actions']}>
          {members.data.members.map((m) => <MemberRow key={m.user_id} ws={ws} m={m} roles={roles.data?.roles} />)}
        </ListTable>
      )}
      {!ws.personal && <Invitations ws={ws} roles={roles.data?.roles} />}
      <InviteDialog ws={ws} roles={roles.data?.roles} open={inviting} onClose={() => setInviting(false)} />
    </>
  );
}

function MemberRow({ ws, m, roles }: { ws: MyWorkspace; m: Member; roles?: Role[] }) {
  const qc = useQueryClient();
  const nav = useNavigate();
  const toast = useToast();
  const me = useMe().data;
  const self = me?.id === m.user_id;
  const [confirm, setConfirm] = useState<'remove' | 'leave' | 'transfer' | null>(null);
  const refresh = () => {
    void qc.invalidateQueries({ queryKey: ['members', ws.id] });
    void qc.invalidateQueries({ queryKey: ['me'] });
  };
  const update = useMutation({
    mutationFn: (patch: { role?: string; bot_ids?: string[] }) => api.patch<Member>(`/v1/workspaces/${ws.id}/members/${m.user_id}`, patch),
    onSuccess: () => (toast(`${m.display_name} updated ✓`), refresh()),
  });
  const remove = useMutation({
    mutationFn: () => api.del(`/v1/workspaces/${ws.id}/members/${m.user_id}`),
    onSuccess: () => (setConfirm(null), toast(`${m.display_name} removed ✓`), refresh()),
  });
  const leave = useMutation({
    mutationFn: () => api.post(`/v1/workspaces/${ws.id}/leave`),
    onSuccess: async () => (setConfirm(null), toast(`You left ${ws.name}`), await qc.invalidateQueries(), nav('/')),
  });
  const transfer = useMutation({
    mutationFn: () => api.post(`/v1/workspaces/${ws.id}/transfer`, { user_id: m.user_id }),
    onSuccess: () => (setConfirm(null), toast(`${m.display_name} owns ${ws.name} now ✓`), refresh(), void qc.invalidateQueries({ queryKey: ['roles', ws.id] })),
  });
  const owner = m.role === 'owner';
  const choices = (roles ?? []).filter((r) => r.id !== 'owner');
  const label = `Role of ${m.display_name}`;
  return (
    <tr data-member={m.display_name}>
      <td>
        <strong>{m.display_name}</strong>
        {self && <span className="muted small"> (you)</span>}
      </td>
      <td>
        {owner ? (
          'owner'
        ) : (
          <Gated perm="members.manage" workspaceId={ws.id}>
            <select aria-label={label} value={m.role} disabled={update.isPending} onChange={(e) => update.mutate({ role: e.target.value })}>
              {!choices.some((r) => r.id === m.role) && <option value={m.role}>{roleName(m.role, roles)}</option>}
              {choices.map((r) => <option key={r.id} value={r.id}>{r.builtin ? r.name : `${r.name} (custom)`}</option>)}
            </select>
          </Gated>
        )}
        <ErrorBox error={update.error} />
      </td>
      <td>{owner ? 'all' : <BotLimit ws={ws} m={m} onSave={(bot_ids) => update.mutate({ bot_ids })} busy={update.isPending} />}</td>
      <td className="opt small">{when(m.joined_at)}</td>
      <td>
        <div className="row">
          {self && ws.personal ? null : self ? (
            <span className="gated" title={owner ? 'Make another member the owner first.' : undefined}>
              <button onClick={() => setConfirm('leave')} disabled={owner} title={owner ? 'Make another member the owner first.' : undefined}>Leave</button>
            </span>
          ) : (
            !owner && (
              <Gated perm="members.manage" workspaceId={ws.id}>
                <button className="danger" onClick={() => setConfirm('remove')}>Remove</button>
              </Gated>
            )
          )}
          {!self && !ws.personal && ws.role === 'owner' && <button onClick={() => setConfirm('transfer')}>Make owner</button>}
        </div>
        <ErrorBox error={remove.error ?? leave.error ?? transfer.error} />
        <Confirm open={confirm === 'remove'} title={`Remove ${m.display_name}?`} confirmLabel="Remove" busy={remove.isPending} onConfirm={() => remove.mutate()} onCancel={() => setConfirm(null)}>
          <p>They lose access at once, including open log streams.</p>
        </Confirm>
        <Confirm open={confirm === 'leave'} title={`Leave ${ws.name}?`} confirmLabel="Leave" busy={leave.isPending} onConfirm={() => leave.mutate()} onCancel={() => setConfirm(null)}>
          <p>You will need a new invitation to come back.</p>
        </Confirm>
        <Confirm open={confirm === 'transfer'} title={`Make ${m.display_name} the owner?`} typed={ws.name} confirmLabel="Transfer ownership" busy={transfer.isPending} onConfirm={() => transfer.mutate()} onCancel={() => setConfirm(null)}>
          <p>You become an admin. Only the new owner can delete {ws.name} or transfer it again.</p>
        </Confirm>
      </td>
    </tr>
  );
}

/** Which bots a member may act on: all, or the ones checked. */
function BotLimit({ ws, m, onSave, busy }: { ws: MyWorkspace; m: Member; onSave: (ids: string[]) => void; busy: boolean }) {
  const [open, setOpen] = useState(false);
  const current = m.bot_ids ?? [];
  return (
    <>
      <span className="small">{current.length === 0 ? 'all' : `${current.length} ${current.length === 1 ? 'bot' : 'bots'}`}</span>{' '}
      <Gated perm="members.manage" workspaceId={ws.id}>
        <button className="small" onClick={() => setOpen((v) => !v)} aria-expanded={open} disabled={busy} aria-label={`Bots of ${m.display_name}`}>
          {open ? 'Close' : 'Change'}
        </button>
      </Gated>
      {open && <BotPicker wsId={ws.id} value={current} onSave={(ids) => (onSave(ids), setOpen(false))} />}
    </>
  );
}

function BotPicker({ wsId, value, onSave }: { wsId: string; value: string[]; onSave?: (ids: string[]) => void; }) {
  const bots = useWorkspaceBots(wsId);
  const [ids, setIds] = useState(value);
  return <BotChecks bots={bots.data?.bots} loading={bots.isPending} ids={ids} setIds={setIds} onSave={onSave && (() => onSave(ids))} />;
}

function BotChecks({ bots, loading, ids, setIds, onSave }: { bots?: BotPage['bots']; loading: boolean; ids: string[]; setIds: (ids: string[]) => void; onSave?: () => void }) {
  if (loading) return <Loading what="Loading the workspace's bots" />;
  const toggle = (id: string) => setIds(ids.includes(id) ? ids.filter((x) => x !== id) : [...ids, id]);
  return (
    <fieldset>
      <legend className="small">Limit to these bots (none checked: every bot)</legend>
      {(bots ?? []).length === 0 && <p className="muted small">No bots in this workspace yet.</p>}
      {(bots ?? []).map((b) => (
        <label key={b.id} className="inline">
          <input type="checkbox" checked={ids.includes(b.id)} onChange={() => toggle(b.id)} /> {b.name}
        </label>
      ))}
      {onSave && <div><button type="button" onClick={onSave}>Save bots</button></div>}
    </fieldset>
  );
}

function Invitations({ ws, roles }: { ws: MyWorkspace; roles?: Role[] }) {
  const qc = useQueryClient();
  const toast = useToast();
  const allowed = ws.permissions.includes('members.manage');
  const list = useQuery({
    queryKey: ['invitations', ws.id],
    queryFn: () => api.get<InvitationList>(`/v1/workspaces/${ws.id}/invitations`),
    enabled: allowed,
  });
  const revoke = useMutation({
    mutationFn: (inv: Invitation) => api.del(`/v1/workspaces/${ws.id}/invitations/${inv.id}`),
    onSuccess: () => (toast('Invitation revoked ✓ — its link no longer works'), void qc.invalidateQueries({ queryKey: ['invitations', ws.id] })),
  });
  return (
    <section aria-labelledby="inv-h">
      <h2 id="inv-h">Pending invitations</h2>
      {!allowed && <p className="muted small">Only members who can manage members see the pending invitations.</p>}
      {list.isPending && allowed && <Loading what="Loading invitations" />}
      <ErrorBox error={list.error ?? revoke.error} />
      {list.data && list.data.invitations.length === 0 && <Empty>No pending invitations.</Empty>}
      {list.data && list.data.invitations.length > 0 && (
        <ListTable label="Pending invitations" columns={['Role', 'For', { label: 'Bots', optional: true }, 'Expires', 'Actions']}>
          {list.data.invitations.map((inv) => (
            <tr key={inv.id}>
              <td>{roleName(inv.role, roles)}</td>
              <td className="small">{inv.email ?? 'anyone with the link'}</td>
              <td className="opt small">{(inv.bot_ids ?? []).length === 0 ? 'all' : (inv.bot_ids ?? []).length}</td>
              <td className="small">{when(inv.expires_at)}</td>
              <td>
                <Gated perm="members.manage" workspaceId={ws.id}>
                  <button className="danger" onClick={() => revoke.mutate(inv)} disabled={revoke.isPending}>Revoke</button>
                </Gated>
              </td>
            </tr>
          ))}
        </ListTable>
      )}
    </section>
  );
}

function InviteDialog({ ws, roles, open, onClose }: { ws: MyWorkspace; roles?: Role[]; open: boolean; onClose: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const qc = useQueryClient();
  const toast = useToast();
  const id = useId();
  const bots = useWorkspaceBots(ws.id);
  const [role, setRole] = useState('developer');
  const [botIds, setBotIds] = useState<string[]>([]);
  const [email, setEmail] = useState('');
  const [expires, setExpires] = useState<number>(7 * 86_400);
  const create = useMutation({
    mutationFn: () => api.post<InvitationCreated>(`/v1/workspaces/${ws.id}/invitations`, { role, bot_ids: botIds, email: email.trim() || null, expires_in_s: expires }),
    onSuccess: () => (toast('Invitation link created ✓ — copy it now'), void qc.invalidateQueries({ queryKey: ['invitations', ws.id] })),
  });
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) {
      create.reset();
      setBotIds([]);
      setEmail('');
      d.showModal?.();
    } else if (!open && d.open) d.close();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [open]);
  const errs = fieldErrors(create.error);
  const submit = (e: FormEvent) => (e.preventDefault(), create.mutate());
  const link = create.data ? new URL(create.data.url, window.location.origin).toString() : null;
  const close = () => (create.reset(), onClose());
  return (
    <dialog ref={ref} aria-labelledby={`${id}-t`} onCancel={(e) => (e.preventDefault(), close())}>
      <h2 id={`${id}-t`} style={{ marginTop: 0 }}>Invite someone to {ws.name}</h2>
      {link ? (
        <div role="status">
          <p>
            Send this link to the person you invite. <strong>It is shown only now</strong> and works once, until {when(create.data?.expires_at)}.
          </p>
          <div className="secret" data-testid="invite-link">{link}</div>
          <div className="row" style={{ marginTop: 12 }}>
            <CopyButton text={link} label="Copy link" />
            <button onClick={close}>Done</button>
          </div>
        </div>
      ) : (
        <form onSubmit={submit} noValidate>
          <Field label="Role" name="role" error={errs.role}>
            {(p) => (
              <select {...p} value={role} onChange={(e) => setRole(e.target.value)}>
                {(roles ?? []).filter((r) => r.id !== 'owner').map((r) => (
                  <option key={r.id} value={r.id}>{r.builtin ? r.name : `${r.name} (custom)`}</option>
                ))}
              </select>
            )}
          </Field>
          <BotChecks bots={bots.data?.bots} loading={bots.isPending} ids={botIds} setIds={setBotIds} />
          <Field label="E-mail (optional)" name="email" error={errs.email} hint="Only a user signed in with this e-mail can accept.">
            {(p) => <input {...p} type="email" value={email} onChange={(e) => setEmail(e.target.value)} autoComplete="off" />}
          </Field>
          <Field label="Link expires after" name="expires_in_s" error={errs.expires_in_s}>
            {(p) => (
              <select {...p} value={expires} onChange={(e) => setExpires(Number(e.target.value))}>
                {EXPIRY.map(([s, label]) => <option key={s} value={s}>{label}</option>)}
              </select>
            )}
          </Field>
          <SaveErrors errors={errs} labels={{ bot_ids: 'Limit to these bots' }} error={create.error} />
          <SubmitRow pending={create.isPending} label="Create invitation link" busy="Creating…" onCancel={close} />
        </form>
      )}
    </dialog>
  );
}
