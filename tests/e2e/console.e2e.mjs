// Browser flows of the web console against a running stack, in Debian's Chromium driven by
// playwright-core (never downloads a browser). Run by tests/e2e/test_web_console.py, which
// starts the stack and the sandbox and passes the scenario as JSON in E2E_SCENARIO:
//   { base, sandbox, chromium, shots, avatar, username }
// Prints one JSON line `{"results": {flow: {ok, error, ms}}}` at the end. Every flow saves
// a screenshot in `shots` (tests/e2e/screenshots/) so a person can look at the pages.
import { createRequire } from 'node:module';
import { join, dirname } from 'node:path';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, '..', '..', 'web', 'package.json'));
const { chromium } = require('playwright-core');

const S = JSON.parse(process.env.E2E_SCENARIO);
mkdirSync(S.shots, { recursive: true });
const results = {};
const LONG = 45_000;

const browser = await chromium.launch({
  executablePath: S.chromium,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, baseURL: S.base });
context.setDefaultTimeout(15_000);
// Keep a handle on every websocket the page opens, so a test can cut the connection.
await context.addInitScript(() => {
  const Native = window.WebSocket;
  window.__sockets = [];
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      window.__sockets.push(this);
    }
  };
});
const page = await context.newPage();
const consoleErrors = [];
page.on('pageerror', (e) => consoleErrors.push(String(e)));

let botUrl = null;

async function flow(name, needs, fn) {
  const t0 = Date.now();
  const missing = needs.filter((n) => !results[n]?.ok);
  if (missing.length) {
    results[name] = { ok: false, error: `not run: needs ${missing.join(', ')}`, ms: 0 };
    return;
  }
  try {
    await fn();
    if (await page.getByRole('heading', { name: 'Something went wrong' }).count()) {
      throw new Error(`the page crashed: ${await page.locator('.alert.error').first().textContent()}`);
    }
    results[name] = { ok: true, ms: Date.now() - t0 };
  } catch (err) {
    results[name] = { ok: false, error: String(err?.message ?? err).split('\n').slice(0, 6).join('\n'), ms: Date.now() - t0 };
  }
  try {
    await page.screenshot({ path: join(S.shots, `${name}.png`), fullPage: true });
  } catch {
    /* a failed screenshot never hides the flow's own result */
  }
}

// Screenshots `<name>.png` (desktop) and `<name>_phone.png` (390×844), back to `desktop` after;
// fails when the phone's page is wider than its screen.
async function fitsPhone(name, desktop = { width: 1280, height: 900 }) {
  await page.screenshot({ path: join(S.shots, `${name}.png`), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  const wide = await page.evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth);
  await page.screenshot({ path: join(S.shots, `${name}_phone.png`), fullPage: true });
  await page.setViewportSize(desktop);
  if (wide) throw new Error(`${name} overflows horizontally on a phone`);
}

const expectVisible = (locator, timeout) => locator.first().waitFor({ state: 'visible', timeout });
// Polls `check` until it answers something truthy (and returns that), failing after `ms`.
async function until(what, check, ms = LONG) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`never: ${what}`);
    await page.waitForTimeout(250);
  }
}

