import { useState, type FormEvent } from 'react';
import { useMutation } from '@tanstack/react-query';
import { api } from '../api/client';
import type { BotView, CommandReply } from '../api/types';
import { Empty, ErrorBox, Field, Loading } from '../components/ui';
import { ReplyView, useCommands } from './Commands';

function coerce(type: string, raw: string): unknown {
  if (type === 'integer') return Number.parseInt(raw, 10);
  if (type === 'number') return Number(raw);
  if (type === 'boolean') return raw === 'true';
  return raw;
}

/**
 * Invoke a command and see the bot's answer. Uses the server's dry run
 * (`POST /v1/bots/{id}/commands/{cid}/test`): the same rendering, checks and API calls as a
 * real invocation, without posting to Discord.
 */
export default function TryIt({ bot }: { bot: BotView }) {
  const cmds = useCommands(bot.id);
  const [cid, setCid] = useState('');
  const [values, setValues] = useState<Record<string, string>>({});
  const [content, setContent] = useState('');
  const cmd = cmds.data?.items.find((c) => c.id === cid);
  const run = useMutation({
    mutationFn: () => {
      const options: Record<string, unknown> = {};
      for (const o of cmd?.options ?? []) if (values[o.name] !== undefined && values[o.name] !== '') options[o.name] = coerce(o.type, values[o.name]);
      return api.post<CommandReply>(`/v1/bots/${bot.id}/commands/${cid}/test`, { options, content: cmd?.kind === 'prefix' ? content || null : null });
    },
  });
  if (cmds.isPending) return <Loading what="Loading commands" />;
  if (cmds.error) return <ErrorBox error={cmds.error} />;
  if (cmds.data.items.length === 0) return <Empty>Create a command first, then try it here.</Empty>;
  const submit = (e: FormEvent) => (e.preventDefault(), run.mutate());
  return (
    <form className="panel" onSubmit={submit} aria-label="Try a command">
      <h2 style={{ marginTop: 0 }}>Try it</h2>
      <p className="muted small">Runs the command as a test user and shows what the bot would answer — before you go live.</p>
      <Field label="Command">
        {(p) => (
          <select {...p} value={cid} onChange={(e) => (setCid(e.target.value), setValues({}), run.reset())}>
            <option value="">— pick a command —</option>
            {cmds.data.items.map((c) => <option key={c.id} value={c.id}>{c.kind === 'slash' ? '/' : ''}{c.name}</option>)}
          </select>
        )}
      </Field>
      {cmd?.options?.map((o) => (
        <Field key={o.name} label={`${o.name}${o.required ? ' (required)' : ''}`} hint={o.description}>
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
      ))}
      {cmd?.kind === 'prefix' && <Field label="Message text after the command">{(p) => <input {...p} value={content} onChange={(e) => setContent(e.target.value)} />}</Field>}
      <div className="row" style={{ marginTop: 10 }}>
        <button className="primary" disabled={!cid || run.isPending}>{run.isPending ? 'Running…' : 'Run'}</button>
      </div>
      <ErrorBox error={run.error} />
      {run.data && <ReplyView reply={run.data} />}
    </form>
  );
}
