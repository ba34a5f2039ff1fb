// #16 item 9, the quality bar of the console, on every page the signed-in suite reaches:
// - quality_axe: an axe-core scan in the light and the dark theme, 0 serious or critical
//   violations (each listed with id, impact and target when there are any);
// - quality_screens: screenshots at 1280×800 (<page>_desktop.png) and 390×844
//   (<page>_phone.png), and nothing wider than the window (scrollWidth <= clientWidth);
// - quality_tab_keys: every role=tablist follows Left/Right/Home/End (focus and selection);
// - quality_first_page_size: the first page (bots list, fresh load) is <= 250 KB gzipped.
// The signed-out sign-in page is scanned and measured in a fresh, signed-out browser context;
// `/invite/:token` with a real invitation of a team workspace made (and deleted) for it.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { axeScan, blocking } from './axe.mjs';

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

export default async function ({ S, page, browser, flow, expectVisible, botUrl }) {
  const bot = () => botUrl();
  // The console's own API calls, as the page makes them (session cookie and CSRF header).
  const call = (method, path, body) =>
    page.evaluate(async ([method, path, body]) => {
      const csrf = document.cookie.split(';').map((c) => c.trim()).find((c) => c.startsWith('bc_csrf='));
      const r = await fetch(path, {
        method,
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf ? decodeURIComponent(csrf.slice(8)) : '' },
        body: body ? JSON.stringify(body) : undefined,
      });
      return { status: r.status, body: await r.json().catch(() => null) };
    }, [method, path, body]);
  // A personal workspace invites nobody: the invitation comes from a team made for it,
  // deleted again at the end so the account's deletion later is not held up by it.
  let invite = null;
  const ensureInvite = async () => {
    if (invite) return invite;
    // Same origin as the API, so the session cookie goes with the calls.
    if (!page.url().startsWith(S.base)) await page.goto('/');
    const ws = await call('POST', '/v1/workspaces', { name: `Quality ${Date.now() % 100000}` });
    if (ws.status !== 201) throw new Error(`creating a team workspace answered ${ws.status}: ${JSON.stringify(ws.body)}`);
    const inv = await call('POST', `/v1/workspaces/${ws.body.id}/invitations`, { role: 'viewer' });
    if (inv.status !== 201) throw new Error(`creating an invitation answered ${inv.status}: ${JSON.stringify(inv.body)}`);
    invite = { ws: ws.body, token: inv.body.token };
    return invite;
  };
  // The sign-in page as a signed-out visitor sees it, in a context of its own.
  const signedOut = async (viewport, scheme, use) => {
    const ctx = await browser.newContext({ viewport, baseURL: S.base, colorScheme: scheme });
    try {
      const out = await ctx.newPage();
      await out.goto('/signin');
      await expectVisible(out.getByRole('heading', { name: 'Sign in to botcenter' }), 20_000);
      await out.waitForLoadState('networkidle', { timeout: 5_000 }).catch(() => undefined);
      await use(out);
    } finally {
      await ctx.close();
    }
  };
  // [name, path, what shows the page is loaded]
  const pages = () => [
    ['bots', '/', page.getByRole('heading', { name: 'Your bots' })],
    ['bot_overview', bot(), page.locator('[data-testid=bot-status] [data-state]')],
    ['bot_commands', `${bot()}/commands`, page.getByRole('link', { name: '/greet' })],
    ['bot_command_editor', `${bot()}/commands/new`, page.getByLabel('Reply template', { exact: true })],
    ['bot_try_it', `${bot()}/try`, page.getByLabel('Command', { exact: true })],
    ['bot_logs', `${bot()}/logs`, page.getByRole('tab', { name: 'Live tail' })],
    ['bot_settings', `${bot()}/settings`, page.getByRole('button', { name: 'Save', exact: true })],
    ['files', '/files', page.getByRole('heading', { name: 'Files' })],
    ['prompts', '/prompts', page.getByRole('heading', { name: 'Prompts' })],
    ['connections', '/connections', page.getByRole('heading', { name: 'API connections' })],
    ['logs', '/logs', page.getByTestId('events-chart')],
    ['account', '/account', page.getByRole('heading', { name: 'Account' })],
    ['team_members', '/team', page.getByRole('heading', { name: 'Members' })],
    ['team_roles', '/team/roles', page.getByRole('heading', { name: 'Roles' })],
    ['team_audit', '/team/audit', page.getByRole('heading', { name: 'Audit trail' })],
    ['team_settings', '/team/settings', page.getByRole('heading', { name: 'Delete this workspace' })],
    ...(invite ? [['invite', `/invite/${encodeURIComponent(invite.token)}`, page.getByRole('heading', { name: `Join ${invite.ws.name} as viewer` })]] : []),
  ];

  // Loaded and settled: the page's own marker, no request in flight, no spinner left.
  const open = async (path, ready) => {
    await page.goto(path);
    await expectVisible(ready, 20_000);
    await page.waitForLoadState('networkidle', { timeout: 5_000 }).catch(() => undefined);
    await page.locator('main .spinner').first().waitFor({ state: 'detached', timeout: 5_000 }).catch(() => undefined);
  };

  // Pages in a state worth its own scan: a form with its errors, a dialog, the other tab.
  // Nothing here changes data (a refused token, an unsaved form, a cancelled dialog).
  const states = () => [
    ['bots_add_bot_refused', '/', page.getByRole('heading', { name: 'Your bots' }), async () => {
      await page.getByRole('button', { name: 'Add a bot' }).click();
      await page.getByLabel('Bot token').fill('not-a-real-token');
      await page.getByRole('button', { name: 'Add bot' }).click();
      await expectVisible(page.locator('.field-error, .alert.error'), 20_000);
    }],
    ['bot_command_editor_errors', `${bot()}/commands/new`, page.getByLabel('Reply template', { exact: true }), async () => {
      // The permissions picker opened too (its checkboxes, groups and computed bit field).
      const picker = page.getByTestId('permissions-picker');
      if (await picker.count()) await picker.first().locator('summary').click();
      await page.getByRole('button', { name: 'Save command' }).click();
      await expectVisible(page.locator('.field-error, .alert.error'), 20_000);
    }],
    ['bot_logs_history', `${bot()}/logs`, page.getByRole('tab', { name: 'History' }), async () => {
      await page.getByRole('tab', { name: 'History' }).click();
      await expectVisible(page.getByTestId('history'), 20_000).catch(() => undefined);
    }],
    ['prompts_editor', '/prompts', page.getByRole('button', { name: 'New prompt' }), async () => {
      await page.getByRole('button', { name: 'New prompt' }).click();
      await expectVisible(page.getByRole('form', { name: 'Prompt editor' }));
    }],
    ['connections_editor', '/connections', page.getByRole('button', { name: 'New connection' }), async () => {
      await page.getByRole('button', { name: 'New connection' }).click();
      await expectVisible(page.getByRole('form', { name: 'Connection editor' }));
    }],
    ['account_delete_dialog', '/account', page.getByRole('button', { name: 'Delete my account…' }), async () => {
      await page.getByRole('button', { name: 'Delete my account…' }).click();
      await expectVisible(page.getByRole('dialog'));
    }],
  ];

  await flow('quality_axe', ['add_bot', 'create_slash_command'], async () => {
    const found = [];
    const report = [];
    await ensureInvite();
    const scan = async (where, on = page) => {
      const v = await axeScan(on);
      report.push({ where, violations: v });
      found.push(...blocking(where, v));
    };
    for (const scheme of ['light', 'dark']) {
      await page.setViewportSize(DESKTOP);
      await page.emulateMedia({ colorScheme: scheme });
      for (const [name, path, ready] of pages()) {
        await open(path, ready);
        await scan(`${name} (${scheme})`);
      }
      for (const [name, path, ready, act] of states()) {
        await open(path, ready);
        await act();
        await scan(`${name} (${scheme})`);
      }
      await signedOut(DESKTOP, scheme, (out) => scan(`signin (signed out, ${scheme})`, out));
    }
    // A phone in the dark: the narrow layout and the other theme together.
    await page.setViewportSize(PHONE);
    for (const [name, path, ready] of pages()) {
      await open(path, ready);
      await scan(`${name} (phone, dark)`);
    }
    await signedOut(PHONE, 'dark', (out) => scan('signin (signed out, phone, dark)', out));
    await page.emulateMedia({ colorScheme: 'light' });
    await page.setViewportSize(DESKTOP);
    // Every finding, minor ones included, for a person to read.
    writeFileSync(join(S.shots, 'axe_report.json'), JSON.stringify(report, null, 1));
    if (report.length < 30) throw new Error(`only ${report.length} scans ran`);
    if (found.length) throw new Error(`${found.length} serious/critical accessibility violations:\n${found.join('\n')}`);
  });

  await flow('quality_screens', ['add_bot', 'create_slash_command'], async () => {
    const wide = [];
    await ensureInvite();
    const measure = async (on, name, size) => {
      await on.screenshot({ path: join(S.shots, `${name}_${size}.png`), fullPage: true });
      const over = await on.evaluate(() => {
        const root = document.documentElement;
        if (root.scrollWidth <= root.clientWidth) return null;
        // Name the widest culprits (elements reaching past the right edge), to fix them.
        const culprits = [...document.querySelectorAll('body *')]
          .filter((el) => el.getBoundingClientRect().right > root.clientWidth + 0.5)
          .slice(-3)
          .map((el) => `${el.tagName.toLowerCase()}${el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\s+/).join('.') : ''}`);
        return `${root.scrollWidth}px > ${root.clientWidth}px (${culprits.join(', ')})`;
      });
      if (over) wide.push(`${name}_${size}: ${over}`);
      // Menus and tabs: every entry in sight, none hidden in a sideways scroller.
      const hidden = await on.evaluate(() =>
        [...document.querySelectorAll('nav a, [role=tab]')]
          .filter((el) => {
            const r = el.getBoundingClientRect();
            return r.left < -0.5 || r.right > document.documentElement.clientWidth + 0.5;
          })
          .map((el) => el.textContent.trim()),
      );
      if (hidden.length) wide.push(`${name}_${size}: out of sight: ${hidden.join(', ')}`);
    };
    for (const [size, viewport] of [['desktop', DESKTOP], ['phone', PHONE]]) {
      await page.setViewportSize(viewport);
      for (const [name, path, ready] of pages()) {
        await open(path, ready);
        await measure(page, name, size);
      }
      await signedOut(viewport, 'light', (out) => measure(out, 'signin', size));
    }
    await page.setViewportSize(DESKTOP);
    if (wide.length) throw new Error(`pages wider than the window:\n${wide.join('\n')}`);
  });

  await flow('quality_tab_keys', ['add_bot', 'create_slash_command'], async () => {
    await page.setViewportSize(DESKTOP);
    const wrong = [];
    let lists = 0;
    const selectedName = (list) => list.locator('[role=tab][aria-selected=true]').first().textContent();
    const focusedName = () => page.evaluate(() => (document.activeElement?.getAttribute('role') === 'tab' ? document.activeElement.textContent : null));
    for (const [name, path, ready] of pages()) {
      await open(path, ready);
      const count = await page.getByRole('tablist').count();
      for (let i = 0; i < count; i++) {
        const list = page.getByRole('tablist').nth(i);
        const tabs = (await list.getByRole('tab').allTextContents()).map((t) => t.trim());
        if (tabs.length < 2) continue;
        lists++;
        const where = `${name}: tab list "${(await list.getAttribute('aria-label')) ?? i}"`;
        const stops = await list.locator('[role=tab]:not([tabindex="-1"])').count();
        if (stops !== 1) wrong.push(`${where} has ${stops} tab stops, not 1`);
        await list.locator('[role=tab][aria-selected=true]').first().focus();
        const start = tabs.indexOf(((await selectedName(list)) ?? '').trim());
        for (const [key, want] of [
          ['End', tabs.length - 1],
          ['Home', 0],
          ['ArrowRight', 1],
          ['ArrowLeft', 0],
          ['ArrowLeft', tabs.length - 1],
        ]) {
          await page.keyboard.press(key);
          await expectVisible(list.locator('[role=tab][aria-selected=true]', { hasText: tabs[want] }), 3_000).catch(() => undefined);
          const sel = ((await selectedName(list)) ?? '').trim();
          const foc = ((await focusedName()) ?? '').trim();
          if (sel !== tabs[want] || foc !== tabs[want]) wrong.push(`${where}: ${key} selected "${sel}", focused "${foc}", expected "${tabs[want]}"`);
        }
        // Put it back as it was.
        await list.getByRole('tab', { name: tabs[start], exact: true }).click();
      }
    }
    if (lists === 0) throw new Error('no tab list found on any page');
    if (wrong.length) throw new Error(wrong.join('\n'));
  });

  await flow('quality_first_page_size', ['sign_in'], async () => {
    // What the browser really fetched for the first page, as served (gzipped) by the gateway:
    // the document, its scripts and styles (lazy views are not part of it).
    await page.setViewportSize(DESKTOP);
    await page.goto('about:blank');
    await page.goto('/');
    await expectVisible(page.getByRole('heading', { name: 'Your bots' }), 20_000);
    await page.waitForLoadState('networkidle', { timeout: 5_000 }).catch(() => undefined);
    const sizes = await page.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0];
      const assets = performance
        .getEntriesByType('resource')
        .filter((r) => new URL(r.name).pathname.startsWith('/assets/'))
        .map((r) => [new URL(r.name).pathname, r.encodedBodySize, r.decodedBodySize]);
      return { doc: nav ? nav.encodedBodySize : 0, assets };
    });
    if (sizes.assets.length === 0) throw new Error('no /assets/ file was loaded');
    if (!sizes.assets.some(([, enc, dec]) => enc > 0 && enc < dec)) throw new Error(`assets are not served compressed: ${JSON.stringify(sizes.assets)}`);
    const total = sizes.doc + sizes.assets.reduce((n, [, enc]) => n + enc, 0);
    const list = sizes.assets.map(([p, enc]) => `${p} ${(enc / 1000).toFixed(1)} KB`).join(', ');
    writeFileSync(join(S.shots, 'first_page_size.txt'), `first page: ${(total / 1000).toFixed(1)} KB gzipped (${list})\n`);
    if (total > 250_000) throw new Error(`the first page is ${(total / 1000).toFixed(1)} KB gzipped, over 250 KB: ${list}`);
  });

  if (invite) {
    const gone = await call('DELETE', `/v1/workspaces/${invite.ws.id}`, { confirm_name: invite.ws.name });
    if (gone.status >= 300) console.error(`the quality team workspace was not deleted: ${gone.status}`);
  }

  // Back to the suite's own window and theme for the flows after these.
  await page.emulateMedia({ colorScheme: 'light' });
  await page.setViewportSize({ width: 1280, height: 900 });
}