await flow('sign_in', [], async () => {
  // Signed out, a deep link goes to sign-in and comes back to the same page afterwards.
  // The signed-out start asks "who am I" once and tries no refresh (no session to refresh).
  const asked = [];
  const count = (req) => {
    const path = new URL(req.url()).pathname;
    if (path === '/v1/me' || path === '/v1/auth/refresh') asked.push(path);
  };
  page.on('request', count);
  await page.goto('/files');
  await page.waitForURL(/\/signin\?next=%2Ffiles/);
  await expectVisible(page.getByRole('link', { name: /Sign in with Discord/ }));
  await page.waitForLoadState('networkidle');
  page.off('request', count);
  if (asked.join(',') !== '/v1/me') throw new Error(`signed-out start asked: ${asked.join(', ') || 'nothing'}`);
  await page.getByRole('link', { name: /Sign in with Discord/ }).click();
  // The sandbox's consent page: a new user, then Authorize.
  await page.waitForURL((u) => u.toString().startsWith(S.sandbox));
  // An existing sandbox user is pre-checked, and the page names them.
  // (The sandbox is shared by the test session: whoever is first, the page names them.)
  const preChecked = page.locator('input[name=user_id]:checked');
  if ((await preChecked.count()) !== 1) throw new Error('no user is pre-checked');
  const first = await preChecked.getAttribute('data-username');
  const before = (await page.getByRole('status').textContent()) ?? '';
  if (before !== `You will be signed in as ${first}.`) throw new Error(`consent page says "${before}"`);
  await page.locator('input[name=new_username]').fill(S.username);
  // The page says who will be signed in: the typed new name, not the pre-checked user.
  const willBe = (await page.getByRole('status').textContent()) ?? '';
  if (!willBe.includes(`a new user, ${S.username}`)) throw new Error(`consent page says "${willBe}"`);
  if ((await page.locator('input[name=user_id]:checked').count()) !== 0) {
    throw new Error('an existing user stays checked while a new name is typed');
  }
  await page.screenshot({ path: join(S.shots, 'sign_in_consent.png'), fullPage: true });
  await page.getByRole('button', { name: 'Authorize' }).click();
  await page.waitForURL((u) => u.toString().startsWith(S.base) && !u.pathname.startsWith('/v1/'), { timeout: LONG });
  await expectVisible(page.getByRole('heading', { name: 'Files' }));
  if (new URL(page.url()).pathname !== '/files') throw new Error(`came back to ${page.url()}, not /files`);
  await page.getByRole('link', { name: 'Bots', exact: true }).click();
  await expectVisible(page.getByRole('heading', { name: 'Your bots' }));
  const who = await page.getByTestId('who').textContent();
  if (!who || !who.trim()) throw new Error('the signed-in user is not shown');
});

await flow('add_bot', ['sign_in'], async () => {
  await page.getByRole('button', { name: 'Add a bot' }).click();
  await page.getByLabel('Bot token').fill('not-a-real-token');
  await page.getByRole('button', { name: 'Add bot' }).click();
  // Refused by Discord: the message is shown inline, as words (never raw JSON).
  await expectVisible(page.locator('.field-error, .alert.error'));
  const err = await page.locator('.field-error, .alert.error').first().textContent();
  if (err.includes('{')) throw new Error(`raw JSON shown: ${err}`);
  await page.getByLabel('Bot token').fill(S.token);
  await page.getByRole('button', { name: 'Add bot' }).click();
  await page.waitForURL(/\/bots\/[0-9a-f-]{36}$/, { timeout: LONG });
  botUrl = new URL(page.url()).pathname;
  const body = await page.content();
  if (body.includes(S.token)) throw new Error('the token is visible after saving');
  await expectVisible(page.getByText(`…${S.token.slice(-4)}`));
});

await flow('start_online_live', ['add_bot'], async () => {
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await expectVisible(page.locator('[data-testid=bot-status] [data-state=online]'), LONG);
  await expectVisible(page.getByRole('cell', { name: /1\/1/ }), LONG).catch(() => undefined);
  // Plain words: what Start asked for, and the console's own connection (not the bot's state).
  const wanted = await page.getByTestId('wanted').textContent();
  if (wanted !== 'set to run') throw new Error(`wanted state reads "${wanted}"`);
  const badge = (await page.locator('[data-stream-state]').first().textContent()) ?? '';
  if (!/Live updates/.test(badge)) throw new Error(`the stream badge reads "${badge}"`);
  if (await page.getByRole('columnheader', { name: 'Replica' }).count()) throw new Error('"Replica" jargon shown');
  // The bots list shows the live status from GET /v1/bots itself (no request per bot).
  const perBot = [];
  const seen = (req) => { if (/\/v1\/bots\/[0-9a-f-]{36}\/status/.test(req.url())) perBot.push(req.url()); };
  page.on('request', seen);
  await page.getByRole('link', { name: 'Bots', exact: true }).click();
  await expectVisible(page.locator('article[data-bot-id] [data-state=online]'), LONG);
  await expectVisible(page.locator('article[data-bot-id]').filter({ hasText: /1 guild/ }), LONG);
  page.off('request', seen);
  if (perBot.length > 0) throw new Error(`the list asked for each bot's status: ${perBot[0]}`);
  await page.goto(botUrl);
  // Back on the bot's page, loaded (the screenshot shows it, not its loading state).
  await expectVisible(page.locator('[data-testid=bot-status] [data-state=online]'), LONG);
});

