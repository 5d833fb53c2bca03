/**
 * Browser tests: Debian's Chromium driven by playwright-core, against a test app listening on
 * a real port. One browser per test file, one fresh context (cookies, storage) per test:
 *
 *   const skip = browserSkip();
 *   describe('Users page in a browser', { skip }, () => {
 *     let browser: Browser; let app: ServedApp;
 *     before(async () => { browser = await launchBrowser(); app = await startServedApp(); });
 *     after(async () => { await browser.close(); await app.close(); });
 *     test('…', async () => {
 *       const tab = await openTab(browser, app);
 *       await signInWithPassword(tab.page, 'admin', await app.adminPassword());
 *       await tab.page.goto('/admin/users');
 *       await expectAccessible(tab.page, 'users page');
 *       tab.expectNoProblems();          // no console error, no failed asset, no CSP violation
 *       await tab.close();
 *     });
 *   });
 *
 * When /usr/bin/chromium is missing, `browserSkip()` returns the reason and the suites skip
 * (`.ci/run` installs it with apt-get).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { buildResponse } from '../saml/idp.ts';
import { startTestApp, testCertificate, TEST_IDP, type TestApp } from './app.ts';
import type { TestDatabase } from './databases.ts';
import type { DatabaseLocation } from '../../src/store/index.ts';
import { freePort, ROOT } from './process.ts';

/** Debian's Chromium (`apt-get install chromium`). */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/** Flags for a quiet, sandbox-less headless Chromium that never reaches the network on its own. */
export const CHROMIUM_FLAGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Why browser tests cannot run here (for `describe(…, { skip })`), or false when they can. */
export function browserSkip(): string | false {
  return existsSync(CHROMIUM_PATH) ? false : `browser tests skipped: ${CHROMIUM_PATH} is missing (install Debian's chromium: apt-get install chromium)`;
}

/** Launches Chromium; a test file launches one and closes it in `after`. */
export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: [...CHROMIUM_FLAGS] });
}

/** A test app (test/support/app.ts) listening on 127.0.0.1, with its base URL. */
export interface ServedApp extends TestApp {
  /** `http://127.0.0.1:<port>`, also the app's ROSTER_BASE_URL. */
  readonly base: string;
  /** Sets a new random password for `admin` and returns it. */
  adminPassword(): Promise<string>;
}

/**
 * Starts a test app on a free port of 127.0.0.1 (SAML configured with the test IdP, SCIM on,
 * unless the options say otherwise), its base URL being that address.
 */
export async function startServedApp(
  options: { scim?: boolean; saml?: boolean; database?: TestDatabase; location?: DatabaseLocation; cookieDomain?: string; trustedHosts?: readonly string[] } = {},
): Promise<ServedApp> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const app = await startTestApp({ ...options, baseUrl: base });
  await app.app.listen({ port, host: '127.0.0.1' });
  return {
    ...app,
    base,
    async adminPassword() {
      return (await app.services.administrators.resetPassword('admin', { kind: 'cli' })).password;
    },
  };
}

/** A page in a fresh browser context, watching for what should never happen on a console page. */
export interface Tab {
  readonly context: BrowserContext;
  readonly page: Page;
  /** Console errors, uncaught exceptions and failed requests seen so far. */
  readonly problems: string[];
  /** Fails the test if any problem was seen (a CSP violation is a console error). */
  expectNoProblems(): void;
  close(): Promise<void>;
}

/**
 * Opens a fresh context (no cookies) on `app` (relative `goto('/account')` works) and a page
 * in it, recording console errors, page errors and failed requests. The status of a page
 * itself (a 403 or 404 page, say) is not a problem; a failed stylesheet or script is.
 */
