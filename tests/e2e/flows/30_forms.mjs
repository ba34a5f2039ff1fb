// Issue #16 item 4: one way to show errors, everywhere. A bad value shows ONE plain-words
// error next to its field and in the summary at Save (focus moves to the field); a save
// confirms with a toast; a long name never makes the page scroll sideways; Start / Restart
// say what they wait for and stop saying it once the bot is there.
import { join } from 'node:path';

/** The form's errors as a user sees them: at the field and in the summary at Save. */
async function errorsShown(form, field) {
  const atField = (await form.locator(`[data-field="${field}"] .field-error`).allTextContents()).map((t) => t.trim());
  const allAtFields = await form.locator('.field-error').count();
  const summary = form.getByTestId('error-summary');
  const items = (await summary.locator('li').allTextContents()).map((t) => t.trim());
  return { atField, allAtFields, summaries: await summary.count(), items };
}

function expectOnePlainError(shown, label, want) {
  const all = JSON.stringify(shown);
  if (/String should|Value error|Input should|Field required/.test(all)) throw new Error(`raw validator text shown: ${all}`);
  if (shown.atField.length !== 1 || !want.test(shown.atField[0])) throw new Error(`at the field: ${all}`);
  if (shown.allAtFields !== 1) throw new Error(`${shown.allAtFields} field errors on the form (old ones stacked?): ${all}`);
  if (shown.summaries !== 1 || shown.items.length !== 1) throw new Error(`summary at Save: ${all}`);
  if (!shown.items[0].startsWith(`${label}:`) || !want.test(shown.items[0])) throw new Error(`summary item: ${all}`);
}

async function focusedLabel(page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    return el?.id ? document.querySelector(`label[for="${CSS.escape(el.id)}"]`)?.textContent ?? `#${el.id}` : el?.tagName ?? '';
  });
}

async function noSidewaysScroll(page, where) {
  const o = await page.evaluate(() => ({ sw: document.documentElement.scrollWidth, cw: document.documentElement.clientWidth }));
  if (o.sw > o.cw) throw new Error(`${where}: the page scrolls sideways (scrollWidth ${o.sw} > clientWidth ${o.cw})`);
}

/** Empty, then one character over `max`: each attempt shows one plain-words error at the field
 * and in the summary at Save, focus on the field, and a counter before the limit. */
async function wrongLengths(page, expectVisible, form, { label, max, save }) {
  const field = form.getByLabel(label, { exact: true });
  await field.fill('');
  await save.click();
  await expectVisible(form.getByTestId('error-summary').filter({ hasText: 'empty' }));
  expectOnePlainError(await errorsShown(form, 'name'), label, /Can’t be empty\./);
  if ((await focusedLabel(page)) !== label) throw new Error(`focus is on "${await focusedLabel(page)}", not ${label}`);
  await field.fill('L'.repeat(max + 1));
  if ((await field.inputValue()).length !== max + 1) throw new Error(`the ${label} was cut while typing`);
  await expectVisible(form.getByTestId('counter').filter({ hasText: `${max + 1} / ${max} — 1 character too many` }));
  await save.click();
  await expectVisible(form.getByTestId('error-summary').filter({ hasText: 'Too long' }));
  expectOnePlainError(await errorsShown(form, 'name'), label, new RegExp(`Too long: use at most ${max} characters\\.`));
  if ((await focusedLabel(page)) !== label) throw new Error(`focus is on "${await focusedLabel(page)}", not ${label}`);
}