await flow('stream_live', ['sign_in'], async () => {
  // The badge above may also come from polling; this checks the websocket itself is live.
  await expectVisible(page.locator('[data-stream-state=live]'), 20_000);
});

await flow('create_slash_command', ['add_bot'], async () => {
  await page.goto(`${botUrl}/commands/new`);
  await page.getByLabel('Name', { exact: true }).fill('greet');
  await page.getByLabel('Description', { exact: true }).fill('Say hi to someone');
  await page.getByRole('button', { name: 'Add option' }).click();
  await page.getByLabel('Option 1 name').fill('who');
  await page.locator('fieldset').filter({ hasText: 'Options' }).getByLabel('Description', { exact: true }).fill('who to greet');
  await page.getByLabel('Required', { exact: true }).check();
  await page.getByLabel('Reply template', { exact: true }).fill('Hi {{ options.who }}!');
  await page.getByRole('button', { name: 'Save command' }).click();
  await page.waitForURL(/\/commands\/[0-9a-f-]{36}$/, { timeout: LONG });
  await page.goto(`${botUrl}/commands`);
  await expectVisible(page.getByRole('link', { name: '/greet' }));
});

await flow('preview_unsaved_template', ['add_bot'], async () => {
  // A new command, never saved: the server's dry run renders what is in the form.
  await page.goto(`${botUrl}/commands/new`);
  await page.getByLabel('Name', { exact: true }).fill('welcome');
  await page.getByLabel('Description', { exact: true }).fill('Welcome someone');
  await page.getByRole('button', { name: 'Add option' }).click();
  await page.getByLabel('Option 1 name').fill('who');
  await page.locator('fieldset').filter({ hasText: 'Options' }).getByLabel('Description', { exact: true }).fill('who to welcome');
  await page.getByLabel('Reply template', { exact: true }).fill('Welcome, {{ options.who }}!');
  await page.getByLabel('Sample who').fill('Grace');
  const preview = page.getByRole('button', { name: 'Preview (server dry run)' });
  await preview.click();
  await expectVisible(page.getByTestId('reply').filter({ hasText: 'Welcome, Grace!' }), LONG);
  // Edited again, still unsaved: the preview follows the form.
  await page.getByLabel('Reply template', { exact: true }).fill('Hello again, {{ options.who }}.');
  await preview.click();
  await expectVisible(page.getByTestId('reply').filter({ hasText: 'Hello again, Grace.' }), LONG);
  // A template error comes back next to its field, as words.
  await page.getByLabel('Reply template', { exact: true }).fill('Hi {{ options.who ');
  await preview.click();
  await expectVisible(page.locator('div:has(> textarea[name=content]) .field-error'));
  const listed = await page.request.get(`/v1/bots${botUrl.slice(5)}/commands`);
  if ((await listed.json()).items.some((c) => c.name === 'welcome')) throw new Error('previewing saved the command');
  if (!new URL(page.url()).pathname.endsWith('/commands/new')) throw new Error(`left the editor: ${page.url()}`);
});

await flow('try_it', ['create_slash_command'], async () => {
  await page.goto(`${botUrl}/try`);
  await page.getByLabel('Command', { exact: true }).selectOption({ label: '/greet' });
  await page.getByLabel('who (required)').fill('Ada');
  // The server runs against the sandbox: the running bot answers a real interaction.
  await expectVisible(page.locator('p[data-try-mode=sandbox]'));
  await page.getByRole('button', { name: 'Run' }).click();
  await expectVisible(page.locator('[data-testid=reply][data-try-mode=sandbox]').filter({ hasText: 'Hi Ada!' }), LONG);
  const meta = await page.getByTestId('reply').first().textContent();
  if (!/interaction \d+/.test(meta)) throw new Error(`no sandbox interaction in the answer: ${meta}`);
});

await flow('server_field_errors', ['create_slash_command'], async () => {
  // A second /greet in the same scope: refused by the server, shown as words next to the form.
  await page.goto(`${botUrl}/commands/new`);
  await page.getByLabel('Name', { exact: true }).fill('greet');
  await page.getByLabel('Description', { exact: true }).fill('again');
  await page.getByRole('button', { name: 'Save command' }).click();
  // An empty template: the server's error sits next to the template field.
  const templateError = page.locator('div:has(> textarea[name=content]) .field-error');
  await expectVisible(templateError);
  await page.getByLabel('Reply template', { exact: true }).fill('Hello again');
  await page.getByRole('button', { name: 'Save command' }).click();
  // The same name twice in one scope.
  const err = page.locator('.alert.error').filter({ hasText: /greet|name|exists|unique|already/i });
  await expectVisible(err);
  const text = (await err.allTextContents()).join(' ');
  if (text.includes('{"') || !/greet|name|exists|unique/i.test(text)) throw new Error(`unclear error: ${text}`);
});

