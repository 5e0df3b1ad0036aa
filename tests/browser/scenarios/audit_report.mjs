// The audit report (`kabine audit --format html`) in a real browser: it
// renders, loads nothing from anywhere (the harness records every request),
// has no axe-core violations at WCAG 2.1 A and AA, and prints on A4.
//
// KABINE_URL is the report's directory as a file:// URL; the first argument
// is the report's file name.
import path from 'node:path';
import { BASE_URL, OUT_DIR, axe, launch, newPage, scenario, screenshot } from '../lib/harness.mjs';

await scenario(async () => {
  const file = process.argv[2];
  if (!file) throw new Error('usage: audit_report.mjs REPORT.html');
  const browser = await launch();
  const page = await newPage(browser, 'report', { width: 1200, height: 900 });
  await page.goto(`${BASE_URL}/${file}`, { waitUntil: 'load' });
  const violations = await axe(page);
  const headings = await page.$$eval('h2', (hs) => hs.map((h) => h.textContent?.trim() ?? ''));
  const lang = await page.$eval('html', (h) => h.getAttribute('lang'));
  const statuses = await page.$$eval('.status', (s) => s.length);
  await screenshot(page, `${file}.png`);
  await page.screenshot({ path: path.join(OUT_DIR, `${file}-full.png`), fullPage: true });
  await page.emulateMediaType('print');
  const pdf = path.join(OUT_DIR, `${file}.pdf`);
  await page.pdf({ path: pdf, format: 'A4', printBackground: true });
  return { violations, headings, lang, statuses, pdf };
});
