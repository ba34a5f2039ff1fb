import { useState } from 'react';
import { useBots } from '../api/bots';
import LogsView from './LogsView';

export default function Logs() {
  const bots = useBots();
  const [botId, setBotId] = useState('');
  return (
    <>
      <h1>Logs</h1>
      <label htmlFor="log-bot">Bot</label>
      <select id="log-bot" value={botId} onChange={(e) => setBotId(e.target.value)} style={{ maxWidth: 360 }}>
        <option value="">All bots</option>
        {bots.data?.bots.map((b) => <option key={b.id} value={b.id}>{b.name}</option>)}
      </select>
      <LogsView key={botId} botId={botId || undefined} />
    </>
  );
}