await flow('export_import', ['create_slash_command'], async () => {
  // Export as JSON, then import that file: the dry-run diff shows before anything changes.
  const exported = await page.request.get(`/v1/bots${botUrl.slice(5)}/export?format=json`);
  if (!exported.ok()) throw new Error(`export answered ${exported.status()}`);
  const file = join(S.shots, 'export.json');
  writeFileSync(file, await exported.body());
  await page.goto(`${botUrl}/commands`);
  await page.getByLabel('Config file').setInputFiles(file);
  await expectVisible(page.getByText('If applied:'), LONG);
  await expectVisible(page.getByText(/unchanged: .*\b1 command(?!s)/));
  await page.getByRole('button', { name: 'Apply import' }).click();
  await expectVisible(page.getByText('Imported ✓'), LONG);
  // Confirmed like every save: a short toast saying what the import did (the bot's first
  // stored settings count as one updated when no prefix was ever saved).
  await expectVisible(page.getByTestId('toast').filter({ hasText: /^Imported ✓ — (nothing changed|1 setting updated)/ }), LONG);
});

await flow('error_guidance', ['add_bot'], async () => {
  // A bot asking for MESSAGE_CONTENT that the portal has not enabled: the page says what
  // happened and what to do.
  await page.goto('/');
  await page.getByRole('button', { name: 'Add a bot' }).click();
  await page.getByLabel('Bot token').fill(S.token2);
  await page.getByRole('button', { name: 'Add bot' }).click();
  await page.waitForURL(/\/bots\/[0-9a-f-]{36}$/, { timeout: LONG });
  const second = new URL(page.url()).pathname;
  await page.goto(`${second}/settings`);
  await page.getByLabel('Message content').check();
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await expectVisible(page.getByText('Saved ✓'));
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  const guidance = page.getByTestId('error-guidance');
  await expectVisible(guidance, LONG);
  const text = await guidance.textContent();
  if (!/Privileged Gateway Intents/.test(text) || !/MESSAGE_CONTENT|message content/i.test(text)) throw new Error(`guidance unclear: ${text}`);
  await page.screenshot({ path: join(S.shots, 'error_guidance_in_error.png'), fullPage: true });
  await page.getByRole('button', { name: 'Stop', exact: true }).click();
});

await flow('upload_avatar', ['sign_in'], async () => {
  await page.goto('/files');
  await page.locator('#avatar-file').setInputFiles(S.avatar);
  await expectVisible(page.getByTestId('upload-done'), LONG);
  const img = page.getByTestId('upload-done').locator('img');
  await img.waitFor();
  const ok = await img.evaluate(
    (el) =>
      new Promise((resolve) => {
        if (el.complete) return resolve(el.naturalWidth > 0);
        el.addEventListener('load', () => resolve(el.naturalWidth > 0));
        el.addEventListener('error', () => resolve(false));
      }),
  );
  if (!ok) throw new Error('the processed WebP preview did not load');
  // One file, one way to say its sizes: the upload note and the list name the same two.
  const said = (await page.getByTestId('upload-sizes').innerText()).trim();
  if (!/^\S+ [KM]?i?B uploaded, \S+ [KM]?i?B stored$/.test(said)) throw new Error(`sizes unnamed after upload: ${said}`);
  await expectVisible(page.getByTestId('file-sizes').filter({ hasText: said }));
  await page.screenshot({ path: join(S.shots, 'upload_sizes.png'), fullPage: true });
});

