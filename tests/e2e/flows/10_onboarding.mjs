// #16 item 1: a new user follows the first-run checklist from an empty account to a first
// answered command on the sandbox — add the bot, build the invite link with the permissions
// picker, install it in a sandbox server with one click, start it, make a command, try it —
// without typing an id. Runs in its own browser context (a fresh sandbox user).
import { join } from 'node:path';

export default async function ({ S, browser, flow, expectVisible, LONG }) {
  await flow('onboarding', [], async () => {
    const tag = Math.random().toString(16).slice(2, 8);
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 }, baseURL: S.base });
    ctx.setDefaultTimeout(15_000);
    const p = await ctx.newPage();
    const errors = [];
    p.on('pageerror', (e) => errors.push(String(e)));
    const shot = (name) => p.screenshot({ path: join(S.shots, `onboarding_${name}.png`), fullPage: true });
    const stepState = (key) => p.getByTestId(`step-${key}-state`);
    // At phone width (390×844) nothing overflows sideways; back to the desktop size after.
    const fitsPhone = async (name) => {
      await p.setViewportSize({ width: 390, height: 844 });
      const [scroll, client] = await p.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
      await shot(`${name}_phone`);
      await p.setViewportSize({ width: 1280, height: 900 });
      if (scroll > client) throw new Error(`${name} overflows at 390 px: scrollWidth ${scroll} > ${client}`);
    };
    const waitDone = async (key, timeout = LONG) => {
      await expectVisible(p.locator(`li[data-step=${key}][data-done=true]`), timeout);
    };
    try {
      // A new sandbox user signs in and lands on an empty Bots page: the checklist.
      await p.goto('/');
      await p.getByRole('link', { name: /Sign in with Discord/ }).click();
      await p.waitForURL((u) => u.toString().startsWith(S.sandbox));
      await p.locator('input[name=new_username]').fill(`newbie-${tag}`);
      await p.getByRole('button', { name: 'Authorize' }).click();
      await expectVisible(p.getByRole('heading', { name: 'Your bots' }), LONG);
      const list = p.getByTestId('onboarding');
      await expectVisible(list.getByRole('heading', { name: 'Get your first bot answering' }));
      await expectVisible(list.getByText('0 of 6 steps done'));
      const portal = await list.getByRole('link', { name: 'Discord Developer Portal' }).getAttribute('href');
      if (portal !== 'https://discord.com/developers/applications') throw new Error(`portal link: ${portal}`);
      if ((await stepState('try').textContent()) !== 'Not done') throw new Error('a step is done on an empty account');
      await shot('checklist');
      await fitsPhone('checklist');

      // "In the Developer Portal": the sandbox's portal is its control API.
      const made = await fetch(`${S.sandbox}/_sandbox/applications`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: `First Bot ${tag}` }),
      });
      const app = await made.json();

      // Paste the token (step 2): the bot's page, the checklist continues there.
      await list.getByRole('button', { name: 'Paste the token' }).click();
      await p.getByLabel('Bot token').fill(app.token);
      await p.getByRole('button', { name: 'Add bot' }).click();
      await p.waitForURL(/\/bots\/[0-9a-f-]{36}$/, { timeout: LONG });
      await waitDone('token');
      await expectVisible(p.getByText('2 of 6 steps done'));

      // Invite (step 3): the permissions picker computes the bit field of the link.
      await p.getByText('Permissions the bot asks for', { exact: true }).click();
      await p.getByRole('checkbox', { name: 'Add Reactions', exact: true }).check();
      const bits = await p.getByTestId('permissions-bits').first().inputValue();
      // View Channels, Send Messages, Embed Links, Read Message History + Add Reactions
      if (bits !== String(1024 + 2048 + 16384 + 65536 + 64)) throw new Error(`bit field ${bits}`);
      const invite = p.getByTestId('invite-link');
      const href = await invite.getAttribute('href');
      const want = `${S.sandbox}/oauth2/authorize?client_id=${app.application_id}&scope=bot%20applications.commands&permissions=${bits}`;
      if (href !== want) throw new Error(`invite link ${href}, wanted ${want}`);
      await shot('invite');
      await fitsPhone('invite');
      // One click on the link, one on Authorize: the sandbox's server picker has a server picked.
      const [picker] = await Promise.all([ctx.waitForEvent('page'), invite.click()]);
      await picker.waitForLoadState();
      await expectVisible(picker.getByRole('heading', { name: /to a server \(sandbox\)/ }));
      if ((await picker.getByTestId('permissions').textContent()) !== bits) throw new Error('the picker shows other permissions');
      if ((await picker.locator('input[name=guild_id]:checked').count()) !== 1) throw new Error('no server is picked');
      await picker.screenshot({ path: join(S.shots, 'onboarding_sandbox_picker.png'), fullPage: true });
      await picker.getByRole('button', { name: 'Authorize' }).click();
      await expectVisible(picker.getByRole('status').filter({ hasText: `First Bot ${tag} was added to` }));
      await picker.screenshot({ path: join(S.shots, 'onboarding_sandbox_added.png'), fullPage: true });
      await picker.close();

      // Start (step 4): online, and the live connection shows it in a server (step 3 done).
      await p.getByRole('button', { name: `Start First Bot ${tag}` }).click();
      await waitDone('start');
      await waitDone('invite');

      // A first command (step 5), with the permissions picker for "Required permissions".
      await p.getByRole('link', { name: 'Make a command' }).click();
      await p.getByLabel('Name', { exact: true }).fill('hello');
      await p.getByLabel('Description', { exact: true }).fill('Say hello');
      await p.getByLabel('Reply template', { exact: true }).fill('Hello, welcome aboard!');
      await p.getByText('Required permissions', { exact: true }).click();
      await p.getByRole('checkbox', { name: 'Send Messages', exact: true }).check();
      if ((await p.getByTestId('permissions-bits').inputValue()) !== '2048') throw new Error('Send Messages is not 2048');
      await shot('command_permissions');
      await fitsPhone('command_permissions');
      await p.getByRole('button', { name: 'Save command' }).click();
      await p.waitForURL(/\/commands\/[0-9a-f-]{36}$/, { timeout: LONG });
      // Saved as the bit field, read back as the checked box.
      await p.reload();
      await expectVisible(p.getByTestId('permissions-summary').filter({ hasText: 'Send Messages' }));

      // Try it (step 6) from the checklist, then the checklist is gone: all done.
      await p.getByRole('link', { name: 'Overview' }).click();
      await waitDone('command');
      await p.getByTestId('onboarding').getByRole('link', { name: 'Try it' }).click();
      await p.getByLabel('Command', { exact: true }).selectOption({ label: '/hello' });
      await p.getByRole('button', { name: 'Run' }).click();
      await expectVisible(p.locator('[data-testid=reply][data-try-mode=sandbox]').filter({ hasText: 'welcome aboard!' }), LONG);
      await shot('tried');
      await p.getByRole('link', { name: 'Overview' }).click();
      await p.getByTestId('onboarding').waitFor({ state: 'detached', timeout: LONG });
      await shot('done');
      // Done stays done: stopping the bot that answered does not bring the checklist back.
      await p.getByRole('button', { name: 'Stop', exact: true }).click();
      await expectVisible(p.locator('[data-testid=bot-status] [data-state=offline]'), LONG);
      await p.reload();
      await expectVisible(p.locator('[data-testid=bot-status] [data-state=offline]'), LONG);
      await p.waitForLoadState('networkidle', { timeout: 10_000 }).catch(() => undefined);
      if (await p.getByTestId('onboarding').count()) throw new Error('the checklist came back after the finished bot was stopped');
      await shot('done_stopped');
      if (errors.length) throw new Error(`page errors: ${errors.join('; ')}`);
    } catch (err) {
      await shot('failed').catch(() => {});
      throw err;
    } finally {
      await ctx.close();
    }
  });
}
