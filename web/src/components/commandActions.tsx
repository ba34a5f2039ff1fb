// The command list's per-row actions (enable / disable, Duplicate) and "Sync now".
import { useState } from 'react';
import { Link } from 'react-router';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api } from '../api/client';
import type { CommandOut, CommandsSynced } from '../api/types';
import { fromCommand, toPayload } from '../lib/commandForm';
import { duplicateName } from '../lib/pickers';
import { ErrorBox } from './ui';
import { Gated } from './gated';
import { useToast } from './toast';

/** The bot an action is about: its id and workspace (what the permission check needs). */
type BotRef = { id: string; workspace_id: string };

function useRefreshCommands(botId: string) {
  const qc = useQueryClient();
  return () => {
    void qc.invalidateQueries({ queryKey: ['commands', botId] });
    void qc.invalidateQueries({ queryKey: ['sync', botId] });
  };
}

/** A switch that turns a command on or off (an off command disappears from Discord). */
export function EnabledToggle({ bot, cmd }: { bot: BotRef; cmd: CommandOut }) {
  const botId = bot.id;
  const refresh = useRefreshCommands(botId);
  const qc = useQueryClient();
  const on = cmd.enabled !== false;
  const m = useMutation({
    mutationFn: () => api.patch<CommandOut>(`/v1/bots/${botId}/commands/${cmd.id}`, { enabled: !on }),
    onSuccess: (c) => (qc.setQueryData(['command', botId, c.id], c), refresh()),
  });
  const name = `${cmd.kind === 'slash' ? '/' : ''}${cmd.name}`;
  return (
    <>
      <label className="inline" style={{ margin: 0 }}>
        <Gated perm="commands.edit" workspaceId={bot.workspace_id} botId={botId}>
          <input type="checkbox" role="switch" checked={on} disabled={m.isPending} onChange={() => m.mutate()} aria-label={`${name} enabled`} />
        </Gated>
        {m.isPending ? (on ? 'Turning off…' : 'Turning on…') : on ? 'On' : 'Off'}
      </label>
      <ErrorBox error={m.error} />
    </>
  );
}

/** Copy a command under a free name; the copy opens in the list with a link to edit it. */
export function DuplicateButton({ bot, cmd, names }: { bot: BotRef; cmd: CommandOut; names: string[] }) {
  const botId = bot.id;
  const refresh = useRefreshCommands(botId);
  const toast = useToast();
  const m = useMutation({
    mutationFn: () => api.post<CommandOut>(`/v1/bots/${botId}/commands`, toPayload({ ...fromCommand(cmd), name: duplicateName(cmd.name, cmd.kind, names) })),
    onSuccess: (c) => (toast(`Duplicated as ${c.kind === 'slash' ? '/' : ''}${c.name} ✓`), refresh()),
  });
  return (
    <>
      <Gated perm="commands.edit" workspaceId={bot.workspace_id} botId={botId}>
        <button type="button" onClick={() => m.mutate()} disabled={m.isPending} aria-label={`Duplicate ${cmd.name}`}>
          {m.isPending ? 'Copying…' : 'Duplicate'}
        </button>
      </Gated>
      {m.data && (
        <span role="status" className="small">
          {' '}Copied as <Link to={m.data.id}>{m.data.name}</Link>
        </span>
      )}
      <ErrorBox error={m.error} />
    </>
  );
}

/** Register the bot's application commands with Discord again, now, and say how it went. */
export function SyncNowButton({ bot }: { bot: BotRef }) {
  const botId = bot.id;
  const refresh = useRefreshCommands(botId);
  const [at, setAt] = useState<Date | null>(null);
  const m = useMutation({
    mutationFn: () => api.post<CommandsSynced>(`/v1/bots/${botId}/commands/sync`),
    onSuccess: () => (setAt(new Date()), refresh()),
  });
  const r = m.data;
  return (
    <>
      <Gated perm="commands.edit" workspaceId={bot.workspace_id} botId={botId}>
        <button type="button" onClick={() => m.mutate()} disabled={m.isPending}>
          {m.isPending ? 'Syncing with Discord…' : 'Sync now'}
        </button>
      </Gated>
      {r && !m.isPending && (
        <span role="status" className="small" data-testid="sync-now">
          {r.ok ? `✓ Discord has the ${r.commands} application ${r.commands === 1 ? 'command' : 'commands'}` : `✕ Discord refused them: ${r.error}`}
          {at && <span className="muted"> · {at.toLocaleTimeString()}</span>}
        </span>
      )}
      {m.error && <ErrorBox error={m.error} />}
    </>
  );
}
