// The caller's workspaces (from `GET /v1/me`) and the one chosen in the header, kept in the
// URL as `?workspace_id=` so a link or a reload shows the same workspace.
import { useCallback } from 'react';
import { useSearchParams } from 'react-router';
import { useMe } from './session';
import { can, pickWorkspace, type Verdict } from '../lib/can';
import type { MyWorkspace, Permission } from './types';

export const WS_PARAM = 'workspace_id';

export function useMyWorkspaces(): MyWorkspace[] {
  return useMe().data?.workspaces ?? [];
}

/** The chosen workspace id (null: every workspace) and a setter that keeps the rest of the URL. */
export function useWorkspaceParam(): [string | null, (id: string | null) => void] {
  const [params, setParams] = useSearchParams();
  const id = params.get(WS_PARAM);
  const set = useCallback(
    (next: string | null) =>
      setParams((p) => {
        const q = new URLSearchParams(p);
        if (next) q.set(WS_PARAM, next);
        else q.delete(WS_PARAM);
        return q;
      }),
    [setParams],
  );
  return [id, set];
}

/** Where a page acts: the chosen workspace, else the personal one (where creates go by default). */
export function useActiveWorkspace(): MyWorkspace | undefined {
  const [id] = useWorkspaceParam();
  return pickWorkspace(useMyWorkspaces(), id);
}

/** `can()` for a workspace id (a resource's `workspace_id`; none: the active workspace);
 * with several permissions, the first one missing is the reason. */
export function useCan(perm: Permission | Permission[], workspaceId?: string | null, botId?: string | null): Verdict {
  const all = useMyWorkspaces();
  const active = useActiveWorkspace();
  const ws = workspaceId ? all.find((w) => w.id === workspaceId) : active;
  const verdicts = (Array.isArray(perm) ? perm : [perm]).map((p) => can(p, ws, botId));
  return verdicts.find((v) => !v.ok) ?? verdicts[0];
}

/** `?workspace_id=` for a list request (nothing when every workspace is shown). */
export function useListQuery(): { workspace_id?: string } {
  const [id] = useWorkspaceParam();
  return id ? { workspace_id: id } : {};
}
