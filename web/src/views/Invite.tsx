import { useNavigate, useParams } from 'react-router';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../api/client';
import { ApiError } from '../api/errors';
import { WS_PARAM } from '../api/workspaces';
import type { InvitationAccepted } from '../api/types';
import { ErrorBox } from '../components/ui';
import { useToast } from '../components/toast';

/** `/invite/:token`: a signed-in user joins the workspace the link is for. */
export default function Invite() {
  const { token = '' } = useParams();
  const qc = useQueryClient();
  const nav = useNavigate();
  const toast = useToast();
  const accept = useMutation({
    mutationFn: () => api.post<InvitationAccepted>(`/v1/invitations/${encodeURIComponent(token)}/accept`),
    onSuccess: async (r) => {
      toast(r.joined ? 'You joined the workspace ✓' : 'You already are a member of this workspace');
      // The new membership is in `/v1/me` (and every list) from now on.
      await qc.invalidateQueries();
      nav(`/?${WS_PARAM}=${encodeURIComponent(r.workspace_id)}`);
    },
  });
  // Expired, revoked or used: trying again cannot help, only a new link can.
  const gone = accept.error instanceof ApiError && accept.error.status === 410;
  return (
    <section className="panel" aria-labelledby="invite-h" style={{ maxWidth: 560, margin: '24px auto' }}>
      <h1 id="invite-h">You are invited to a team workspace</h1>
      <p>Accepting adds you as a member with the role the invitation names. You can leave the workspace later from its Team page.</p>
      {/* A link that expired, was revoked or used answers 410 with the server's own words. */}
      <ErrorBox error={accept.error} />
      <div className="row">
        <button className="primary" onClick={() => accept.mutate()} disabled={accept.isPending || accept.isSuccess || gone}>
          {accept.isPending ? 'Joining…' : 'Accept invitation'}
        </button>
        <a className="button" href="/">Not now</a>
      </div>
    </section>
  );
}
