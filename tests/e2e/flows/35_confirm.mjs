// #16 item 4, "every save confirms with a short toast": the prefix setting, a command import
// and Duplicate in the command list each say what they did in a toast, not only inline; a
// refused prefix shows in the Save summary.
// Each flow leaves the bot as it found it (prefix `!`, no extra command), since the pickers
// flows after it start from there.
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';

export default async function ({ S, page, context, flow, expectVisible, LONG, botUrl }) {
  const csrf = async () => (await context.cookies()).find((c) => c.name === 'bc_csrf')?.value ?? '';
  const toast = (text) => page.getByTestId('toast').filter({ hasText: text });

  await flow('confirm_prefix_toast', ['add_bot'], async () => {
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.goto(`${botUrl()}/settings`);
    const form = page.getByRole('form', { name: 'Command prefix' });
    const prefix = form.getByLabel('Prefix', { exact: true });
    await expectVisible(prefix);
    // A refused prefix: said at the field and in the summary at Save, focus on the field.
    await prefix.fill('a b');
    await form.getByRole('button', { name: 'Save prefix' }).click();
    const summary = form.getByTestId('error-summary');
    await expectVisible(summary.getByRole('link', { name: 'Prefix' }), LONG);
    const said = (await summary.locator('li').allTextContents()).map((t) => t.trim());
    if (said.length !== 1 || !said[0].startsWith('Prefix: A prefix is 1 to 5 characters')) throw new Error(`the summary says ${JSON.stringify(said)}`);
    if (!(await prefix.evaluate((el) => el === document.activeElement))) throw new Error('focus did not move to the prefix');
    await prefix.fill('%');
    await form.getByRole('button', { name: 'Save prefix' }).click();
    await expectVisible(toast('Prefix saved ✓'), LONG);
    await page.screenshot({ path: join(S.shots, 'confirm_prefix_toast.png'), fullPage: true });
    await toast('Prefix saved ✓').waitFor({ state: 'detached', timeout: 10_000 });
    // Back to the default the pickers flows expect; confirmed again.
    await prefix.fill('!');
    await form.getByRole('button', { name: 'Save prefix' }).click();
    await expectVisible(toast('Prefix saved ✓'), LONG);
  });

  await flow('confirm_import_toast', ['create_slash_command'], async () => {
    // The exported setup with /greet described differently: the import updates one command.
    const exported = await page.request.get(`/v1${botUrl()}/export?format=json`);
    if (!exported.ok()) throw new Error(`export answered ${exported.status()}`);
    const setup = await exported.json();
    const greet = (setup.commands ?? []).find((c) => c.name === 'greet');
    if (!greet) throw new Error('the export has no greet command');
    greet.description = 'Say hello to someone';
    const file = join(S.shots, 'confirm_import.json');
    writeFileSync(file, JSON.stringify(setup));
    await page.goto(`${botUrl()}/commands`);
    await page.getByLabel('Config file').setInputFiles(file);
    await expectVisible(page.getByText('If applied:'), LONG);
    await page.getByRole('button', { name: 'Apply import' }).click();
    await expectVisible(toast('Imported ✓ — 1 command updated'), LONG);
    await page.screenshot({ path: join(S.shots, 'confirm_import_toast.png'), fullPage: true });
  });

  await flow('confirm_duplicate_toast', ['create_slash_command'], async () => {
    await page.goto(`${botUrl()}/commands`);
    await page.getByRole('button', { name: 'Duplicate greet', exact: true }).click();
    await expectVisible(toast('Duplicated as /greet-copy ✓'), LONG);
    await page.screenshot({ path: join(S.shots, 'confirm_duplicate_toast.png'), fullPage: true });
    // The copy goes again, so the flows after this one see the commands they made.
    const link = page.getByRole('link', { name: '/greet-copy', exact: true });
    await expectVisible(link, LONG);
    const href = (await link.getAttribute('href')) ?? '';
    const r = await page.request.delete(`/v1${href}`, { headers: { 'X-CSRF-Token': await csrf() } });
    if (!r.ok()) throw new Error(`deleting the copy answered ${r.status()}: ${await r.text()}`);
  });
}