await flow('apply_avatar', ['upload_avatar', 'add_bot'], async () => {
  await page.goto(`${botUrl}/settings`);
  await page.locator('input[name=avatar]').first().check();
  await page.getByRole('button', { name: 'Apply to bot' }).click();
  // Confirmed with the console's short toast, as every save is.
  await expectVisible(page.getByTestId('toast').filter({ hasText: 'Avatar applied on Discord' }), LONG);
  // The same image again: Discord already shows it, so nothing is sent and the page says so.
  await page.getByRole('button', { name: 'Apply to bot' }).click();
  await expectVisible(page.getByTestId('toast').filter({ hasText: 'Already the bot’s avatar: nothing sent' }), LONG);
  await expectVisible(page.getByText('Discord already shows this avatar; nothing was sent'), LONG);
  await page.screenshot({ path: join(S.shots, 'apply_avatar_again.png'), fullPage: true });
  // The heading reads as the bot's name alone: the avatar next to it is decorative.
  await page.goto(botUrl);
  const h1 = page.getByRole('heading', { level: 1 });
  await expectVisible(h1.getByTestId('bot-avatar'), LONG);
  const name = ((await h1.textContent()) ?? '').trim();
  await expectVisible(page.getByRole('heading', { level: 1, name, exact: true }));
});

await flow('live_log_line', ['start_online_live'], async () => {
  await page.goto(`${botUrl}/logs`);
  // The tail's own stream (the page header has another one, live already): only once the
  // tail is subscribed can it show what the restart produces.
  await expectVisible(page.locator('[data-testid=tail-stream-state][data-stream-state=live]'), 20_000);
  // Restarting produces status events and log lines; they must arrive without a reload.
  await page.getByRole('button', { name: 'Restart' }).click();
  await expectVisible(page.getByTestId('live-tail').locator('div'), LONG);
});

await flow('resume_after_lost_connection', ['live_log_line'], async () => {
  // The tail is live on the bot's logs tab. Cut the websocket and keep it down (no ticket),
  // restart the bot meanwhile, then let it reconnect: the missed events arrive.
  await page.getByRole('button', { name: 'Clear' }).click();
  await page.route('**/v1/stream/ticket', (route) => route.abort());
  await page.evaluate(() => window.__sockets.forEach((ws) => ws.close()));
  await expectVisible(page.locator('[data-testid=tail-stream-state][data-stream-state=reconnecting]'), 10_000);
  const csrf = (await context.cookies()).find((c) => c.name === 'bc_csrf')?.value ?? '';
  const since = new Date().toISOString();
  const restarted = await page.request.post(`/v1/bots${botUrl.slice(5)}/restart`, { headers: { 'X-CSRF-Token': csrf } });
  if (!restarted.ok()) throw new Error(`restart answered ${restarted.status()}`);
  // Wait until the log-service has stored the restart (so it really happened while we were away).
  const deadline = Date.now() + LONG;
  for (;;) {
    const r = await page.request.get(`/v1/logs?bot_id=${botUrl.slice(6)}&kind=restarted&since=${encodeURIComponent(since)}`);
    if (r.ok() && (await r.json()).items.length > 0) break;
    if (Date.now() > deadline) throw new Error('the restart never reached the logs');
    await page.waitForTimeout(250);
  }
  const tail = page.getByTestId('live-tail');
  if ((await tail.count()) && /restart requested/.test(await tail.textContent())) throw new Error('the stream was not cut');
  await page.unroute('**/v1/stream/ticket');
  await expectVisible(tail.getByText(/restart requested/), LONG);
});

await flow('all_bots_logs_chart', ['start_online_live'], async () => {
  // The Logs page for all bots shows the events-per-minute chart from GET /v1/events/summary.
  const summary = page.waitForResponse((r) => new URL(r.url()).pathname === '/v1/events/summary' && r.ok(), { timeout: LONG });
  await page.goto('/logs');
  await summary;
  if ((await page.getByLabel('Bot', { exact: true }).inputValue()) !== '') throw new Error('not on "All bots"');
  const chart = page.getByTestId('events-chart');
  await expectVisible(chart, LONG);
  const total = Number(await chart.getAttribute('data-total'));
  if (!(total > 0)) throw new Error(`the chart counts no events (total ${total}) although the bot ran`);
  await chart.locator('svg rect').first().waitFor({ state: 'attached' });
  const caption = await chart.locator('figcaption').textContent();
  if (!/Events per minute \(all bots\)/.test(caption)) throw new Error(`unexpected caption: ${caption}`);
  // The tail's badge names what is connected: the log stream.
  await expectVisible(page.getByTestId('tail-stream-state').getByText(/^Log stream: /));
  // The Logs tabs follow the arrow keys (roving tabindex): Right, End, Home.
  const live = page.getByRole('tab', { name: 'Live tail' });
  const history = page.getByRole('tab', { name: 'History' });
  if ((await history.getAttribute('tabindex')) !== '-1') throw new Error('the unselected tab is a tab stop');
  await live.focus();
  await page.keyboard.press('ArrowRight');
  await expectVisible(page.locator('[role=tab][aria-selected=true]', { hasText: 'History' }));
  if (!(await history.evaluate((el) => el === document.activeElement))) throw new Error('focus did not follow ArrowRight');
  await page.keyboard.press('Home');
  await expectVisible(page.locator('[role=tab][aria-selected=true]', { hasText: 'Live tail' }));
  await page.keyboard.press('End');
  await expectVisible(page.locator('[role=tab][aria-selected=true]', { hasText: 'History' }));
  await page.keyboard.press('ArrowLeft');
  await expectVisible(page.locator('[role=tab][aria-selected=true]', { hasText: 'Live tail' }));
});

