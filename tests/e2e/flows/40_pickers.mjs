// #16 item 5 (pickers, not ids) and the live servers of item 1: the overview lists the bot's
// servers and how long it has been connected; the command editor picks servers and channels
// by name (from the bot's live connection); the command list duplicates, turns off and syncs
// commands; a required role is picked by name and saved as its id; Bot settings sets the
// prefix, with a plain-words error.
export default async function ({ S, page, flow, expectVisible, until, fitsPhone, LONG, botUrl }) {
  let server = '';

  await flow('pickers_overview_servers_uptime', ['add_bot'], async () => {
    await page.goto(botUrl());
    const online = page.locator('[data-testid=bot-status] [data-state=online]');
    // The page has loaded the bot once Start or Stop shows (count() does not wait).
    await expectVisible(page.getByRole('button', { name: /^(Start|Stop)$/ }), LONG);
    const start = page.getByRole('button', { name: 'Start', exact: true });
    if (await start.count()) await start.click();
    await expectVisible(online, LONG);
    await expectVisible(page.getByTestId('uptime').getByText(/Connected for \d+ (s|min)/), LONG);
    const first = page.getByTestId('servers').locator('li').first();
    await expectVisible(first, LONG);
    server = ((await first.locator('strong').textContent()) ?? '').trim();
    const text = (await first.textContent()) ?? '';
    if (!server || !/\d+ members?/.test(text)) throw new Error(`the server reads "${text}"`);
  });

  await flow('pickers_channel_and_server_by_name', ['pickers_overview_servers_uptime'], async () => {
    await page.goto(`${botUrl()}/commands/new`);
    await page.getByLabel('Name', { exact: true }).fill('goto');
    await page.getByLabel('Description', { exact: true }).fill('Point at a channel');
    await page.getByRole('button', { name: 'Add option' }).click();
    await page.getByLabel('Option 1 name').fill('place');
    await page.getByLabel('Type', { exact: true }).selectOption('channel');
    await page.locator('fieldset').filter({ hasText: 'Options' }).getByLabel('Description', { exact: true }).fill('which channel');
    await page.getByLabel('Reply template', { exact: true }).fill('Go to <#{{ options.place }}>');
    await expectVisible(page.getByTestId('picker-source').getByText(/Names from the bot/), LONG);
    // The server by its name, not its id: it shows as a removable, named entry.
    const servers = page.getByLabel('Servers (none = every server)', { exact: true });
    await servers.fill(server);
    await servers.press('Enter');
    await expectVisible(page.getByRole('list', { name: /Servers .*picked/ }).getByText(server));
    // A channel by its name: the field reads its name, its server and id on the line under it.
    const sample = page.getByLabel('Sample place', { exact: true });
    const picked = page.getByTestId('picked');
    await sample.fill('general');
    await sample.press('Enter');
    await expectVisible(picked.filter({ hasText: `${server} · id ` }));
    if ((await sample.inputValue()) !== '#general') throw new Error(`the picked channel reads "${await sample.inputValue()}"`);
    const id = /id ([0-9]+)$/.exec((await picked.first().textContent()) ?? '')?.[1] ?? '';
    // Typing an id stays possible: a known one reads as its name once entered ...
    await sample.fill(id);
    await sample.press('Enter');
    await until('the typed channel id reads as #general', async () => (await sample.inputValue()) === '#general', 5_000);
    // ... an unknown one is kept as typed, with a note.
    await sample.fill('123456789012345678');
    await sample.press('Enter');
    await expectVisible(picked.filter({ hasText: 'not among what the bot sees live; kept as typed' }));
    if ((await sample.inputValue()) !== '123456789012345678') throw new Error('the unknown channel id was not kept');
    await page.screenshot({ path: `${S.shots}/pickers_unknown_id.png`, fullPage: true });
    await sample.fill('#general');
    await sample.press('Enter');
    await expectVisible(picked.filter({ hasText: `id ${id}` }));
    // A server typed by its id is a named entry too.
    const live = await page.request.get(`/v1${botUrl()}/guilds`);
    const serverId = (await live.json()).guilds.find((g) => g.name === server)?.id;
    const chosen = page.getByRole('list', { name: /Servers .*picked/ });
    await chosen.getByRole('button').first().click();
    await servers.fill(serverId);
    await servers.press('Enter');
    await expectVisible(chosen.locator('.picked-name').filter({ hasText: server }));
    if ((await chosen.locator('.picked-name').first().getAttribute('title')) !== serverId) throw new Error('the typed server id is not the entry');
    await fitsPhone('pickers_named_fields');
    // An unknown name is refused in words.
    await servers.fill('no such server');
    await servers.press('Enter');
    await expectVisible(page.getByText('No server is called “no such server”', { exact: false }));
    await servers.fill('');
    await page.getByRole('button', { name: 'Save command' }).click();
    await page.waitForURL(/\/commands\/[0-9a-f-]{36}$/, { timeout: LONG });
    // Saved and loaded again: still shown by name.
    await page.reload();
    await expectVisible(page.getByRole('list', { name: /Servers .*picked/ }).getByText(server), LONG);
  });

  await flow('pickers_duplicate_disable_sync_now', ['pickers_channel_and_server_by_name'], async () => {
    await page.goto(`${botUrl()}/commands`);
    await page.getByRole('button', { name: 'Duplicate goto', exact: true }).click();
    await expectVisible(page.getByRole('status').filter({ hasText: 'Copied as goto-copy' }), LONG);
    await expectVisible(page.getByRole('link', { name: '/goto-copy', exact: true }), LONG);
    const toggle = page.getByRole('switch', { name: '/goto-copy enabled' });
    if (!(await toggle.isChecked())) throw new Error('the copy starts turned off');
    await toggle.click();
    await expectVisible(page.getByRole('row').filter({ hasText: '/goto-copy' }).getByText('Off', { exact: true }), LONG);
    await page.reload();
    await expectVisible(page.getByRole('link', { name: '/goto-copy', exact: true }), LONG);
    if (await page.getByRole('switch', { name: '/goto-copy enabled' }).isChecked()) throw new Error('the copy is on again after a reload');
    if (!(await page.getByRole('switch', { name: '/goto enabled' }).isChecked())) throw new Error('the original was turned off');
    await page.getByRole('button', { name: 'Sync now' }).click();
    await expectVisible(page.getByTestId('sync-now').getByText(/✓ Discord has the \d+ application command/), LONG);
  });

  await flow('pickers_prefix_setting', ['add_bot'], async () => {
    await page.goto(`${botUrl()}/settings`);
    const prefix = page.getByLabel('Prefix', { exact: true });
    await expectVisible(prefix);
    if ((await prefix.inputValue()) !== '!') throw new Error(`the default prefix reads "${await prefix.inputValue()}"`);
    await prefix.fill('a b');
    await page.getByRole('button', { name: 'Save prefix' }).click();
    const form = page.getByRole('form', { name: 'Command prefix' });
    await expectVisible(form.locator('.field-error').getByText('a prefix is 1 to 5 characters without spaces, like ! or ?'));
    await prefix.fill('?');
    await page.getByRole('button', { name: 'Save prefix' }).click();
    await expectVisible(page.getByRole('status').filter({ hasText: 'Prefix saved' }));
    if (await form.locator('.field-error').count()) throw new Error('the old error stays after a good save');
    await page.reload();
    await expectVisible(page.getByLabel('Prefix', { exact: true }));
    await page.waitForFunction(() => document.querySelector('[data-field="prefix"] input')?.value === '?');
    // The editor tells how a prefix command will be typed, with this bot's prefix.
    await page.goto(`${botUrl()}/commands/new`);
    await page.getByLabel('Kind', { exact: true }).selectOption('prefix');
    await page.getByLabel('Name', { exact: true }).fill('echo');
    await expectVisible(page.getByText('people type ?echo', { exact: false }));
  });

  await flow('pickers_required_role_by_name', ['pickers_overview_servers_uptime'], async () => {
    // The role the sandbox gives the bot when it joins is named after the application.
    const role = `@${S.app_name}`;
    await page.goto(`${botUrl()}/commands/new`);
    await page.getByLabel('Name', { exact: true }).fill('staffonly');
    await page.getByLabel('Description', { exact: true }).fill('Only for a role');
    await page.getByLabel('Reply template', { exact: true }).fill('Hello staff');
    await expectVisible(page.getByTestId('picker-source').getByText(/Names from the bot/), LONG);
    // One server first, so the name is unique even when the bot sits in several.
    const servers = page.getByLabel('Servers (none = every server)', { exact: true });
    await servers.fill(server);
    await servers.press('Enter');
    const roles = page.getByLabel('Required roles', { exact: true });
    // The id the live cache gives that name: what the saved command must carry.
    const id = await until('the role is offered by name', async () => {
      const opts = await roles.evaluate((el) => [...(el.list?.options ?? [])].map((o) => [o.value, o.label]));
      return opts.find(([, label]) => label === `${role} — ${server}`)?.[0] ?? null;
    }, LONG);
    await roles.fill(role);
    await roles.press('Enter');
    const picked = page.getByRole('list', { name: 'Required roles: picked' });
    await expectVisible(picked.getByText(role));
    await page.getByRole('button', { name: 'Save command' }).click();
    await page.waitForURL(/\/commands\/[0-9a-f-]{36}$/, { timeout: LONG });
    await page.reload();
    await expectVisible(picked.getByText(role), LONG);
    const saved = await picked.locator('.picked-name').getAttribute('title');
    if (saved !== id) throw new Error(`the saved command carries role "${saved}", not ${id}`);
  });

  await flow('pickers_stop_bot', ['pickers_overview_servers_uptime'], async () => {
    // Leave the bot as the core flows left it: stopped.
    await page.goto(botUrl());
    await page.getByRole('button', { name: 'Stop', exact: true }).click();
    await expectVisible(page.locator('[data-testid=bot-status] [data-state=offline]'), LONG);
  });
}
