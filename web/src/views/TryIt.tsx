import { useState, type FormEvent } from 'react';
import { useMutation } from '@tanstack/react-query';
import { api } from '../api/client';
import { useCachedStatus, useSandbox } from '../api/bots';
import type { BotView, CommandReply, TryResult } from '../api/types';
import { Empty, ErrorBox, Field, Loading } from '../components/ui';
import { Gated } from '../components/gated';
import { EmbedPreviews, ReplyView, useCommands } from './Commands';
import { IdPicker, useGuilds } from '../components/pickers';
import { channelChoices, roleChoices } from '../lib/pickers';
import { SandboxRunResult } from '../components/templates';
import { TryPlace } from '../components/tryPlace';
import { defaultPlace, placeBody, type Place } from '../lib/tryPlace';

function coerce(type: string, raw: string): unknown {
  if (type === 'integer') return Number.parseInt(raw, 10);
  if (type === 'number') return Number(raw);
  if (type === 'boolean') return raw === 'true';
  return raw;
}

/** The bot's real answer in the sandbox, with what its run logged (reason, steps). */
function SandboxReply({ botId, reply, since }: { botId: string; reply: TryResult; since: string }) {
  return (
    <SandboxRunResult botId={botId} reply={reply} since={since}>
      {reply.content && <div style={{ whiteSpace: 'pre-wrap' }}>{reply.content}</div>}
      {!reply.content && (reply.embeds ?? []).length === 0 && <div className="muted">(empty answer)</div>}
      <EmbedPreviews embeds={reply.embeds} />
    </SandboxRunResult>
  );
}

/**
 * Invoke a command and see the bot's answer. When the server runs against the
 * discord-sandbox (`GET /v1/sandbox`), `POST /v1/bots/{id}/try` invokes it as a sandbox user
 * and the running bot really answers; otherwise the server's dry run
 * (`POST /v1/bots/{id}/commands/{cid}/test`): the same rendering, checks and API calls as a
 * real invocation, without posting to Discord.
 */