await flow('stop_bot', ['start_online_live'], async () => {
  await page.goto(botUrl);
  await page.getByRole('button', { name: 'Stop', exact: true }).click();
  await expectVisible(page.locator('[data-testid=bot-status] [data-state=offline]'), LONG);
});

await flow('narrow_360_dark', ['sign_in'], async () => {
  await page.setViewportSize({ width: 360, height: 740 });
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.goto('/');
  await expectVisible(page.getByRole('heading', { name: 'Your bots' }));
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (overflow > 1) throw new Error(`the page is ${overflow}px wider than a 360px screen`);
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  if (bg !== 'rgb(16, 19, 23)') throw new Error(`dark theme not applied (background ${bg})`);
  // Keyboard: the skip link is the first stop and is visible when focused.
  await page.keyboard.press('Tab');
  const focused = await page.evaluate(() => document.activeElement?.textContent);
  if (focused !== 'Skip to content') throw new Error(`first Tab stop is ${focused}`);
});

await flow('api_token', ['sign_in'], async () => {
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.goto('/account');
  await page.getByLabel('Token name').fill('ci');
  await page.getByRole('button', { name: 'Create token' }).click();
  const secret = (await page.getByTestId('new-token').textContent()) ?? '';
  if (!secret.startsWith('bcp_')) throw new Error(`unexpected token shown: ${secret.slice(0, 8)}…`);
  await page.getByRole('button', { name: 'Done' }).click();
  // Shown once: gone from the page after "Done"; the list shows only its last 4 characters.
  if ((await page.content()).includes(secret)) throw new Error('the token is still on the page');
  const row = page.getByRole('row', { name: /ci/ });
  await expectVisible(row.getByText(`…${secret.slice(-4)}`));
  await row.getByRole('button', { name: 'Revoke' }).click();
  await page.getByText('No tokens.').waitFor();
});

