// Try it's server and channel pickers (GET /v1/bots/{id}/guilds): the run happens there, so
// `{{ guild.name }}` and `{{ channel.name }}` render what was picked.
import type { Place } from '../lib/tryPlace';
import { pickGuild } from '../lib/tryPlace';
import { channelChoices, guildChoices } from '../lib/pickers';
import { GuildSource, IdPicker, useGuilds } from './pickers';

export function TryPlace({ botId, place, onChange, sandbox }: { botId: string; place: Place; onChange: (p: Place) => void; sandbox: boolean }) {
  const query = useGuilds(botId);
  const guilds = query.data?.guilds ?? [];
  const blank = sandbox ? 'the bot’s first sandbox server' : 'a sample server';
  return (
    <fieldset className="try-place" data-testid="try-place" style={{ border: 0, padding: 0, margin: 0 }}>
      <legend style={{ fontWeight: 600, marginTop: 12, padding: 0 }}>Where it runs</legend>
      <div className="row">
        <IdPicker label="Server" hint={place.guild ? undefined : `Empty: ${blank}.`} value={place.guild} onChange={(v) => onChange(pickGuild(guilds, place, v))} choices={guildChoices(guilds)} />
        <IdPicker label="Channel" hint={place.channel ? undefined : 'Empty: the server’s first channel.'} value={place.channel} onChange={(v) => onChange({ ...place, channel: v })} choices={channelChoices(guilds, place.guild ? [place.guild] : [])} />
      </div>
      <GuildSource query={query} />
    </fieldset>
  );
}
