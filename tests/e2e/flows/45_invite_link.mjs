// #16 item 1 after the checklist: a bot that finished its checklist still has the invite-link
// generator, on its overview ("Add to a server"): the link carries the client id, both scopes
// and the permissions picked, and on the sandbox one click (plus Authorize) puts the bot in
// one more server, which the servers panel then lists.
export default async function ({ S, page, context, flow, expectVisible, fitsPhone, LONG, botUrl }) {
  await flow('invite_link_on_a_finished_bot', ['try_it'], async () => {
    await page.setViewportSize({ width: 1280, height: 900 });
    const bot = await (await page.request.get(`/v1${botUrl()}`)).json();
    await page.goto(botUrl());
    await expectVisible(page.getByRole('button', { name: /^(Start|Stop)$/ }), LONG);
    const start = page.getByRole('button', { name: 'Start', exact: true });
    if (await start.count()) await start.click();
    await expectVisible(page.locator('[data-testid=bot-status] [data-state=online]'), LONG);
    const panel = page.getByTestId('add-to-server');
    await expectVisible(panel.getByRole('heading', { name: 'Add to a server' }), LONG);
    // The checklist (with its own copy of the link) is gone for this bot: one link on the page.
    if (await page.getByTestId('onboarding').count()) throw new Error('the checklist still shows for a bot that answered');

    await panel.getByText('Permissions the bot asks for', { exact: true }).click();
    await panel.getByRole('checkbox', { name: 'Add Reactions', exact: true }).check();
    const bits = await panel.getByTestId('permissions-bits').inputValue();
    // View Channels, Send Messages, Embed Links, Read Message History + Add Reactions
    if (bits !== String(1024 + 2048 + 16384 + 65536 + 64)) throw new Error(`bit field ${bits}`);
    const invite = panel.getByTestId('invite-link');
    const href = await invite.getAttribute('href');
    const want = `${S.sandbox}/oauth2/authorize?client_id=${bot.application_id}&scope=bot%20applications.commands&permissions=${bits}`;
    if (href !== want) throw new Error(`invite link ${href}, wanted ${want}`);
    if ((await panel.getByLabel('Invite link', { exact: true }).inputValue()) !== want) throw new Error('the copyable link differs from the button');
    await expectVisible(panel.getByRole('button', { name: 'Copy link' }));
    await panel.scrollIntoViewIfNeeded();
    await fitsPhone('invite_link_add_to_server');

    // One click: the sandbox's server picker; Authorize puts the bot in a new server.
    const place = `Invite Place ${Date.now() % 100000}`;
    const [picker] = await Promise.all([context.waitForEvent('page'), invite.click()]);
    await picker.waitForLoadState();
    await expectVisible(picker.getByRole('heading', { name: /to a server \(sandbox\)/ }));
    if ((await picker.getByTestId('permissions').textContent()) !== bits) throw new Error('the picker shows other permissions');
    await picker.locator('input[name=guild_id][value=new]').check();
    await picker.getByRole('textbox', { name: 'New server name' }).fill(place);
    await picker.getByRole('button', { name: 'Authorize' }).click();
    await expectVisible(picker.getByRole('status').filter({ hasText: `was added to ${place}` }));
    await picker.close();
    // Back on the overview, without a reload: the servers panel lists the new server.
    await page.bringToFront();
    await expectVisible(page.getByTestId('servers').locator('li').filter({ hasText: place }), LONG);
    await page.screenshot({ path: `${S.shots}/invite_link_server_added.png`, fullPage: true });
    // Leave the bot as the core flows left it: stopped.
    await page.getByRole('button', { name: 'Stop', exact: true }).click();
    await expectVisible(page.locator('[data-testid=bot-status] [data-state=offline]'), LONG);
  });
}