await flow('prompts_connections_crud', ['sign_in'], async () => {
  // The two catalog pages share their list/editor plumbing: create, edit and delete one
  // of each, and a connection's secret is asked for, kept and never shown again.
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.goto('/prompts');
  await page.getByRole('button', { name: 'New prompt' }).click();
  const prompt = page.getByRole('form', { name: 'Prompt editor' });
  await prompt.getByLabel('Name').fill('Greeter');
  await prompt.getByRole('button', { name: 'Save prompt' }).click();
  const card = page.locator('.panel', { hasText: 'Greeter' });
  await expectVisible(card.getByText(/gpt-4o-mini · updated/));
  await card.getByRole('button', { name: 'Edit' }).click();
  await prompt.getByLabel('Model').fill('gpt-4o');
  await prompt.getByRole('button', { name: 'Save prompt' }).click();
  await expectVisible(card.getByText(/^gpt-4o · updated/));
  await card.getByRole('button', { name: 'Edit' }).click();
  await prompt.getByRole('button', { name: 'Delete', exact: true }).click();
  await page.getByRole('button', { name: 'Delete prompt' }).click();
  await expectVisible(page.getByText('No prompts yet.'));

  const secret = 'sk-e2e-secret-7f3a9c';
  await page.goto('/connections');
  await page.getByRole('button', { name: 'New connection' }).click();
  const conn = page.getByRole('form', { name: 'Connection editor' });
  await conn.getByLabel('Name').fill('Weather');
  // A URL commands may not call is refused at save, at the field, naming the rule.
  await conn.getByLabel('Base URL').fill('http://127.0.0.1:8000');
  await conn.getByRole('button', { name: 'Save connection' }).click();
  await expectVisible(conn.getByText(/points to this machine \(a loopback address\).*COMMAND_OUTBOUND_ALLOW_HOSTS/).first());
  if ((await conn.getByLabel('Base URL').getAttribute('aria-invalid')) !== 'true') throw new Error('the Base URL field is not marked invalid');
  await page.screenshot({ path: join(S.shots, 'connection_loopback_refused.png'), fullPage: true });
  await conn.getByLabel('Base URL').fill('https://weather.example.com/v1');
  await conn.getByLabel('Authentication').selectOption('bearer');
  await conn.getByRole('button', { name: 'Save connection' }).click();
  await expectVisible(conn.getByText(/needs a secret/));
  await conn.getByLabel('Secret').fill(secret);
  await conn.getByRole('button', { name: 'Save connection' }).click();
  const row = page.locator('.panel', { hasText: 'Weather' });
  await expectVisible(row.getByText('auth: Bearer token · secret …3a9c', { exact: true }));
  if ((await page.content()).includes(secret)) throw new Error('the secret is on the page after saving');
  // A test that got no answer says why, never "Failed · 0 ms".
  await row.getByRole('button', { name: 'Test connection' }).click();
  const tested = row.locator('[role=status]').filter({ hasText: /Reachable|Failed/ });
  await expectVisible(tested, LONG);
  const testText = (await tested.textContent()) ?? '';
  if (/· 0 ms/.test(testText) || /^✕ Failed$/.test(testText.trim())) throw new Error(`test result reads "${testText}"`);
  await page.screenshot({ path: join(S.shots, 'connection_test_result.png'), fullPage: true });
  await row.getByRole('button', { name: 'Edit' }).click();
  await expectVisible(conn.getByText('A secret is stored (…3a9c). Leave empty to keep it.', { exact: true }));
  await page.screenshot({ path: join(S.shots, 'connection_secret_kept.png'), fullPage: true });
  await conn.getByRole('button', { name: 'Delete', exact: true }).click();
  await page.getByRole('button', { name: 'Delete connection' }).click();
  await expectVisible(page.getByText('No connections yet.'));
});

// More flows live in tests/e2e/flows/*.mjs (run in file-name order, signed in, before sign
// out): each module's default export gets this context and calls `flow` like the ones above.
const flowsDir = join(here, 'flows');
for (const file of readdirSync(flowsDir).filter((f) => f.endsWith('.mjs')).sort()) {
  const mod = await import(pathToFileURL(join(flowsDir, file)).href);
  await mod.default({ S, page, context, browser, flow, expectVisible, until, fitsPhone, results, LONG, botUrl: () => botUrl });
}

await flow('sign_out', ['sign_in'], async () => {
  await page.goto('/account');
  await page.getByRole('button', { name: 'Sign out', exact: true }).click();
  await page.waitForURL(/\/signin/);
  await page.goto('/');
  await page.waitForURL(/\/signin/);
});

await flow('delete_account', ['sign_out'], async () => {
  // Back in as the same sandbox user (picked on the consent page), then delete the account
  // with the typed confirmation.
  await page.goto('/account');
  await page.waitForURL(/\/signin\?next=%2Faccount/);
  await page.getByRole('link', { name: /Sign in with Discord/ }).click();
  await page.waitForURL((u) => u.toString().startsWith(S.sandbox));
  await page.getByLabel(new RegExp(S.username)).check();
  await page.getByRole('button', { name: 'Authorize' }).click();
  await expectVisible(page.getByRole('heading', { name: 'Account' }), LONG);
  await page.getByRole('button', { name: 'Delete my account…' }).click();
  const confirm = page.getByRole('button', { name: 'Delete everything' });
  if (await confirm.isEnabled()) throw new Error('deleting is possible without typing the confirmation');
  await page.getByLabel(/Type .* to confirm/).fill('delete my account');
  await confirm.click();
  await page.waitForURL(/\/signin/, { timeout: LONG });
});

results._page_errors = { ok: consoleErrors.length === 0, error: consoleErrors.join('\n').slice(0, 2000) };
await browser.close();
console.log(JSON.stringify({ results }));
