// Shared by the browser drivers: Chromium started the way the tests need
// it, and the one JSON object each driver prints for its Rust test.
import { chromium } from "playwright-core";

const ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
  "--no-first-run", "--disable-sync", "--disable-quic"];

export const launch = (args = []) =>
  chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: [...ARGS, ...args] });

// Chromium that calls itself Chrome: the edge drops headless browsers as
// bots. Browser-wide (`--user-agent`), not per context, because sendBeacon
// on pagehide is sent after the page is gone, with the browser's own agent.
export async function launchAsChrome() {
  const probe = await launch();
  const ua = (await (await probe.newPage()).evaluate(() => navigator.userAgent)).replace("HeadlessChrome", "Chrome");
  await probe.close();
  return launch([`--user-agent=${ua}`]);
}

// Starts a browser with `start`, runs `drive(browser)`, closes it, prints
// `out` (with `error` when something failed) and exits accordingly.
export async function run(out, start, drive) {
  let browser = null;
  try {
    browser = await start();
    await drive(browser);
  } catch (e) {
    out.error = String((e && e.stack) || e);
  } finally {
    if (browser) await browser.close();
  }
  process.stdout.write(JSON.stringify(out));
  process.exit(out.error ? 1 : 0);
}

// Records what a dashboards page should never do into `out` (dialogs: a
// stored XSS that ran; console errors; CSP violations).
export function watch(page, out) {
  page.on("dialog", async (d) => { out.dialogs.push(d.message()); await d.dismiss(); });
  page.on("console", (m) => {
    if (m.type() === "error") out.console_errors.push(m.text());
    if (m.text().includes("Content Security Policy")) out.csp_violations += 1;
  });
}

// Fills the dashboards' login form on the current page and waits to leave it.
export async function logIn(page, user, password) {
  await page.fill("#name", user);
  await page.fill("#password", password);
  await Promise.all([page.waitForURL((u) => !u.pathname.startsWith("/login")), page.click("button[type=submit]")]);
}

// A desktop-sized page, watched (see `watch`), logged in to the dashboards at `base`.
export async function loggedInPage(browser, base, user, password, out) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  watch(page, out);
  await page.goto(`${base}/login`);
  await logIn(page, user, password);
  return page;
}
