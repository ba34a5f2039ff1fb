// The invite-link generator (#16 §1): Discord's bot authorization link with a permissions
// picker. One component, in the first-run checklist and on a finished bot's overview.
import { useEffect, useRef, useState } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { api } from '../api/client';
import { useSandbox } from '../api/bots';
import { useCan } from '../api/workspaces';
import type { BotView } from '../api/types';
import { inviteUrl, type ConsoleConfig } from '../lib/onboarding';
import { BOT_DEFAULT_KEYS, toBits } from '../lib/permissions';
import { Gated } from './gated';
import { PermissionsPicker } from './permissions';
import { CopyButton, ErrorBox } from './ui';

// Putting a bot in a server is part of running it: the checklist's Start asks the same.
const PERM = 'bots.control';
// After the link is opened, how long the servers list looks for the new server.
const WATCH_MS = 120_000;
const WATCH_EVERY_MS = 3_000;

export const useConsoleConfig = () =>
  useQuery({ queryKey: ['console-config'], queryFn: () => api.get<ConsoleConfig>('/v1/config'), staleTime: Infinity });

export function InviteLink({ bot }: { bot: BotView }) {
  const config = useConsoleConfig();
  const sandbox = useSandbox();
  const verdict = useCan(PERM, bot.workspace_id, bot.id);
  const qc = useQueryClient();
  const [permissions, setPermissions] = useState(() => toBits(BOT_DEFAULT_KEYS));
  const watch = useRef<number | undefined>(undefined);
  useEffect(() => () => window.clearInterval(watch.current), []);
  if (config.error) return <ErrorBox error={config.error} retry={() => config.refetch()} />;
  if (!config.data) return null;
  const url = inviteUrl(config.data.discord_base_url, bot.application_id, permissions);
  const onSandbox = sandbox.data?.enabled === true;
  const label = onSandbox ? 'Add to a sandbox server' : 'Invite to a server';
  // The server shows up in the servers list once Discord says so, without a reload: the
  // list is otherwise read only every minute.
  const watchServers = () => {
    const until = Date.now() + WATCH_MS;
    window.clearInterval(watch.current);
    watch.current = window.setInterval(() => {
      void qc.invalidateQueries({ queryKey: ['guilds', bot.id] });
      if (Date.now() > until) window.clearInterval(watch.current);
    }, WATCH_EVERY_MS);
  };
  return (
    <>
      <p className="small" style={{ margin: '4px 0' }}>
        {onSandbox
          ? 'This server runs against the local discord-sandbox: the link opens its server picker, and Authorize adds the bot to a sandbox server.'
          : 'The link opens Discord: pick a server you manage and Authorize.'}
      </p>
      <PermissionsPicker label="Permissions the bot asks for" value={permissions} onChange={setPermissions} collapsed hint="Its role in the server gets these. A bot that answers commands needs little more than the defaults." />
      <div className="row" style={{ flexWrap: 'wrap', marginTop: 6 }}>
        {verdict.ok ? (
          <>
            <a className="button primary" href={url} target="_blank" rel="noopener noreferrer" data-testid="invite-link" onClick={watchServers}>
              {label}
            </a>
            <input readOnly value={url} aria-label="Invite link" onFocus={(e) => e.currentTarget.select()} style={{ flex: '1 1 16em', minWidth: 0 }} />
            <CopyButton text={url} label="Copy link" />
          </>
        ) : (
          <Gated perm={PERM} workspaceId={bot.workspace_id} botId={bot.id}>
            <button type="button" className="primary">{label}</button>
          </Gated>
        )}
      </div>
    </>
  );
}

/** A finished bot's overview: adding it to one more server, once the checklist is gone. */
export function AddToServer({ bot }: { bot: BotView }) {
  return (
    <section className="panel" aria-labelledby="add-server-h" data-testid="add-to-server">
      <h2 id="add-server-h" style={{ marginTop: 0 }}>Add to a server</h2>
      <InviteLink bot={bot} />
    </section>
  );
}
