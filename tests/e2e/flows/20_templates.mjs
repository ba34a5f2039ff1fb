// #16 items 2 and 3: templates you can trust, honest results.
// - a template with guild.name / channel.name / bot.name renders the sandbox's names in the
//   editor's preview, in Try it (a sandbox interaction) and in a real interaction fired
//   through the sandbox's control API;
// - an undefined variable is flagged in preview and at save (a warning; the save succeeds),
//   and the variable picker inserts a variable at the cursor;
// - a successful Try it says which steps ran, how long it took, and links to its log line;
// - a failing AI command in Try it, and in the editor's preview, shows the reason in red with
//   a link to its log line;
// - a required option left empty in Try it is refused at the field, and nothing is sent.

export default async function ({ S, page, context, flow, expectVisible, LONG, botUrl }) {
  const discord = async (path) => {
    const r = await fetch(`${S.sandbox}/api/v10${path}`, { headers: { Authorization: `Bot ${S.token}` } });
    if (!r.ok) throw new Error(`sandbox ${path} answered ${r.status}`);
    return r.json();
  };
  const control = async (method, path, body) => {
    const r = await fetch(`${S.sandbox}/_sandbox${path}`, { method, headers: { 'content-type': 'application/json' }, body: body ? JSON.stringify(body) : undefined });
    if (!r.ok) throw new Error(`sandbox control ${path} answered ${r.status}: ${await r.text()}`);
    return r.json();
  };
  const api = async (path, data) => {
    const csrf = (await context.cookies()).find((c) => c.name === 'bc_csrf')?.value ?? '';
    const r = await page.request.post(path, { data, headers: { 'x-csrf-token': csrf } });
    if (!r.ok()) throw new Error(`${path} answered ${r.status()}: ${await r.text()}`);
    return r.json();
  };
  const botId = () => botUrl().split('/')[2];
  const template = 'Welcome to {{ guild.name }} in #{{ channel.name }}, from {{ bot.name }}!';
  let expected = '';
  let place = null;
  let askId = '';

  const tryCommand = async (label) => {
    await page.goto(`${botUrl()}/try`);
    await expectVisible(page.locator('p[data-try-mode=sandbox]'));
    await page.getByLabel('Command', { exact: true }).selectOption({ label });
  };

  await flow('template_names_everywhere', ['add_bot'], async () => {
    await page.setViewportSize({ width: 1280, height: 800 });
    // The bot runs (an earlier flow stopped it).
    await page.goto(botUrl());
    await expectVisible(page.locator('[data-testid=bot-status] [data-state]'), LONG);
    if (!(await page.locator('[data-testid=bot-status] [data-state=online]').count())) {
      await page.getByRole('button', { name: 'Start', exact: true }).click();
    }
    await expectVisible(page.locator('[data-testid=bot-status] [data-state=online]'), LONG);
    // What Discord (the sandbox) calls the server, its first text channel and the bot.
    const me = await discord('/users/@me');
    const guilds = await discord('/users/@me/guilds');
    const guild = guilds.sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1))[0];
    const channels = (await discord(`/guilds/${guild.id}/channels`)).filter((c) => c.type === 0);
    const channel = channels.sort((a, b) => a.position - b.position || (BigInt(a.id) < BigInt(b.id) ? -1 : 1))[0];
    place = { guild: guild.id, channel: channel.id, app: (await discord('/applications/@me')).id };
    expected = `Welcome to ${guild.name} in #${channel.name}, from ${me.username}!`;

    // Preview in the editor, before saving.
    await page.goto(`${botUrl()}/commands/new`);
    await page.getByLabel('Name', { exact: true }).fill('where');
    await page.getByLabel('Description', { exact: true }).fill('Says where it is');
    await page.getByLabel('Reply template', { exact: true }).fill(template);
    await page.getByRole('button', { name: 'Preview (server dry run)' }).click();
    await expectVisible(page.getByTestId('reply').filter({ hasText: expected }), LONG);
    const steps = (await page.getByTestId('run-steps').textContent()) ?? '';
    if (!/rendered template · \d+ ms in all/.test(steps)) throw new Error(`the result does not say what ran: "${steps}"`);
    await page.getByRole('button', { name: 'Save command' }).click();
    await page.waitForURL(/\/commands\/[0-9a-f-]{36}$/, { timeout: LONG });

    // Try it: a sandbox user invokes it and the running bot answers (once Discord has it).
    await tryCommand('/where');
    const deadline = Date.now() + LONG;
    for (;;) {
      await page.getByRole('button', { name: 'Run' }).click();
      const reply = page.locator('[data-testid=reply][data-try-mode=sandbox]');
      const err = page.locator('form[aria-label="Try a command"] > .alert.error');
      await expectVisible(reply.or(err), LONG);
      if (await reply.filter({ hasText: expected }).count()) break;
      if (Date.now() > deadline) throw new Error(`Try it answered: ${await reply.or(err).first().textContent()}`);
      await page.waitForTimeout(500); // the command is still being synced to Discord
    }

    // A real interaction, fired through the sandbox's control API by a member.
    const user = await control('POST', '/users', { username: `tpl-${Date.now() % 100000}` });
    await control('POST', `/guilds/${place.guild}/members`, { user_id: user.id });
    const fired = await control('POST', '/interactions', { application_id: place.app, guild_id: place.guild, channel_id: place.channel, user_id: user.id, name: 'where' });
    const answer = await control('GET', `/interactions/${fired.interaction_id}?wait=10`);
    if (answer.content !== expected) throw new Error(`the real interaction answered "${answer.content}", not "${expected}"`);
  });

  await flow('template_warning_and_picker', ['add_bot'], async () => {
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.goto(`${botUrl()}/commands/new`);
    await page.getByLabel('Name', { exact: true }).fill('typo');
    await page.getByLabel('Description', { exact: true }).fill('Has a typo');
    const content = page.getByLabel('Reply template', { exact: true });
    await content.fill('Hi {{ user.nmae }} in ');
    // The picker lists the contract's variables; a click inserts one at the cursor.
    await page.getByText(/^Insert a variable/).click();
    await content.press('End');
    await page.getByRole('button', { name: /^Insert guild\.name/ }).click();
    const text = await content.inputValue();
    if (text !== 'Hi {{ user.nmae }} in {{ guild.name }}') throw new Error(`the picker inserted: "${text}"`);
    await page.getByRole('button', { name: 'Preview (server dry run)' }).click();
    const warning = page.getByTestId('template-warnings').filter({ hasText: '{{ user.nmae }}' });
    await expectVisible(warning, LONG);
    await page.screenshot({ path: `${S.shots}/template_warning_preview.png`, fullPage: true });
    // Saved anyway, and the save says so too.
    await page.getByRole('button', { name: 'Save command' }).click();
    await page.waitForURL(/\/commands\/[0-9a-f-]{36}$/, { timeout: LONG });
    await expectVisible(page.getByTestId('toast').filter({ hasText: 'syncing to Discord (with warnings below)' }), LONG);
    await expectVisible(page.locator('[data-testid=template-warnings]').filter({ hasText: 'renders empty' }).last());
  });

  await flow('try_it_success_shows_steps_time_and_log_line', ['template_names_everywhere'], async () => {
    await page.setViewportSize({ width: 1280, height: 800 });
    await tryCommand('/where');
    await page.getByRole('button', { name: 'Run' }).click();
    const reply = page.locator('[data-testid=reply][data-try-mode=sandbox]').filter({ hasText: expected });
    await expectVisible(reply, LONG);
    // The steps and the whole run's time come from the run's log line, a moment after the answer.
    const link = reply.getByTestId('run-steps').getByRole('link', { name: 'log line' });
    await expectVisible(link, LONG);
    const steps = (await reply.getByTestId('run-steps').textContent()) ?? '';
    if (!/answered after \d+ ms/.test(steps) || !/rendered template · \d+ ms in all/.test(steps)) throw new Error(`the result does not say what ran and how long: "${steps}"`);
    await page.screenshot({ path: `${S.shots}/try_it_success_steps.png`, fullPage: true });
    await link.click();
    await expectVisible(page.getByTestId('one-log-line'), LONG);
    await expectVisible(page.getByTestId('history').filter({ hasText: /command \/where: ok/ }), LONG);
  });

  await flow('try_it_failure_is_red_with_reason_and_log_link', ['template_names_everywhere'], async () => {
    await page.setViewportSize({ width: 1280, height: 800 });
    // An AI command whose API cannot be reached.
    const conn = await api('/v1/connections', { name: `Broken AI ${Date.now() % 100000}`, base_url: 'https://ai.invalid/v1', auth_type: 'bearer', secret: 'sk-e2e-broken-123456' });
    const prompt = await api('/v1/prompts', { name: `Broken ${Date.now() % 100000}`, user: 'hi {{ options.q }}', model: 'm' });
    const ask = await api(`/v1/bots/${botId()}/commands`, {
      name: 'ask', description: 'Ask the model',
      options: [{ type: 'string', name: 'q', description: 'the question', required: true }],
      response: { type: 'ai', connection_id: conn.id, prompt_id: prompt.id },
    });
    askId = ask.id;
    await tryCommand('/ask');
    // A required option left empty: refused at the field, nothing sent.
    const sent = [];
    const seen = (req) => { if (req.url().endsWith(`/v1/bots/${botId()}/try`)) sent.push(req.url()); };
    page.on('request', seen);
    await page.getByRole('button', { name: 'Run' }).click();
    await expectVisible(page.locator('.field-error').filter({ hasText: 'Enter a value for q' }));
    page.off('request', seen);
    if (sent.length) throw new Error('Try it sent the command with a required option empty');
    if ((await page.getByLabel('q (required)').getAttribute('aria-invalid')) !== 'true') throw new Error('the empty required field is not marked invalid');
    await page.screenshot({ path: `${S.shots}/try_it_required_option.png`, fullPage: true });

    await page.getByLabel('q (required)').fill('hello?');
    const deadline = Date.now() + LONG;
    const failure = page.locator('[data-testid=reply][role=alert].error [data-testid=run-failure]');
    for (;;) {
      await page.getByRole('button', { name: 'Run' }).click();
      const any = page.locator('[data-testid=reply], form[aria-label="Try a command"] > .alert.error');
      await expectVisible(any, LONG);
      if (await page.locator('[data-testid=reply][data-try-mode=sandbox]').count()) break;
      if (Date.now() > deadline) throw new Error(`Try it answered: ${await any.first().textContent()}`);
      await page.waitForTimeout(500);
    }
    await expectVisible(failure, LONG);
    const reason = (await failure.textContent()) ?? '';
    if (!/The command failed: .*(AI|ai\.invalid|reach|resolve|connect)/i.test(reason)) throw new Error(`no reason shown: "${reason}"`);
    const steps = (await page.getByTestId('run-steps').textContent()) ?? '';
    if (!/called AI connection Broken AI/.test(steps)) throw new Error(`the steps are not shown: "${steps}"`);
    await page.screenshot({ path: `${S.shots}/try_it_failure.png`, fullPage: true });
    // The link opens the Logs page on that one line.
    await failure.getByRole('link', { name: 'see the log line' }).click();
    await expectVisible(page.getByTestId('one-log-line'));
    await expectVisible(page.getByTestId('history').filter({ hasText: /command \/ask failed: .+/ }), LONG);
    const lines = await page.getByTestId('history').locator(':scope > div').count();
    if (lines !== 1) throw new Error(`the log link shows ${lines} lines, not the one`);
  });

  await flow('preview_failure_is_red_with_reason_and_log_link', ['try_it_failure_is_red_with_reason_and_log_link'], async () => {
    await page.setViewportSize({ width: 1280, height: 800 });
    // The same failing AI command, previewed in its editor (a dry run, logged because it failed).
    await page.goto(`${botUrl()}/commands/${askId}`);
    await page.getByLabel('Sample q', { exact: true }).fill('hello?');
    await page.getByRole('button', { name: 'Preview (server dry run)' }).click();
    const failure = page.locator('[data-testid=reply][role=alert].error [data-testid=run-failure]');
    await expectVisible(failure, LONG);
    const reason = (await failure.textContent()) ?? '';
    if (!/The command failed: .*(AI|ai\.invalid|reach|resolve|connect)/i.test(reason)) throw new Error(`no reason shown: "${reason}"`);
    await page.screenshot({ path: `${S.shots}/preview_failure.png`, fullPage: true });
    await failure.getByRole('link', { name: 'see the log line' }).click();
    await expectVisible(page.getByTestId('one-log-line'), LONG);
    await expectVisible(page.getByTestId('history').filter({ hasText: /dry run of command \/ask failed: .+/ }), LONG);
  });
}
