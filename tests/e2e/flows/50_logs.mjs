// Logs that help (#16 item 6): the live tail opens with earlier events, first on the page;
// history search finds parts of words; a time range narrows; an error line links to its command.
export default async function ({ S, page, context, flow, expectVisible, until, LONG, botUrl }) {
  const csrf = async () => (await context.cookies()).find((c) => c.name === 'bc_csrf')?.value ?? '';
  const post = async (path, data) => {
    const r = await page.request.post(path, { headers: { 'X-CSRF-Token': await csrf() }, data });
    if (!r.ok()) throw new Error(`${path} answered ${r.status()}: ${await r.text()}`);
    return r.json();
  };
  const waitState = (botId, want) =>
    until(`the bot is ${want}`, async () => {
      const r = await page.request.get(`/v1/bots/${botId}/status`);
      return r.ok() && (await r.json()).state === want;
    });
  const tailIds = async () => page.getByTestId('live-tail').locator('[data-event-id]').evaluateAll((els) => els.map((e) => e.getAttribute('data-event-id')));

  await flow('logs_tail_opens_with_earlier_events', ['start_online_live'], async () => {
    // At 1280×800, on a bot whose events are all in the past (it was stopped): the tail shows
    // them at once, above the chart and above the fold, and never says it is waiting.
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.goto(`${botUrl()}/logs`);
    const tail = page.getByTestId('live-tail');
    await expectVisible(tail.locator('[data-event-id]'), LONG);
    await expectVisible(page.locator('[data-testid=tail-stream-state][data-stream-state=live]'), 20_000);
    if (await page.getByText(/Waiting for events|No events yet/).count()) throw new Error('the tail says it waits while events exist');
    const ids = await tailIds();
    if (ids.length < 2) throw new Error(`the tail opened with ${ids.length} earlier event(s)`);
    if (new Set(ids).size !== ids.length) throw new Error('the tail shows an event twice');
    await expectVisible(page.getByTestId('events-chart'), LONG);
    const t = await tail.boundingBox();
    const c = await page.getByTestId('events-chart').boundingBox();
    if (!t || t.y > 800 - 60) throw new Error(`the tail starts below the fold (y=${t?.y})`);
    if (!c || c.y < t.y) throw new Error('the chart comes before the tail');
  });

  await flow('logs_error_links_to_command', ['logs_tail_opens_with_earlier_events', 'try_it'], async () => {
    const botId = botUrl().slice(6);
    // A command that fails when it runs (its template divides by zero).
    await page.goto(`${botUrl()}/commands/new`);
    await page.getByLabel('Name', { exact: true }).fill('boom');
    await page.getByLabel('Description', { exact: true }).fill('Always fails');
    await page.getByLabel('Reply template', { exact: true }).fill('{{ 1 // (content | length) }}');
    await page.getByRole('button', { name: 'Save command' }).click();
    await page.waitForURL(/\/commands\/[0-9a-f-]{36}$/, { timeout: LONG });
    const commandUrl = new URL(page.url()).pathname;
    const commandId = commandUrl.split('/').pop();
    await post(`/v1/bots/${botId}/start`);
    await waitState(botId, 'online');
    // The tail is open (and live) before the run: the failure arrives live, once.
    await page.goto(`${botUrl()}/logs`);
    await expectVisible(page.locator('[data-testid=tail-stream-state][data-stream-state=live]'), 20_000);
    const before = await tailIds();
    await post(`/v1/bots/${botId}/try`, { command_id: commandId, options: {}, content: null });
    const line = page.getByTestId('live-tail').locator('.lvl-error').filter({ hasText: '/boom failed' });
    await expectVisible(line, LONG);
    const after = await tailIds();
    if (new Set(after).size !== after.length) throw new Error('the tail shows an event twice');
    if (!before.every((id) => after.includes(id))) throw new Error('earlier events left the tail');
    // The tail follows the newest line: the failure is in view inside the tail's box.
    const box = await page.getByTestId('live-tail').boundingBox();
    const at = await line.first().boundingBox();
    if (!box || !at || at.y < box.y || at.y + at.height > box.y + box.height + 1) throw new Error('the newest line is scrolled out of the tail');
    await line.first().scrollIntoViewIfNeeded();
    await page.screenshot({ path: `${S.shots}/logs_error_line.png` });
    await line.first().getByRole('link', { name: 'Open the command' }).click();
    await page.waitForURL((u) => u.pathname === commandUrl, { timeout: LONG });
    await expectVisible(page.getByLabel('Name', { exact: true }), LONG);
    const name = await page.getByLabel('Name', { exact: true }).inputValue();
    if (name !== 'boom') throw new Error(`the link opened "${name}", not the failing command`);
    await post(`/v1/bots/${botId}/stop`);
    await waitState(botId, 'offline');
  });

  await flow('logs_search_greet', ['try_it'], async () => {
    // "greet" is part of "/greet": found (the old whole-word search found nothing).
    await page.goto('/logs');
    await page.getByRole('tab', { name: 'History' }).click();
    await page.getByLabel('Text', { exact: true }).fill('greet');
    const history = page.getByTestId('history');
    await expectVisible(history.getByText(/command \/greet: ok/), LONG);
    const texts = await history.locator('[data-event-id]').allTextContents();
    if (!texts.every((t) => /greet/i.test(t))) throw new Error(`a line without "greet": ${texts.find((t) => !/greet/i.test(t))}`);
  });

  await flow('logs_time_range_narrows', ['logs_search_greet'], async () => {
    const history = page.getByTestId('history');
    await page.getByLabel('Time range', { exact: true }).selectOption({ label: 'Last 15 minutes' });
    await expectVisible(history.getByText(/command \/greet: ok/), LONG);
    // Two days ago until yesterday: the /greet runs of a minute ago are outside.
    const local = (ms) => {
      const d = new Date(Date.now() - ms);
      const pad = (n) => String(n).padStart(2, '0');
      return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
    };
    await page.getByLabel('Time range', { exact: true }).selectOption({ label: 'Custom (from – to)' });
    const asked = page.waitForRequest((r) => new URL(r.url()).pathname === '/v1/logs' && new URL(r.url()).searchParams.has('until'), { timeout: LONG });
    await page.getByLabel('From', { exact: true }).fill(local(2 * 86_400_000));
    await page.getByLabel('To (empty: now)', { exact: true }).fill(local(86_400_000));
    const url = new URL((await asked).url());
    if (!url.searchParams.get('since')) throw new Error('the range did not reach the API');
    await expectVisible(page.getByText(/No log lines contain “greet” in/), LONG);
    // Backwards: said in plain words, nothing asked.
    await page.getByLabel('From', { exact: true }).fill(local(3600_000));
    await page.getByLabel('To (empty: now)', { exact: true }).fill(local(2 * 3600_000));
    await expectVisible(page.getByText('From must be before To.'));
    // Back to "Last hour": the runs are there again.
    await page.getByLabel('Time range', { exact: true }).selectOption({ label: 'Last hour' });
    await expectVisible(history.getByText(/command \/greet: ok/), LONG);
  });

  await flow('logs_phone_custom_range', ['logs_time_range_narrows'], async () => {
    // On a phone (390×844) with the custom range open, nothing overflows sideways.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.getByLabel('Time range', { exact: true }).selectOption({ label: 'Custom (from – to)' });
    await expectVisible(page.getByLabel('From', { exact: true }));
    const [scroll, client] = await page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
    if (scroll > client) throw new Error(`the logs page overflows at 390 px (${scroll} > ${client})`);
    await page.screenshot({ path: `${S.shots}/logs_phone_390.png`, fullPage: true });
    await page.getByLabel('Time range', { exact: true }).selectOption({ label: 'Last hour' });
    await page.setViewportSize({ width: 1280, height: 900 });
  });
}