export async function openTab(browser: Browser, app: ServedApp): Promise<Tab> {
  const context = await browser.newContext({ baseURL: app.base });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    const where = message.location().url;
    // Chromium logs the status of a document that is an error page; the test checks that status itself.
    if (/^Failed to load resource: the server responded with a status of [45]\d\d/.test(message.text()) && where === page.url()) return;
    problems.push(`console error: ${message.text()} (${where})`);
  });
  page.on('pageerror', (error) => problems.push(`uncaught: ${error.message}`));
  page.on('requestfailed', (request) => {
    // A navigation aborts what the page it leaves was still loading (a favicon, a redirected
    // document); a file that is really missing shows as a status >= 400 below.
    if (request.failure()?.errorText === 'net::ERR_ABORTED') return;
    problems.push(`request failed: ${request.url()} ${request.failure()?.errorText ?? ''}`);
  });
  page.on('response', (response) => {
    const type = response.request().resourceType();
    if (response.status() >= 400 && type !== 'document') problems.push(`${type} ${response.url()} answered ${response.status()}`);
  });
  return {
    context,
    page,
    problems,
    expectNoProblems() {
      assert.deepEqual(problems, [], `problems in the browser:\n${problems.join('\n')}`);
    },
    async close() {
      await context.close();
    },
  };
}

const AXE_SOURCE = readFileSync(join(ROOT, 'node_modules/axe-core/axe.min.js'), 'utf8');

/** One accessibility violation axe-core found. */
export interface AxeViolation {
  readonly id: string;
  readonly impact: string | null;
  readonly help: string;
  readonly targets: string[];
}

/**
 * Runs axe-core in the page (injected through the DevTools protocol, which the page's CSP does
 * not govern) and returns its violations. `include` limits it to a selector (an open dialog).
 */
export async function axeViolations(page: Page, include?: string): Promise<AxeViolation[]> {
  await page.evaluate(AXE_SOURCE);
  return page.evaluate(async (selector) => {
    // Runs in the page; the tests are compiled without the DOM library, hence the shape spelled out.
    const scope = globalThis as unknown as { document: unknown; axe: { run(context: unknown, options: unknown): Promise<{ violations: Array<{ id: string; impact: string | null; help: string; nodes: Array<{ target: unknown[] }> }> }> } };
    const result = await scope.axe.run(selector === undefined ? scope.document : { include: [selector] }, { resultTypes: ['violations'] });
    return result.violations.map((violation) => ({ id: violation.id, impact: violation.impact, help: violation.help, targets: violation.nodes.map((node) => node.target.map(String).join(' ')) }));
  }, include);
}

/** Fails when axe-core finds a serious or critical violation on the page (`label` names it in the message). */
export async function expectAccessible(page: Page, label: string, include?: string): Promise<void> {
  const severe = (await axeViolations(page, include)).filter((violation) => violation.impact === 'serious' || violation.impact === 'critical');
  assert.deepEqual(
    severe.map((violation) => violation.id),
    [],
    `axe-core on ${label}:\n${severe.map((violation) => `${violation.impact}: ${violation.id} (${violation.help}) at ${violation.targets.join(', ')}`).join('\n')}`,
  );
}

/** The element that has the keyboard focus: its id and its text. */
export async function focused(page: Page): Promise<{ id: string; text: string }> {
  return page.evaluate<{ id: string; text: string }>('({ id: document.activeElement?.id ?? "", text: document.activeElement?.textContent ?? "" })');
}

/**
 * The accessible description of the element that has the keyboard focus, as Chromium computes it
 * for screen readers (aria-describedby and the rest), through the DevTools protocol.
 */
export async function focusedDescription(page: Page): Promise<string> {
  const cdp = await page.context().newCDPSession(page);
  try {
    const { result } = await cdp.send('Runtime.evaluate', { expression: 'document.activeElement' });
    if (result.objectId === undefined) return '';
    const { nodes } = await cdp.send('Accessibility.getPartialAXTree', { objectId: result.objectId, fetchRelatives: false });
    const description = nodes[0]?.description?.value;
    return typeof description === 'string' ? description : '';
  } finally {
    await cdp.detach();
  }
}

