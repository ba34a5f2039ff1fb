// Where Try it runs a command: which server and channel, defaulting to the bot's first
// server (from its live connection) and that server's first text channel.
import type { LiveGuild } from './pickers';

export type Place = { guild: string; channel: string };

/** The first channel people type in (a text channel before any other kind), by position. */
export function firstTextChannel(guild: LiveGuild | undefined): string {
  const chans = [...(guild?.channels ?? [])].filter((c) => c.type !== 'category' && c.type !== 'voice');
  chans.sort((a, b) => Number(b.type === 'text') - Number(a.type === 'text') || (a.position ?? 0) - (b.position ?? 0));
  return chans[0]?.id ?? '';
}

/** The place to show: what was picked, else the bot's first server and its first channel. */
export function defaultPlace(guilds: LiveGuild[], picked: Place | null): Place {
  if (picked) return picked;
  const g = guilds[0];
  return { guild: g?.id ?? '', channel: firstTextChannel(g) };
}

/** After picking server `guild`: keep the channel if it is in that server, else its first. */
export function pickGuild(guilds: LiveGuild[], place: Place, guild: string): Place {
  const g = guilds.find((x) => x.id === guild);
  if (!g) return { guild, channel: place.channel };
  const keeps = (g.channels ?? []).some((c) => c.id === place.channel);
  return { guild, channel: keeps ? place.channel : firstTextChannel(g) };
}

/** What the API gets: ids only (a name that did not resolve is left for the API to refuse). */
export function placeBody(place: Place): { guild_id?: string; channel_id?: string } {
  const out: { guild_id?: string; channel_id?: string } = {};
  if (place.guild.trim()) out.guild_id = place.guild.trim();
  if (place.channel.trim()) out.channel_id = place.channel.trim();
  return out;
}
