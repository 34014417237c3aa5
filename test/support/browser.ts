import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { REPO_ROOT } from '@familiar/config';

/** The page's own global inside page.evaluate (the project compiles without the DOM library). */
declare const document: any;

/** Debian's Chromium: the browser cannot be downloaded here, so playwright-core drives the system one. */
export const CHROMIUM = '/usr/bin/chromium';
export const HAVE_CHROMIUM = existsSync(CHROMIUM);
/** Screenshots are kept as test artifacts (git-ignored). */
const ARTIFACTS = path.join(REPO_ROOT, 'test', 'artifacts', 'console');

/** Says on stderr why a browser suite is skipped, so a missing package does not pass unnoticed. */
export function reportIfNoChromium(suite: string): void {
  if (!HAVE_CHROMIUM) process.stderr.write(`${suite}: skipped, ${CHROMIUM} is absent (apt-get install -y --no-install-recommends chromium)\n`);
}

/** Waits for the page to get there: the server and the browser take their time on a busy 2-core machine. */
export const poll = <T>(fn: () => Promise<T>) => expect.poll(fn, { timeout: 15_000 });

/** Headless Chromium with a throw-away profile; collects every page error and console error of its pages. */
export class HeadlessBrowser {
  /** A CSP violation, a failed module load or an uncaught exception on any page shows up here. */
  readonly problems: string[] = [];
  readonly #context: BrowserContext;
  readonly #userDataDir: string;

  private constructor(context: BrowserContext, userDataDir: string) {
    this.#context = context;
    this.#userDataDir = userDataDir;
  }

  /** `extraArgs`: more Chromium switches (e.g. --host-resolver-rules to reach loopback under another name). */
  static async launch(extraArgs: string[] = []): Promise<HeadlessBrowser> {
    mkdirSync(ARTIFACTS, { recursive: true });
    const userDataDir = mkdtempSync(path.join(tmpdir(), 'familiar-chromium-'));
    const context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', ...extraArgs],
      viewport: { width: 1280, height: 900 },
    });
    return new HeadlessBrowser(context, userDataDir);
  }

  async newPage(): Promise<Page> {
    const page = await this.#context.newPage();
    page.on('pageerror', (err) => this.problems.push(`pageerror: ${err.message}`));
    page.on('console', (msg) => {
      if (msg.type() === 'error') this.problems.push(`console: ${msg.text()}`);
    });
    return page;
  }

  async close(): Promise<void> {
    await this.#context.close();
    rmSync(this.#userDataDir, { recursive: true, force: true });
  }
}

export async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** The console's address (http://host:port/) for a dialogue server's ws://host:port/ws. */
export function consoleBase(wsUrl: string): string {
  return wsUrl.replace('ws://', 'http://').replace(/\/ws$/, '/');
}

/** Ids of the form controls matching `selector` that have neither a label nor an aria-label. */
export function unlabelledControls(page: Page, selector = 'input, select, textarea'): Promise<string[]> {
  return page.evaluate(
    (selector) =>
      [...document.querySelectorAll(selector)].filter((el: any) => el.labels?.length === 0 && !el.getAttribute('aria-label')).map((el: any) => el.id as string),
    selector,
  );
}

/** Signs in on the console at `base`; a refused token fails with the console's own error text. */
export async function signIn(page: Page, base: string, token: string): Promise<void> {
  await page.goto(base);
  await page.getByLabel('Access token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#nav').waitFor({ timeout: 10_000 }).catch(async (err) => {
    throw new Error(`not signed in: ${await page.locator('#login-error').textContent()}`, { cause: err });
  });
}

/**
 * Sends one command from inside the page over a WebSocket of its own, as a hand-written client could (the
 * console hides controls; this shows the server refuses anyway). Resolves with 'ok' or the error code.
 */
export function commandFromPage(page: Page, url: string, token: string, command: Record<string, unknown>): Promise<string> {
  return page.evaluate(
    ({ url, token, command }) =>
      new Promise<string>((resolve) => {
        const ws = new WebSocket(url);
        ws.onmessage = (e) => {
          const m = JSON.parse(String(e.data));
          if (m.type === 'auth_required') ws.send(JSON.stringify({ type: 'auth', access_token: token }));
          else if (m.type === 'auth_ok') ws.send(JSON.stringify({ id: 1, ...command }));
          else if (m.type === 'result') {
            resolve(m.success ? 'ok' : m.error.code);
            ws.close();
          }
        };
      }),
    { url, token, command },
  );
}