export default function TryIt({ bot }: { bot: BotView }) {
  const cmds = useCommands(bot.id);
  const [cid, setCid] = useState('');
  const [values, setValues] = useState<Record<string, string>>({});
  const [content, setContent] = useState('');
  const sandbox = useSandbox();
  const status = useCachedStatus(bot.id).data;
  const viaSandbox = sandbox.data?.enabled === true;
  const cmd = cmds.data?.items.find((c) => c.id === cid);
  const live = useGuilds(bot.id).data?.guilds ?? [];
  const [picked, setPicked] = useState<Place | null>(null);
  const place = defaultPlace(live, picked);
  const [missing, setMissing] = useState<Record<string, string>>({});
  const [since, setSince] = useState('');
  const run = useMutation({
    mutationFn: async (): Promise<{ sandbox: TryResult } | { dry: CommandReply }> => {
      setSince(new Date(Date.now() - 2000).toISOString());
      const options: Record<string, unknown> = {};
      for (const o of cmd?.options ?? []) if (values[o.name] !== undefined && values[o.name] !== '') options[o.name] = coerce(o.type, values[o.name]);
      const text = cmd?.kind === 'prefix' ? content || null : null;
      const where = placeBody(place);
      if (viaSandbox) return { sandbox: await api.post<TryResult>(`/v1/bots/${bot.id}/try`, { command_id: cid, options, content: text, ...where }) };
      return { dry: await api.post<CommandReply>(`/v1/bots/${bot.id}/commands/${cid}/test`, { options, content: text, ...where }) };
    },
  });
  if (cmds.isPending || sandbox.isPending) return <Loading what="Loading commands" />;
  if (cmds.error) return <ErrorBox error={cmds.error} />;
  if (cmds.data.items.length === 0) return <Empty>Create a command first, then try it here.</Empty>;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    // Required options are checked here: nothing is sent with one left empty.
    const errs: Record<string, string> = {};
    if (cmd?.kind !== 'prefix') for (const o of cmd?.options ?? []) if (o.required && !(values[o.name] ?? '').trim()) errs[o.name] = `Enter a value for ${o.name}: it is required.`;
    setMissing(errs);
    if (Object.keys(errs).length > 0) {
      run.reset();
      const form = e.currentTarget as HTMLFormElement;
      requestAnimationFrame(() => form.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus());
      return;
    }
    run.mutate();
  };
  return (
    <form className="panel" onSubmit={submit} aria-label="Try a command">
      <h2 style={{ marginTop: 0 }}>Try it</h2>
      {viaSandbox ? (
        <p className="muted small" data-try-mode="sandbox">
          This server runs against the discord-sandbox: the command is invoked by a sandbox user in a sandbox guild, and your running bot answers for real — test it before you go live.
          {status && status.state !== 'online' && <> The bot is {status.state} now: start it first.</>}
        </p>
      ) : (
        <p className="muted small" data-try-mode="dry-run">
          Dry run: this server talks to Discord itself{sandbox.error ? ' (or the sandbox check failed)' : ''}, so the command runs on the server and shows what the bot would answer, without posting anything to Discord.
        </p>
      )}
      <Field label="Command">
        {(p) => (
          <select {...p} value={cid} onChange={(e) => (setCid(e.target.value), setValues({}), setMissing({}), run.reset())}>
            <option value="">— pick a command —</option>
            {cmds.data.items.map((c) => <option key={c.id} value={c.id}>{c.kind === 'slash' ? '/' : ''}{c.name}</option>)}
          </select>
        )}
      </Field>
      <TryPlace botId={bot.id} place={place} onChange={(p) => (setPicked(p), run.reset())} sandbox={viaSandbox} />
      {cmd?.options?.map((o) =>
        o.type === 'channel' || o.type === 'role' ? (
          <IdPicker key={o.name} label={`${o.name}${o.required ? ' (required)' : ''}`} hint={o.description} error={missing[o.name]} value={values[o.name] ?? ''} onChange={(v) => setValues({ ...values, [o.name]: v })} choices={o.type === 'channel' ? channelChoices(live, place.guild ? [place.guild] : []) : roleChoices(live, place.guild ? [place.guild] : [])} />
        ) : (
        <Field key={o.name} label={`${o.name}${o.required ? ' (required)' : ''}`} hint={o.description} error={missing[o.name]}>
          {(p) =>
            o.choices && o.choices.length > 0 ? (
              <select {...p} value={values[o.name] ?? ''} onChange={(e) => setValues({ ...values, [o.name]: e.target.value })}>
                <option value="">—</option>
                {o.choices.map((ch) => <option key={String(ch.value)} value={String(ch.value)}>{ch.name}</option>)}
              </select>
            ) : o.type === 'boolean' ? (
              <select {...p} value={values[o.name] ?? ''} onChange={(e) => setValues({ ...values, [o.name]: e.target.value })}>
                <option value="">—</option><option value="true">true</option><option value="false">false</option>
              </select>
            ) : (
              <input {...p} type={o.type === 'integer' || o.type === 'number' ? 'number' : 'text'} value={values[o.name] ?? ''} onChange={(e) => setValues({ ...values, [o.name]: e.target.value })} />
            )
          }
        </Field>
        ),
      )}
      {cmd?.kind === 'prefix' && <Field label="Message text after the command">{(p) => <input {...p} value={content} onChange={(e) => setContent(e.target.value)} />}</Field>}
      <div className="row" style={{ marginTop: 10 }}>
        {/* Both the sandbox run and the dry run need commands.edit (the role matrix). */}
        <Gated perm="commands.edit" workspaceId={bot.workspace_id} botId={bot.id}>
          <button className="primary" disabled={!cid || run.isPending}>{run.isPending ? 'Running…' : 'Run'}</button>
        </Gated>
      </div>
      <ErrorBox error={run.error} />
      {run.data && ('sandbox' in run.data ? <SandboxReply botId={bot.id} reply={run.data.sandbox} since={since} /> : <ReplyView reply={run.data.dry} botId={bot.id} />)}
    </form>
  );
}
