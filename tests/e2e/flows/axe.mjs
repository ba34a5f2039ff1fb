// Accessibility scan with axe-core (web/'s devDependency), injected into the page as a
// string through playwright-core (page.evaluate runs over CDP, so the console's strict CSP
// does not block it). Not a flow: console.e2e.mjs imports every *.mjs here and calls its
// default export, so this one's does nothing; 90_quality.mjs uses the helpers below.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, '..', '..', '..', 'web', 'package.json'));
const axe = require('axe-core');

/** The impacts that fail the quality bar. */
export const BLOCKING = ['serious', 'critical'];

/** Runs axe on the whole page; returns the violations as {id, impact, help, targets}. */
export async function axeScan(page) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.evaluate(axe.source);
  return page.evaluate(async () => {
    const res = await window.axe.run(document, { resultTypes: ['violations'] });
    return res.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      targets: v.nodes.map((n) => n.target.join(' ')),
      why: v.nodes.map((n) => n.failureSummary ?? '').slice(0, 2),
    }));
  });
}

/** One line per blocking violation: "<where>: <id> (<impact>) at <targets> — <help>". */
export function blocking(where, violations) {
  return violations
    .filter((v) => BLOCKING.includes(v.impact))
    .map((v) => `${where}: ${v.id} (${v.impact}) at ${v.targets.slice(0, 4).join(' | ')}${v.targets.length > 4 ? ` (+${v.targets.length - 4})` : ''} — ${v.help}`);
}

/** No flows here (console.e2e.mjs calls every module's default export). */
export default async function () {}