export default async function ({ S, page, flow, expectVisible, LONG, botUrl }) {
  let originalName = '';

  await flow('forms_plain_errors', ['add_bot'], async () => {
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.emulateMedia({ colorScheme: 'light' });
    await page.goto(`${botUrl()}/settings`);
    const form = page.getByRole('form', { name: 'Bot settings' });
    const name = form.getByLabel('Name', { exact: true });
    originalName = await name.inputValue();
    const save = form.getByRole('button', { name: 'Save', exact: true });

    // An empty name.
    await name.fill('');
    await save.click();
    await expectVisible(form.getByTestId('error-summary'));
    expectOnePlainError(await errorsShown(form, 'name'), 'Name', /^Can’t be empty\.$|Name: Can’t be empty\./);
    if ((await focusedLabel(page)) !== 'Name') throw new Error(`focus is on "${await focusedLabel(page)}", not Name`);

    // 300 characters: a counter says so before saving, nothing is cut, the save is refused in words.
    const long = 'N'.repeat(300);
    await name.fill(long);
    if ((await name.inputValue()).length !== 300) throw new Error('the 300-character name was cut while typing');
    await expectVisible(form.getByTestId('counter').filter({ hasText: '300 / 100 — 200 characters too many' }));
    await page.locator('#content').focus();
    await save.click();
    await expectVisible(form.getByTestId('error-summary').filter({ hasText: 'Too long' }));
    expectOnePlainError(await errorsShown(form, 'name'), 'Name', /Too long: use at most 100 characters\./);
    // The error says it in words; the counter under the field no longer says it again.
    const counterNow = (await form.locator('[data-field="name"]').getByTestId('counter').innerText()).trim();
    if (counterNow !== '300 / 100') throw new Error(`with the error shown the counter reads "${counterNow}"`);
    if ((await focusedLabel(page)) !== 'Name') throw new Error(`focus is on "${await focusedLabel(page)}", not Name`);
    await noSidewaysScroll(page, 'settings with a 300-character name typed');
    await page.screenshot({ path: join(S.shots, 'forms_300_chars.png'), fullPage: true });
    // The summary's link moves focus to its field.
    await page.locator('#content').focus();
    await form.getByTestId('error-summary').getByRole('link', { name: 'Name' }).click();
    if ((await focusedLabel(page)) !== 'Name') throw new Error('the summary link does not move focus to the field');

    // A bad URL on a connection.
    await page.goto('/connections');
    await page.getByRole('button', { name: 'New connection' }).click();
    const conn = page.getByRole('form', { name: 'Connection editor' });
    await conn.getByLabel('Name', { exact: true }).fill('Forms check');
    await conn.getByLabel('Base URL').fill('not a url');
    await conn.getByRole('button', { name: 'Save connection' }).click();
    await expectVisible(conn.getByTestId('error-summary'));
    expectOnePlainError(await errorsShown(conn, 'base_url'), 'Base URL', /^Enter a full web address|Base URL: Enter a full web address/);
    if ((await focusedLabel(page)) !== 'Base URL') throw new Error(`focus is on "${await focusedLabel(page)}", not Base URL`);
    await page.screenshot({ path: join(S.shots, 'forms_bad_url.png'), fullPage: true });
    await conn.getByRole('button', { name: 'Cancel' }).click();
  });

  await flow('forms_save_toast_long_name', ['add_bot'], async () => {
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.goto(`${botUrl()}/settings`);
    const form = page.getByRole('form', { name: 'Bot settings' });
    const name = form.getByLabel('Name', { exact: true });
    if (!originalName) originalName = await name.inputValue();
    // The longest name the API takes, without a space to break at.
    await name.fill('W'.repeat(100));
    await form.getByRole('button', { name: 'Save', exact: true }).click();
    const toast = page.getByTestId('toast').filter({ hasText: 'Settings saved ✓' });
    await expectVisible(toast, LONG);
    if ((await page.getByTestId('toasts').getAttribute('role')) !== 'status') throw new Error('the toast region is not a status region');
    if (await form.getByTestId('error-summary').count()) throw new Error('an error summary is left after a good save');
    await noSidewaysScroll(page, 'settings (1280 px)');
    await page.screenshot({ path: join(S.shots, 'forms_saved_toast.png'), fullPage: true });
    // The toast goes away by itself.
    await toast.waitFor({ state: 'detached', timeout: 10_000 });
    await page.goto(botUrl());
    await expectVisible(page.getByRole('heading', { level: 1, name: 'W'.repeat(100) }));
    await noSidewaysScroll(page, 'bot page (1280 px)');
    await page.goto('/');
    await expectVisible(page.getByRole('link', { name: 'W'.repeat(100) }));
    await noSidewaysScroll(page, 'bots list (1280 px)');
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${botUrl()}/settings`);
    await expectVisible(page.getByRole('button', { name: /^Delete W+/ }));
    await noSidewaysScroll(page, 'settings (390 px)');
    await page.screenshot({ path: join(S.shots, 'forms_long_name_phone.png'), fullPage: true });
    await page.goto('/');
    await expectVisible(page.getByRole('link', { name: 'W'.repeat(100) }));
    await noSidewaysScroll(page, 'bots list (390 px)');
    // Back to the name the other flows know.
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.goto(`${botUrl()}/settings`);
    await page.getByRole('form', { name: 'Bot settings' }).getByLabel('Name', { exact: true }).fill(originalName);
    await page.getByRole('form', { name: 'Bot settings' }).getByRole('button', { name: 'Save', exact: true }).click();
    await expectVisible(page.getByTestId('toast').filter({ hasText: 'Settings saved ✓' }), LONG);
  });

  await flow('forms_command_name_too_long', ['add_bot'], async () => {
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.goto(`${botUrl()}/commands/new`);
    const form = page.getByRole('form', { name: 'Command editor' });
    const name = form.getByLabel('Name', { exact: true });
    // 33 characters, one over Discord's 32: kept as typed, counted, refused in words.
    await name.fill('a'.repeat(33));
    if ((await name.inputValue()).length !== 33) throw new Error('the 33-character command name was cut while typing');
    await expectVisible(form.locator('[data-field="name"]').getByTestId('counter').filter({ hasText: '33 / 32 — 1 character too many' }));
    await form.getByLabel('Description', { exact: true }).first().fill('Too long a name');
    await form.getByLabel('Reply template', { exact: true }).fill('Hi');
    await expectVisible(form.locator('[data-field="response.content"]').getByTestId('counter').filter({ hasText: '2 / 4000' }));
    await form.getByRole('button', { name: 'Save command' }).click();
    await expectVisible(form.getByTestId('error-summary').filter({ hasText: 'Too long' }));
    expectOnePlainError(await errorsShown(form, 'name'), 'Name', /Too long: use at most 32 characters\./);
    if (!/\/commands\/new$/.test(page.url())) throw new Error(`saved anyway: ${page.url()}`);
    await page.screenshot({ path: join(S.shots, 'forms_command_name_33.png'), fullPage: true });
  });

  await flow('forms_files_one_error_at_a_time', ['sign_in'], async () => {
    // A refused upload, then another refused one: only the last attempt's error shows.
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.goto('/files');
    const input = page.locator('#avatar-file');
    await input.setInputFiles({ name: 'fake.png', mimeType: 'image/png', buffer: Buffer.from('this is not an image') });
    await expectVisible(page.locator('.alert.error'), LONG);
    await input.setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('hello') });
    await expectVisible(page.locator('.alert.error').filter({ hasText: 'notes.txt is not a PNG' }));
    const shown = await page.locator('.alert.error').allTextContents();
    if (shown.length !== 1) throw new Error(`${shown.length} errors stacked: ${JSON.stringify(shown)}`);
  });

  await flow('forms_pending_goes_away', ['add_bot'], async () => {
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.goto(botUrl());
    const pending = page.getByTestId('action-pending');
    const startBtn = page.getByRole('button', { name: 'Start', exact: true });
    // The page has loaded the bot once Start or Stop shows (count() does not wait).
    await expectVisible(page.getByRole('button', { name: /^(Start|Stop)$/ }), LONG);
    // An earlier flow may have left it running: stop it, so the restart below comes right
    // after a start.
    const stopBtn = page.getByRole('button', { name: 'Stop', exact: true });
    if (await stopBtn.count()) {
      await stopBtn.click();
      await expectVisible(page.locator('[data-testid=bot-status] [data-state=offline]'), LONG);
      await pending.waitFor({ state: 'detached', timeout: LONG });
    }
    {
      await startBtn.click();
      await expectVisible(page.getByTestId('toast').filter({ hasText: 'Bot online ✓' }), LONG);
      if (await pending.count()) throw new Error(`still pending once online: ${await pending.textContent()}`);
    }
    // A restart right after a start waits for Discord's next session start: the page says so.
    await page.getByRole('button', { name: 'Restart', exact: true }).click();
    await expectVisible(page.getByTestId('bot-status').filter({ hasText: /session start/ }), LONG);
    const waitText = (await pending.count()) ? await pending.textContent() : '';
    await page.screenshot({ path: join(S.shots, 'forms_restart_waiting.png'), fullPage: true });
    if (waitText && !/waiting/.test(waitText)) throw new Error(`the pending state does not say what it waits for: ${waitText}`);
    await expectVisible(page.locator('[data-testid=bot-status] [data-state=online]'), LONG);
    await pending.waitFor({ state: 'detached', timeout: LONG });
    await expectVisible(page.getByTestId('toast').filter({ hasText: 'Bot restarted and online ✓' }), LONG);
    // Leave it stopped, as the core flows did.
    await page.getByRole('button', { name: 'Stop', exact: true }).click();
    await expectVisible(page.locator('[data-testid=bot-status] [data-state=offline]'), LONG);
    await pending.waitFor({ state: 'detached', timeout: LONG });
  });
  await flow('forms_team_and_role_names', ['sign_in'], async () => {
    // New team, the workspace rename and a custom role: an empty and an over-long name each
    // show one plain-words error at the field and in the summary at Save.
    await page.setViewportSize({ width: 1280, height: 800 });
    const team = `Forms ${Math.random().toString(16).slice(2, 8)}`;
    await page.goto('/');
    await page.getByRole('button', { name: 'New team' }).click();
    const dialog = page.getByRole('dialog').locator('form');
    await wrongLengths(page, expectVisible, dialog, { label: 'Workspace name', max: 100, save: dialog.getByRole('button', { name: 'Create workspace' }) });
    await page.screenshot({ path: join(S.shots, 'forms_new_team_too_long.png'), fullPage: true });
    await dialog.getByLabel('Workspace name', { exact: true }).fill(team);
    await dialog.getByRole('button', { name: 'Create workspace' }).click();
    await page.waitForURL(/\/team\?workspace_id=[0-9a-f-]{36}/, { timeout: LONG });
    await expectVisible(page.getByTestId('toast').filter({ hasText: `Team ${team} created ✓` }), LONG);
    const ws = new URL(page.url()).searchParams.get('workspace_id');

    await page.goto(`/team/settings?workspace_id=${ws}`);
    const rename = page.getByRole('form', { name: 'Rename the workspace' });
    await wrongLengths(page, expectVisible, rename, { label: 'Workspace name', max: 100, save: rename.getByRole('button', { name: 'Rename' }) });
    await noSidewaysScroll(page, 'workspace settings with a 101-character name typed');
    await page.screenshot({ path: join(S.shots, 'forms_rename_too_long.png'), fullPage: true });

    await page.goto(`/team/roles?workspace_id=${ws}`);
    await page.getByRole('button', { name: 'New custom role' }).click();
    const role = page.getByRole('form', { name: 'Role editor' });
    await wrongLengths(page, expectVisible, role, { label: 'Role name', max: 50, save: role.getByRole('button', { name: 'Save role' }) });
    await noSidewaysScroll(page, 'roles with a 51-character role name typed');
    await page.screenshot({ path: join(S.shots, 'forms_role_too_long.png'), fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await noSidewaysScroll(page, 'roles with a 51-character role name typed (390 px)');
    await page.screenshot({ path: join(S.shots, 'forms_role_too_long_phone.png'), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 800 });

    // The invitation form: a malformed e-mail is said in words, at the field and at Save.
    await page.goto(`/team?workspace_id=${ws}`);
    await page.getByRole('button', { name: 'Invite someone' }).click();
    const invite = page.getByRole('dialog').locator('form');
    await invite.getByLabel('E-mail (optional)', { exact: true }).fill('nobody');
    await invite.getByRole('button', { name: 'Create invitation link' }).click();
    await expectVisible(invite.getByTestId('error-summary'), LONG);
    expectOnePlainError(await errorsShown(invite, 'email'), 'E-mail (optional)', /Enter an e-mail address, like ada@example\.com\./);
    if ((await focusedLabel(page)) !== 'E-mail (optional)') throw new Error(`focus is on "${await focusedLabel(page)}", not the e-mail`);
    await page.screenshot({ path: join(S.shots, 'forms_invite_bad_email.png'), fullPage: true });
    await invite.getByRole('button', { name: 'Cancel' }).click();

    // The team goes again: the teams flows count workspaces of their own.
    await page.goto(`/team/settings?workspace_id=${ws}`);
    await page.getByRole('button', { name: `Delete ${team}…` }).click();
    await page.getByLabel(/Type .* to confirm/).fill(team);
    await page.getByRole('button', { name: 'Delete the workspace' }).click();
    await page.waitForURL((u) => u.pathname === '/' && !u.searchParams.get('workspace_id'), { timeout: LONG });
  });
}
