/// <reference lib="dom" />
/**
 * Debian's Chromium for the browser tests, driven by playwright-core (never a
 * downloaded browser), started as this machine needs: no sandbox as root, no
 * GPU, and none of Chromium's own network chatter (the machine's network is closed).
 */
import { type Browser, chromium, type Page } from "./deps.ts";

export type { Browser, Page } from "./deps.ts";

const CHROMIUM = "/usr/bin/chromium";
const ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-dev-shm-usage",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

/** A headless Chromium; close it when done. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
}

/** Collects the page's console errors and uncaught exceptions into `errors`. */
export function watchErrors(page: Page, errors: string[]): void {
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(String(e)));
}

/** How far the page scrolls sideways (0 when it does not). */
export function sidewaysScroll(page: Page): Promise<number> {
  return page.evaluate(() => document.documentElement.scrollWidth - innerWidth);
}
