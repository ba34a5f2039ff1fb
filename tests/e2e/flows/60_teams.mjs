// #17 teams, as two people see it in two browsers:
// - teams_owner_invites: the owner creates a team workspace, adds a bot in it, invites an
//   operator and copies the link (shown once);
// - teams_operator_joins: a second Discord user (another browser context, signed in through
//   the sandbox's consent page) opens the link, sees the workspace and role it joins, accepts,
//   starts the bot, and finds the command editor's button disabled with its reason;
// - teams_audit_shows_both: the owner sees member.join and bot.start in Audit;
// - teams_removed_member_is_told: removed, the operator's live stream closes (4403) and the
//   console says their access changed;
// - teams_custom_role: a custom role appears as a column of the permission grid;
// - teams_revoked_invite_410: a revoked link says why it no longer works (the server's words)
//   as soon as it is opened, with Accept disabled;
// - teams_delete_workspace: deleting needs the workspace's name typed.
// Members, Roles, Audit and Invite are saved at desktop and phone width (teams_*_{desktop,phone}.png).
import { join } from 'node:path';

const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };

export default async function ({ S, page, context, browser, flow, expectVisible, until, LONG }) {
  const tag = Math.random().toString(16).slice(2, 8);
  const teamName = `Crew ${tag}`;
  const operatorName = `operator-${tag}`;
  let wsId = null;
  let teamBot = null; // the console path of the bot added in the team workspace
  let link = null;
  let operator = null; // { context, page }

  const shoot = async (p, name) => {
    for (const [size, viewport] of [['desktop', DESKTOP], ['phone', PHONE]]) {
      await p.setViewportSize(viewport);
      await p.waitForLoadState('networkidle', { timeout: 5_000 }).catch(() => undefined);
      await p.screenshot({ path: join(S.shots, `teams_${name}_${size}.png`), fullPage: true });
    }
    await p.setViewportSize(DESKTOP);
  };
  const team = (path = '') => `/team${path}?workspace_id=${wsId}`;

  await flow('teams_owner_invites', ['sign_in'], async () => {
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: S.base });
    await page.goto('/');
    await page.getByRole('button', { name: 'New team' }).click();
    await page.getByRole('dialog').getByLabel('Workspace name').fill(teamName);
    await page.getByRole('button', { name: 'Create workspace' }).click();
    await page.waitForURL(/\/team\?workspace_id=[0-9a-f-]{36}/, { timeout: LONG });
    wsId = new URL(page.url()).searchParams.get('workspace_id');
    await expectVisible(page.getByRole('heading', { name: new RegExp(teamName) }));
    // The switcher names the new workspace, chosen.
    const chosen = await page.getByTestId('workspace-switcher').evaluate((s) => s.selectedOptions[0]?.textContent);
    if (chosen !== teamName) throw new Error(`the switcher shows "${chosen}", not ${teamName}`);

    // A bot created while the team is chosen belongs to it.
    await page.getByRole('link', { name: 'Bots', exact: true }).click();
    await page.waitForURL((u) => u.searchParams.get('workspace_id') === wsId);
    await page.getByRole('button', { name: 'Add a bot' }).click();
    await expectVisible(page.getByRole('heading', { name: `Add a bot to ${teamName}` }));
    await page.getByLabel('Bot token').fill(S.token3);
    await page.getByRole('button', { name: 'Add bot' }).click();
    await page.waitForURL(/\/bots\/[0-9a-f-]{36}$/, { timeout: LONG });
    teamBot = new URL(page.url()).pathname;
    const bot = await (await page.request.get(`/v1${teamBot}`)).json();
    if (bot.workspace_id !== wsId) throw new Error(`the bot went to workspace ${bot.workspace_id}, not the chosen ${wsId}`);
    // The team's list shows only the team's bot.
    await page.goto(`/?workspace_id=${wsId}`);
    await expectVisible(page.locator('article[data-bot-id]'));
    if ((await page.locator('article[data-bot-id]').count()) !== 1) throw new Error('the team list shows bots of other workspaces');

    await page.goto(team());
    await page.getByRole('button', { name: 'Invite someone' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Role').selectOption('operator');
    await dialog.getByRole('button', { name: 'Create invitation link' }).click();
    await expectVisible(page.getByTestId('invite-link'), LONG);
    link = (await page.getByTestId('invite-link').textContent()).trim();
    if (!/\/invite\/[^/]+$/.test(link)) throw new Error(`not an invitation link: ${link}`);
    await dialog.getByRole('button', { name: 'Copy link' }).click();
    await expectVisible(dialog.getByRole('button', { name: 'Copied ✓' }));
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    if (copied !== link) throw new Error(`the clipboard holds "${copied}"`);
    await page.screenshot({ path: join(S.shots, 'teams_invite_link_desktop.png') });
    await dialog.getByRole('button', { name: 'Done' }).click();
    // Listed as pending, without its token.
    await expectVisible(page.getByRole('cell', { name: 'operator' }));
    if ((await page.content()).includes(link.split('/invite/')[1])) throw new Error('the token is still on the page after Done');
  });

  // Another person in their own browser: opens an invitation link signed out, signs in
  // through the sandbox's consent page as a new Discord user, and lands back on the link.
  const arrive = async (url, username) => {
    const ctx = await browser.newContext({ viewport: DESKTOP, baseURL: S.base });
    ctx.setDefaultTimeout(15_000);
    const p = await ctx.newPage();
    await p.goto(new URL(url).pathname);
    await p.waitForURL(/\/signin\?next=%2Finvite%2F/);
    await p.getByRole('link', { name: /Sign in with Discord/ }).click();
    await p.waitForURL((u) => u.toString().startsWith(S.sandbox));
    await p.locator('input[name=new_username]').fill(username);
    await p.getByRole('button', { name: 'Authorize' }).click();
    await p.waitForURL((u) => u.toString().startsWith(S.base) && u.pathname.startsWith('/invite/'), { timeout: LONG });
    return { context: ctx, page: p };
  };

  await flow('teams_operator_joins', ['teams_owner_invites'], async () => {
    operator = await arrive(link, operatorName);
    const p = operator.page;
    await expectVisible(p.getByRole('button', { name: 'Accept invitation' }));
    // Before accepting, the page names what the link joins: the workspace, the role, who invited.
    await expectVisible(p.getByRole('heading', { name: `Join ${teamName} as operator` }), LONG);
    await expectVisible(p.getByRole('listitem').filter({ hasText: /^Invited by \S/ }));
    await expectVisible(p.getByRole('listitem').filter({ hasText: 'Access to every bot of the workspace' }));
    await shoot(p, 'invite');
    await p.getByRole('button', { name: 'Accept invitation' }).click();
    await p.waitForURL((u) => u.pathname === '/' && u.searchParams.get('workspace_id') === wsId, { timeout: LONG });

    // An operator may start the bot.
    const card = p.locator('article[data-bot-id]');
    await expectVisible(card, LONG);
    await card.getByRole('button', { name: 'Start', exact: true }).click();
    await expectVisible(card.locator('[data-state=online]'), LONG);

    // ...but not edit commands: the button is there, disabled, and says why.
    await p.goto(`${teamBot}/commands`);
    const editor = p.getByRole('button', { name: 'New command' });
    await expectVisible(editor);
    if (!(await editor.isDisabled())) throw new Error('an operator can open the command editor');
    const why = (await editor.getAttribute('title')) ?? '';
    if (!why.includes('commands.edit') || !why.includes('operator')) throw new Error(`the reason reads "${why}"`);
    // The reason is the button's accessible description too (screen readers), not only a tooltip.
    const described = await editor.evaluate((el) => (el.getAttribute('aria-describedby') ?? '').split(' ').map((id) => document.getElementById(id)?.textContent ?? '').join(' '));
    if (!described.includes('commands.edit')) throw new Error(`the accessible description reads "${described}"`);
    await editor.hover({ force: true });
    await p.screenshot({ path: join(S.shots, 'teams_operator_commands_desktop.png'), fullPage: true });
    // Try it runs a command (the API asks commands.edit): the Run button says why it is off.
    // The owner gives the team's bot a command first (Try it needs one to show its form).
    const csrf = (await context.cookies()).find((c) => c.name === 'bc_csrf')?.value ?? '';
    const made = await page.request.post(`/v1${teamBot}/commands`, {
      headers: { 'X-CSRF-Token': csrf },
      data: { name: `hello${tag}`, description: 'says hello', response: { type: 'template', content: 'hello' } },
    });
    if (!made.ok()) throw new Error(`the owner's command answered ${made.status()}: ${await made.text()}`);
    await p.goto(`${teamBot}/try`);
    const run = p.getByRole('button', { name: 'Run', exact: true });
    await expectVisible(run);
    if (!(await run.isDisabled())) throw new Error('an operator can run Try it');
    if (!((await run.getAttribute('title')) ?? '').includes('commands.edit')) throw new Error('Run does not say which permission it needs');
    // The Members page shows the operator's own row with a Leave button, nothing to manage.
    await p.goto(`/team?workspace_id=${wsId}`);
    await expectVisible(p.getByRole('row', { name: new RegExp(operatorName) }));
    if (!(await p.getByRole('button', { name: 'Invite someone' }).isDisabled())) throw new Error('an operator may invite');
  });

  await flow('teams_audit_shows_both', ['teams_operator_joins'], async () => {
    await page.goto(team('/audit'));
    const both = async () => {
      await page.reload();
      await expectVisible(page.getByRole('heading', { name: 'Audit trail' }));
      await page.locator('main .spinner').first().waitFor({ state: 'detached', timeout: 5_000 }).catch(() => undefined);
      const joined = await page.locator('tr[data-action="member.join"]').filter({ hasText: operatorName }).count();
      const started = await page.locator('tr[data-action="bot.start"]').filter({ hasText: operatorName }).count();
      return joined > 0 && started > 0;
    };
    await until('member.join and bot.start by the operator in Audit', both, LONG);
    // A filter narrows the list to one action.
    await page.getByLabel('Action').fill('bot.start');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await until('only bot.start rows', async () => {
      const rows = await page.locator('tr[data-action]').evaluateAll((xs) => xs.map((x) => x.dataset.action));
      return rows.length > 0 && rows.every((a) => a === 'bot.start');
    }, 20_000);
    const csv = await page.request.get(`/v1/workspaces/${wsId}/audit/export?format=csv`);
    if (!csv.ok() || !(await csv.text()).includes('member.join')) throw new Error('the CSV export lacks member.join');
    await page.getByRole('button', { name: 'Clear' }).click();
    await expectVisible(page.locator('tr[data-action="member.join"]'));
    await shoot(page, 'audit');
    await page.goto(team());
    await expectVisible(page.getByRole('row', { name: new RegExp(operatorName) }));
    await shoot(page, 'members');
  });

  await flow('teams_removed_member_is_told', ['teams_audit_shows_both'], async () => {
    // The operator watches the team's bots (live stream on); the owner removes them.
    const p = operator.page;
    await p.goto(`/?workspace_id=${wsId}`);
    await expectVisible(p.locator('[data-stream-state=live]'), LONG);
    await page.goto(team());
    const row = page.getByRole('row', { name: new RegExp(operatorName) });
    await row.getByRole('button', { name: 'Remove' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Remove' }).click();
    await until('the operator is gone from Members', async () => (await row.count()) === 0, 20_000);
    // Their stream closed with 4403: the console says so in words, and reconnects once.
    await expectVisible(p.getByTestId('toasts').getByText(/your access to this workspace changed/), LONG);
    await p.screenshot({ path: join(S.shots, 'teams_removed_member_desktop.png'), fullPage: true });
    const me = await (await p.request.get('/v1/me')).json();
    if ((me.workspaces ?? []).some((w) => w.id === wsId)) throw new Error('the removed member still has the workspace');
  });

  await flow('teams_custom_role', ['teams_owner_invites'], async () => {
    await page.goto(team('/roles'));
    await page.getByRole('button', { name: 'New custom role' }).click();
    const form = page.getByRole('form', { name: 'Role editor' });
    await form.getByLabel('Role name').fill('Moderator');
    await form.getByLabel(/Read logs and the live stream/).check();
    await form.getByLabel(/Start, stop and restart bots/).check();
    await form.getByRole('button', { name: 'Save role' }).click();
    await expectVisible(page.getByRole('columnheader', { name: /Moderator/ }), LONG);
    const cell = page.getByRole('cell', { name: 'Moderator: allowed' });
    if ((await cell.count()) !== 3) throw new Error(`Moderator has ${await cell.count()} permissions in the grid, not 3`);
    await shoot(page, 'roles');
  });

  await flow('teams_revoked_invite_410', ['teams_owner_invites'], async () => {
    await page.goto(team());
    await page.getByRole('button', { name: 'Invite someone' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Role').selectOption('viewer');
    await dialog.getByRole('button', { name: 'Create invitation link' }).click();
    await expectVisible(page.getByTestId('invite-link'), LONG);
    const revoked = (await page.getByTestId('invite-link').textContent()).trim();
    await dialog.getByRole('button', { name: 'Done' }).click();
    const row = page.getByRole('row').filter({ has: page.getByRole('cell', { name: 'viewer', exact: true }) });
    await row.getByRole('button', { name: 'Revoke' }).click();
    await until('the invitation is gone from the list', async () => (await row.count()) === 0, 20_000);
    // Someone who is not a member yet (for a member, accepting is a no-op before anything else).
    const guest = await arrive(revoked, `guest-${tag}`);
    try {
      // Said on arrival, before anyone clicks Accept.
      await expectVisible(guest.page.locator('.alert.error'), LONG);
      const said = (await guest.page.locator('.alert.error').first().textContent()) ?? '';
      if (said.includes('{') || !/revoked|expired|used|no longer/i.test(said)) throw new Error(`a revoked link says "${said}"`);
      if (new URL(guest.page.url()).pathname !== new URL(revoked).pathname) throw new Error('left the invitation page');
      // Trying again cannot help: the button says so by being disabled.
      if (!(await guest.page.getByRole('button', { name: 'Accept invitation' }).isDisabled())) throw new Error('Accept stays enabled after 410');
      await shoot(guest.page, 'invite_gone');
    } finally {
      await guest.context.close();
    }
  });

  await flow('teams_delete_workspace', ['teams_owner_invites'], async () => {
    await operator?.context.close().catch(() => undefined);
    await page.goto(team('/settings'));
    await page.getByRole('button', { name: `Delete ${teamName}…` }).click();
    const confirm = page.getByRole('button', { name: 'Delete the workspace' });
    if (await confirm.isEnabled()) throw new Error('deleting is possible without typing the name');
    await page.getByLabel(/Type .* to confirm/).fill(teamName);
    await confirm.click();
    await page.waitForURL((u) => u.pathname === '/' && !u.searchParams.get('workspace_id'), { timeout: LONG });
    const me = await (await page.request.get('/v1/me')).json();
    if ((me.workspaces ?? []).some((w) => w.id === wsId)) throw new Error('the workspace is still listed in /v1/me');
  });
}
