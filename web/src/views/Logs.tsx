import { useState } from 'react';
import { Link, useSearchParams } from 'react-router';
import { useBots } from '../api/bots';
import LogsView from './LogsView';

export default function Logs() {
  const bots = useBots();
  // `?event=<id>&bot=<id>`: one log line (a command result's "see the log line" link).
  const [params] = useSearchParams();
  const eventId = params.get('event') ?? undefined;
  const [botId, setBotId] = useState(params.get('bot') ?? '');
  return (
    <>
      <h1>Logs</h1>
      <label htmlFor="log-bot">Bot</label>
      <select id="log-bot" value={botId} onChange={(e) => setBotId(e.target.value)} style={{ maxWidth: 360 }}>
        <option value="">All bots</option>
        {bots.data?.bots.map((b) => <option key={b.id} value={b.id}>{b.name}</option>)}
      </select>
      {eventId && <p className="small" role="status" data-testid="one-log-line">Showing one log line. <Link to="/logs">Show all lines</Link></p>}
      <LogsView key={`${botId}:${eventId ?? ''}`} botId={botId || undefined} eventId={eventId} />
    </>
  );
}
