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
