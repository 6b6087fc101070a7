// The golden index.html in a real browser (Debian's chromium via playwright-core): no console errors
// (so the CSP hashes match the inline CSS/JS), no request leaves the file, filters work, and the
// XSS payloads in the fixture's guest text stay inert. A screenshot goes to a temp dir.
import { existsSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const CHROMIUM = '/usr/bin/chromium';
const HAVE = existsSync(CHROMIUM);
const GOLDEN = path.resolve(import.meta.dirname, '../../src/report/testdata/golden');
const why = HAVE ? '' : ` — skipped: ${CHROMIUM} not found (bin/setup --tests installs it)`;

interface Loaded {
  page: Page;
  consoleErrors: string[];
  requests: string[];
  foreign: string[];
}

describe.skipIf(!HAVE)(`index.html in chromium${why}`, () => {
  let ctx: BrowserContext;
  const shots = mkdtempSync(path.join(tmpdir(), 'huci-html-shot-'));

  beforeAll(async () => {
    ctx = await chromium.launchPersistentContext(mkdtempSync(path.join(tmpdir(), 'huci-chromium-profile-')), {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      viewport: { width: 1280, height: 900 },
    });
  }, 60_000);
  afterAll(async () => {
    await ctx?.close();
  });

  async function load(fixture: string): Promise<Loaded> {
    const file = path.join(GOLDEN, fixture, 'index.html');
    const url = pathToFileURL(file).href;
    const page = await ctx.newPage();
    const consoleErrors: string[] = [];
    const requests: string[] = [];
    const foreign: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') consoleErrors.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));
    // Every request must be the file itself or data:; anything else is recorded and aborted.
    await page.route('**/*', async (route) => {
      const u = route.request().url();
      requests.push(u);
      if (u === url || u.startsWith('data:')) await route.continue();
      else {
        foreign.push(u);
        await route.abort();
      }
    });
    page.on('request', (r) => {
      const u = r.url();
      if (u !== url && !u.startsWith('data:') && !foreign.includes(u)) foreign.push(u);
    });
    await page.goto(url, { waitUntil: 'load' });
    return { page, consoleErrors, requests, foreign };
  }

  const visible = (page: Page): Promise<number> => page.locator('details.case:visible').count();

  it('loads without console errors and without any request leaving the file; filters work; XSS inert; screenshot', async () => {
    const { page, consoleErrors, requests, foreign } = await load('run-two-images');
    // the page's own script ran (it fills in the count) and its CSS applied (badges are coloured)
    await expect.poll(() => page.locator('#shown').textContent()).toBe('14');
    const bg = await page
      .locator('.badge.v-crashed')
      .first()
      .evaluate((el) => getComputedStyle(el).backgroundColor);
    expect(bg).toBe('rgb(207, 34, 46)');

    // filters: untick "handled" → the 5 handled executions disappear
    expect(await visible(page)).toBe(14);
    await page.locator('input[name="verdict"][value="handled"]').uncheck();
    expect(await visible(page)).toBe(9);
    expect(await page.locator('#shown').textContent()).toBe('9');
    await page.locator('select[name="subsystem"]').selectOption('gpio');
    expect(await visible(page)).toBe(2); // debian silent iteration + kasan crashed
    // a matrix cell selects its subsystem and image
    await page.locator('#reset-filters').click();
    expect(await visible(page)).toBe(14);
    await page.locator('.matrix .cell[data-pick-subsystem="i2c"][data-pick-image="kasan-6.12"]').click();
    expect(await visible(page)).toBe(1);
    await page.locator('#reset-filters').click();

    // XSS payloads from the fixture (a gpio line name, a console line) rendered as text, not run
    await page.locator('details.case').evaluateAll((ds) => ds.forEach((d) => ((d as HTMLDetailsElement).open = true)));
    const xss = await page.evaluate(() => ({
      flag: (window as unknown as { __xss?: unknown }).__xss ?? null,
      imgs: document.querySelectorAll('img').length,
      handlers: document.querySelectorAll('[onerror],[onload],[onclick]').length,
      scripts: document.querySelectorAll('script').length,
      text: document.body.textContent,
    }));
    expect(xss.flag).toBeNull();
    expect(xss.imgs).toBe(0);
    expect(xss.handlers).toBe(0);
    expect(xss.scripts).toBe(1);
    expect(xss.text).toContain('<script>window.__xss=1</script>');
    expect(xss.text).toContain('"><img src=x onerror="window.__xss=2">');

    const shot = path.join(shots, 'index-two-images.png');
    await page.locator('details.case').evaluateAll((ds) => ds.forEach((d) => ((d as HTMLDetailsElement).open = false)));
    await page.screenshot({ path: shot, fullPage: true });
    expect(statSync(shot).size).toBeGreaterThan(10_000);
    process.stdout.write(`screenshot: ${shot}\n`);

    expect(consoleErrors).toEqual([]);
    expect(foreign).toEqual([]);
    expect(requests.length).toBeGreaterThanOrEqual(1);
    await page.close();
  }, 60_000);

  it('the partial run with failed controls shows the loud banner', async () => {
    const { page, consoleErrors, foreign } = await load('run-partial');
    await expect.poll(() => page.locator('#controls-banner').isVisible()).toBe(true);
    expect(await page.locator('#controls-banner').textContent()).toContain('CONTROLS FAILED');
    expect(await page.locator('#incomplete-banner').isVisible()).toBe(true);
    expect(await page.locator('.matrix').count()).toBe(0);
    await page.screenshot({ path: path.join(shots, 'index-partial.png') });
    expect(consoleErrors).toEqual([]);
    expect(foreign).toEqual([]);
    await page.close();
  }, 60_000);
});