/** Signs in through the sign-in page's password form, from wherever the page is. */
export async function signInWithPassword(page: Page, login: string, password: string, returnTo?: string): Promise<void> {
  await page.goto(returnTo === undefined ? '/sessions/new' : `/sessions/new?returnTo=${encodeURIComponent(returnTo)}`);
  await page.getByLabel('Login').fill(login);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForLoadState('load');
}

/** The provider name of the browser-test IdP: the sign-in button reads "Sign in with Test IdP". */
export const BROWSER_IDP_NAME = 'Test IdP';

/** Who the browser-test IdP says is signing in. */
export type IdpPerson = () => { readonly login: string; readonly attributes?: Record<string, string[]> };

/** A running browser-test IdP. */
export interface BrowserIdp {
  /** Its login URL, the `loginUrl` of the app's SAML configuration. */
  readonly loginUrl: string;
  /** Who signs in from now on. */
  person: IdpPerson;
  close(): Promise<void>;
}

/**
 * Starts an identity provider for browser tests on a free port of 127.0.0.1 and points the
 * app's SAML configuration at it (providerName "Test IdP"). Its login URL answers an
 * AuthnRequest as an IdP does, with a page whose "Continue to Roster" button (clicked by the
 * test; no script) posts a response for `person()`, signed with the key the test app trusts,
 * for the app's real ACS URL and entity ID.
 */
export async function startBrowserIdp(app: ServedApp, person: IdpPerson): Promise<BrowserIdp> {
  const port = await freePort();
  const loginUrl = `http://127.0.0.1:${port}/sso`;
  const idp: { person: IdpPerson } = { person };
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', loginUrl);
    const samlRequest = url.searchParams.get('SAMLRequest');
    if (url.pathname !== '/sso' || samlRequest === null) {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    const authnRequest = inflateRawSync(Buffer.from(samlRequest, 'base64')).toString('utf8');
    const requestId = /\sID="([^"]+)"/.exec(authnRequest)?.[1] ?? '';
    const { login, attributes } = idp.person();
    const xml = buildResponse({
      login,
      inResponseTo: requestId,
      destination: `${app.base}/saml/acs`,
      recipient: `${app.base}/saml/acs`,
      audience: `${app.base}/saml/metadata`,
      ...(attributes !== undefined ? { attributes } : {}),
    });
    const relayState = url.searchParams.get('RelayState');
    const field = (name: string, value: string) => `<input type="hidden" name="${name}" value="${value.replace(/&/g, '&amp;').replace(/"/g, '&quot;')}">`;
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(
      `<!DOCTYPE html><html lang="en"><head><title>Test IdP</title><link rel="icon" href="data:,"></head><body><main><h1>Test IdP</h1><form method="post" action="${app.base}/saml/acs">${field('SAMLResponse', Buffer.from(xml, 'utf8').toString('base64'))}${relayState === null ? '' : field('RelayState', relayState)}<button type="submit">Continue to Roster</button></form></main></body></html>`,
    );
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const configured = await app.services.saml.configure(
    { providerId: TEST_IDP.providerId, loginUrl, certificates: [testCertificate()], providerName: BROWSER_IDP_NAME },
    { kind: 'cli' },
  );
  assert.ok(configured.ok, 'the browser IdP configuration is valid');
  return {
    loginUrl,
    get person() {
      return idp.person;
    },
    set person(next: IdpPerson) {
      idp.person = next;
    },
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Saves a screenshot of the page as docs/images/console-<name>.png when ROSTER_SCREENSHOTS is
 * set (docs/console.md shows them); does nothing otherwise, so test runs leave the tree alone.
 */
export async function screenshot(page: Page, name: string): Promise<void> {
  if (!process.env['ROSTER_SCREENSHOTS']) return;
  const path = join(ROOT, 'docs/images', `console-${name}.png`);
  mkdirSync(dirname(path), { recursive: true });
  await page.setViewportSize({ width: 1200, height: 760 });
  await page.screenshot({ path, fullPage: false });
}
