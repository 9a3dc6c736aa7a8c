// Headless Chromium for the page tests (the Jepsen report, the live page,
// the simulator's viewer): Debian's /usr/bin/chromium driven by
// playwright-core, which downloads no browser of its own.

import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BrowserContext, Page } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";
export const haveChromium = existsSync(CHROMIUM);

/** Says once, for a test file, that its browser tests are skipped. */
export function warnIfNoChromium(testFile: string): void {
  if (!haveChromium) console.warn(`${testFile}: SKIPPING the browser test: ${CHROMIUM} is missing (install Debian's "chromium" package).`);
}

/**
 * A fresh headless browser with its own profile: Playwright takes the
 * --user-data-dir as launchPersistentContext's first argument (it refuses the
 * flag in `args`). Nothing that talks to the network on its own is left on.
 */
export async function launchChromium(viewport: { width: number; height: number }): Promise<{ browser: BrowserContext; tab: Page; close: () => Promise<void> }> {
  const { chromium } = await import("playwright-core");
  const profile = mkdtempSync(join(tmpdir(), "paxos-test-chromium-"));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const close = async () => {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
  };
  try {
    return { browser, tab: browser.pages()[0] ?? (await browser.newPage()), close };
  } catch (e) {
    await close();
    throw e;
  }
}

/** Collects a page's console errors and uncaught exceptions, and the requests `foreign` says leave where the page may go. */
export function watchPage(tab: Page, foreign: (url: string) => boolean): { errors: string[]; requests: string[] } {
  const errors: string[] = [];
  const requests: string[] = [];
  tab.on("console", (m) => {
    if (m.type() === "error") errors.push(`console: ${m.text()}`);
  });
  tab.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  tab.on("request", (r) => {
    if (foreign(r.url())) requests.push(r.url());
  });
  return { errors, requests };
}
