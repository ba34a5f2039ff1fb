// #16 leftovers:
// - a failed AI command's error line opens the connection it called ("Open the connection"),
//   and the logs chart counts new events as they arrive live (not at the next 60 s poll);
// - Try it runs in the server and channel picked by name (fed by the bot's live servers);
// - a long wait reads "about 10 min", and the shard table shows no worker machine names
//   (they sit behind an operators' disclosure);
// - a prompt using an undefined variable saves with a warning on its card.
export default async function ({ S, page, context, flow, expectVisible, until, fitsPhone, LONG, botUrl }) {
  const csrf = async () => (await context.cookies()).find((c) => c.name === 'bc_csrf')?.value ?? '';
  const post = async (path, data) => {
    const r = await page.request.post(path, { headers: { 'X-CSRF-Token': await csrf() }, data });
    if (!r.ok()) throw new Error(`${path} answered ${r.status()}: ${await r.text()}`);
    return r.json();
  };
  const get = async (path) => {
    const r = await page.request.get(path);
    if (!r.ok()) throw new Error(`${path} answered ${r.status()}: ${await r.text()}`);
    return r.json();
  };
  const control = async (method, path, body) => {
    const r = await fetch(`${S.sandbox}/_sandbox${path}`, { method, headers: { 'content-type': 'application/json' }, body: body ? JSON.stringify(body) : undefined });
    if (!r.ok) throw new Error(`sandbox control ${path} answered ${r.status}: ${await r.text()}`);
    return r.json();
  };
  const discord = async (path) => {
    const r = await fetch(`${S.sandbox}/api/v10${path}`, { headers: { Authorization: `Bot ${S.token}` } });
    if (!r.ok) throw new Error(`sandbox ${path} answered ${r.status}`);
    return r.json();
  };
  const botId = () => botUrl().split('/')[2];
  const online = async () => {
    await post(`/v1/bots/${botId()}/start`);
    await until('the bot is online', async () => (await get(`/v1/bots/${botId()}/status`)).state === 'online');
  };

  await flow('rest_open_the_connection_and_chart_follows', ['try_it_failure_is_red_with_reason_and_log_link'], async () => {
    await page.setViewportSize({ width: 1280, height: 800 });
    await online();
    // The AI command of the Try it flow calls a connection that cannot be reached.
    const ask = (await get(`/v1/bots/${botId()}/commands`)).items.find((c) => c.name === 'ask');
    if (!ask) throw new Error('no /ask command');
    const conn = (await get('/v1/connections')).items.find((c) => c.id === ask.response.connection_id);
    await page.goto(`${botUrl()}/logs`);
    await expectVisible(page.locator('[data-testid=tail-stream-state][data-stream-state=live]'), 20_000);
    const chart = page.getByTestId('events-chart');
    await expectVisible(chart, LONG);
    const before = Number(await chart.getAttribute('data-total'));
    const started = Date.now();
    await post(`/v1/bots/${botId()}/try`, { command_id: ask.id, options: { q: 'hello?' }, content: null });
    const line = page.getByTestId('live-tail').locator('.lvl-error').filter({ hasText: '/ask failed' }).last();
    await expectVisible(line, LONG);
    // The chart counts it within seconds (it used to wait for its 60 s poll).
    await until('the chart counts the new events', async () => Number(await chart.getAttribute('data-total')) > before, 20_000);
    const waited = Date.now() - started;
    if (waited > 30_000) throw new Error(`the chart took ${waited} ms to follow`);
    await line.scrollIntoViewIfNeeded();
    await page.screenshot({ path: `${S.shots}/rest_error_line_links.png` });
    await expectVisible(line.getByRole('link', { name: 'Open the command' }));
    await line.getByRole('link', { name: 'Open the connection' }).click();
    await page.waitForURL((u) => u.pathname === '/connections' && u.hash === `#connection-${conn.id}`, { timeout: LONG });
    const card = page.locator(`[id="connection-${conn.id}"]`);
    await expectVisible(card.filter({ hasText: conn.name }), LONG);
    await until('the connection is scrolled into view', async () => {
      const b = await card.boundingBox();
      return b && b.y >= 0 && b.y < 800;
    }, 5_000);
  });

  await flow('rest_try_it_in_a_picked_server_and_channel', ['template_names_everywhere'], async () => {
    await page.setViewportSize({ width: 1280, height: 800 });
    await online();
    // A second server, with its own channels, where the bot is installed.
    const name = `Second Place ${Date.now() % 100000}`;
    const app = (await discord('/applications/@me')).id;
    const made = await control('POST', '/guilds', { name, channels: ['lobby', 'chat'] });
    await control('POST', `/guilds/${made.guild_id}/install`, { application_id: app });
    await until('the bot sees the new server', async () => (await get(`/v1/bots/${botId()}/guilds`)).guilds.some((g) => g.id === made.guild_id));
    const chat = (await discord(`/guilds/${made.guild_id}/channels`)).find((c) => c.name === 'chat');
    if (!chat) throw new Error('the new server has no #chat');
    const me = await discord('/users/@me');
    await page.goto(`${botUrl()}/try`);
    await expectVisible(page.locator('p[data-try-mode=sandbox]'));
    const place = page.getByTestId('try-place');
    // Defaults: the bot's first server and its first text channel, read by name, ids under them.
    await expectVisible(place.getByTestId('picked').first(), LONG);
    const server = place.getByLabel('Server', { exact: true });
    const channel = place.getByLabel('Channel', { exact: true });
    const picked = place.getByTestId('picked');
    if (!(await server.inputValue()) || !(await channel.inputValue()).startsWith('#')) throw new Error('no default server and channel by name');
    await page.getByLabel('Command', { exact: true }).selectOption({ label: '/where' });
    // Picked by name: the server, then a channel of it.
    await server.fill(name);
    await server.press('Enter');
    await expectVisible(picked.filter({ hasText: `id ${made.guild_id}` }), 5_000);
    if ((await server.inputValue()) !== name) throw new Error(`the picked server reads "${await server.inputValue()}"`);
    await until('the channel follows the server', async () => /^#(lobby|chat)$/.test(await channel.inputValue()), 5_000);
    await channel.fill('#chat');
    await channel.press('Enter');
    await expectVisible(picked.filter({ hasText: `${name} · id ${chat.id}` }), 5_000);
    if ((await channel.inputValue()) !== '#chat') throw new Error(`the picked channel reads "${await channel.inputValue()}"`);
    const expected = `Welcome to ${name} in #chat, from ${me.username}!`;
    const sent = [];
    const seen = (req) => { if (req.url().endsWith(`/v1/bots/${botId()}/try`)) sent.push(req.postDataJSON()); };
    page.on('request', seen);
    const deadline = Date.now() + LONG;
    const reply = page.locator('[data-testid=reply][data-try-mode=sandbox]');
    for (;;) {
      await page.getByRole('button', { name: 'Run' }).click();
      const err = page.locator('form[aria-label="Try a command"] > .alert.error');
      await expectVisible(reply.or(err), LONG);
      if (await reply.filter({ hasText: expected }).count()) break;
      if (Date.now() > deadline) throw new Error(`Try it answered: ${await reply.or(err).first().textContent()}`);
      await page.waitForTimeout(500);
    }
    page.off('request', seen);
    const body = sent.at(-1);
    if (body?.guild_id !== made.guild_id || body?.channel_id !== chat.id) throw new Error(`Try it sent ${JSON.stringify(body)}`);
    await fitsPhone('rest_try_it_place', { width: 1280, height: 800 });
  });

  await flow('rest_waits_and_shard_words', ['add_bot'], async () => {
    await page.setViewportSize({ width: 1280, height: 800 });
    await online();
    // A rate limit with a long wait (a server's 429 with Retry-After: 596) reads in minutes.
    const guildsPath = `**/v1/bots/${botId()}/guilds`;
    await page.route(guildsPath, (route) =>
      route.fulfill({ status: 429, headers: { 'retry-after': '596', 'content-type': 'application/json' }, body: JSON.stringify({ error: { code: 'rate_limited', message: 'too many requests' } }) }),
    );
    try {
      await page.goto(botUrl());
      await expectVisible(page.getByTestId('servers').filter({ hasText: 'too many requests (try again in about 10 min)' }), LONG);
      if (await page.getByText(/596 s/).count()) throw new Error('a wait still reads "596 s"');
    } finally {
      await page.unroute(guildsPath);
    }
    // The shard table: no worker machine names for the owner; operators open the details.
    await expectVisible(page.locator('[data-testid=bot-status] [data-state=online]'), LONG);
    const table = page.getByRole('region', { name: 'Shards' }).or(page.locator('section[aria-labelledby=shards-h]'));
    await expectVisible(table.locator('table'), LONG);
    if (await table.locator('table').getByText(/worker|replica/i).count()) throw new Error('the shard table shows worker jargon');
    const details = page.getByTestId('shard-workers');
    await expectVisible(details.getByText('For operators: where the connection runs'));
    if (await details.getByText('held by the botcenter worker').isVisible()) throw new Error('the operators’ details are open by default');
    await details.getByText('For operators: where the connection runs').click();
    await expectVisible(details.getByText(/Shard 1\/\d+: held by the botcenter worker/));
    await page.screenshot({ path: `${S.shots}/rest_shards.png`, fullPage: true });
    await post(`/v1/bots/${botId()}/stop`);
    await until('the bot is offline', async () => (await get(`/v1/bots/${botId()}/status`)).state === 'offline');
  });

  await flow('rest_prompt_template_warning', ['add_bot'], async () => {
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.goto('/prompts');
    await page.getByRole('button', { name: 'New prompt' }).click();
    const name = `Tone ${Date.now() % 100000}`;
    await page.getByLabel('Name', { exact: true }).fill(name);
    await page.getByLabel('User message template', { exact: true }).fill('{{ options.question }} in a {{ vars.tone }} tone, in {{ guild.nmae }}');
    await page.getByRole('button', { name: 'Save prompt' }).click();
    await expectVisible(page.getByTestId('toast').filter({ hasText: /Prompt saved ✓ — 2 warnings/ }), LONG);
    const card = page.locator('.panel').filter({ hasText: name }).filter({ has: page.getByTestId('template-warnings') });
    await expectVisible(card.getByTestId('template-warnings').filter({ hasText: '{{ guild.nmae }}' }), LONG);
    await expectVisible(card.getByTestId('template-warnings').filter({ hasText: "{{ vars.tone }}, which is not a variable: it renders empty (add it to the prompt's variables)" }));
    await page.screenshot({ path: `${S.shots}/rest_prompt_warning.png`, fullPage: true });
    // Declaring the variable and fixing the typo clears them.
    await card.getByRole('button', { name: 'Edit' }).click();
    await page.getByLabel('User message template', { exact: true }).fill('{{ options.question }} in a {{ vars.tone }} tone, in {{ guild.name }}');
    await page.getByLabel('Variables', { exact: true }).fill('tone = kind');
    await page.getByRole('button', { name: 'Save prompt' }).click();
    await expectVisible(page.getByTestId('toast').filter({ hasText: 'Prompt saved ✓' }).filter({ hasNotText: 'warning' }), LONG);
    await until('the warnings are gone', async () => (await page.locator('.panel').filter({ hasText: name }).getByTestId('template-warnings').count()) === 0, 10_000);
  });
}
