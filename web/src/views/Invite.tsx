import { Link, useNavigate, useParams } from 'react-router';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api } from '../api/client';
import { ApiError } from '../api/errors';
import { WS_PARAM } from '../api/workspaces';
import type { InvitationAccepted, InvitationPreview } from '../api/types';
import { ErrorBox, Loading, when } from '../components/ui';
import { useToast } from '../components/toast';
import { inviteSummary } from '../lib/invite';

const workspaceHref = (id: string) => `/?${WS_PARAM}=${encodeURIComponent(id)}`;

/** `/invite/:token`: a signed-in user sees what the link joins, then joins. */
export default function Invite() {
  const { token = '' } = useParams();
  const qc = useQueryClient();
  const nav = useNavigate();
  const toast = useToast();
  const path = `/v1/invitations/${encodeURIComponent(token)}`;
  const preview = useQuery({ queryKey: ['invitation', token], queryFn: () => api.get<InvitationPreview>(path) });
  const accept = useMutation({
    mutationFn: () => api.post<InvitationAccepted>(`${path}/accept`),
    onSuccess: async (r) => {
      toast(r.joined ? 'You joined the workspace ✓' : 'You already are a member of this workspace');
      // The new membership is in `/v1/me` (and every list) from now on.
      await qc.invalidateQueries();
      nav(workspaceHref(r.workspace_id));
    },
  });
  const error = preview.error ?? accept.error;
  // Unknown, expired, revoked or used: trying again cannot help, only a new link can.
  const dead = error instanceof ApiError && (error.status === 404 || error.status === 410);
  const p = preview.data;
  const summary = p ? inviteSummary(p, when) : null;
  return (
    <section className="panel" aria-labelledby="invite-h" style={{ maxWidth: 560, margin: '24px auto' }}>
      <h1 id="invite-h">{summary?.title ?? (dead ? 'This invitation can no longer be used' : 'You are invited to a team workspace')}</h1>
      {preview.isPending && <Loading what="Reading the invitation" />}
      {summary && (
        <ul>
          {summary.details.map((d) => <li key={d}>{d}</li>)}
        </ul>
      )}
      {p?.already_member ? (
        <p role="status">
          You already are a member of {p.workspace_name}. <Link to={workspaceHref(p.workspace_id)}>Open {p.workspace_name}</Link>
        </p>
      ) : (
        p && <p>Accepting adds you as a member with this role. You can leave the workspace later from its Team page.</p>
      )}
      {/* The server's own words: "this invitation has expired; ask for a new one", … */}
      <ErrorBox error={error} />
      <div className="row">
        {!p?.already_member && (
          <button
            className="primary"
            onClick={() => accept.mutate()}
            disabled={!p || dead || accept.isPending || accept.isSuccess}
            title={dead ? 'This link can no longer be used: ask for a new one' : undefined}
          >
            {accept.isPending ? 'Joining…' : 'Accept invitation'}
          </button>
        )}
        <a className="button" href="/">Not now</a>
      </div>
    </section>
  );
}
