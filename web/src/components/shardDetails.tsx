// The shard table's words for a bot owner: when a waiting shard tries again (a human
// duration, not a clock reading of seconds) and, behind a disclosure for operators, which
// botcenter worker holds each shard (a machine name means nothing to an owner).
import { useEffect, useState } from 'react';
import type { ShardStatus } from '../api/types';
import { when } from './ui';
import { humanDuration } from '../lib/words';

/** "trying again in about 10 min" under a shard that waits; ticks while shown. */
export function RetryWait({ at }: { at: string }) {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 5_000);
    return () => clearInterval(t);
  }, []);
  const left = (Date.parse(at) - now) / 1000;
  if (Number.isNaN(left)) return null;
  return (
    <div className="small muted" title={when(at)} data-testid="retry-wait">
      {left > 0 ? `trying again in ${humanDuration(left)}` : 'trying again now'}
    </div>
  );
}

/** For operators: which botcenter worker holds each shard's connection. */
export function ShardWorkers({ shards }: { shards: ShardStatus[] }) {
  const held = shards.filter((s) => s.replica);
  if (held.length === 0) return null;
  return (
    <details className="small muted" data-testid="shard-workers">
      <summary>For operators: where the connection runs</summary>
      <ul>
        {held.map((s) => (
          <li key={s.shard_id}>
            Shard {s.shard_id + 1}/{s.shard_count}: held by the botcenter worker <code>{s.replica}</code>
          </li>
        ))}
      </ul>
    </details>
  );
}
