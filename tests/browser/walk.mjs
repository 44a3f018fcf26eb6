// Drives headless Chromium through the demo store for the end-to-end tests
// and prints, as one JSON object on stdout, what the browser saw.
//
// Usage: node walk.mjs <store page URL> <out-of-scope page URL> <beacon path prefix>
// The visit: store page → page outside the store → store page again.
import { chromium } from "playwright-core";

const [storeUrl, outsideUrl, beaconPrefix] = process.argv.slice(2);
const TIMEOUT = 20_000;
const result = { beacons: [], pages: [] };
let browser = null;
try {
  // Playwright gives every launch a fresh, throwaway profile.
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
           "--no-first-run", "--disable-sync", "--disable-quic"],
  });
  // The edge drops headless browsers as bots; browse as the Chrome it is.
  const ua = (await browser.newPage().then(async (p) => { const u = await p.evaluate(() => navigator.userAgent); await p.close(); return u; }))
    .replace("HeadlessChrome", "Chrome");
  const context = await browser.newContext({ userAgent: ua });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  const isBeacon = (url) => new URL(url).pathname.startsWith(beaconPrefix);

  // Every request the page makes, grouped by the page being shown.
  let current = null;
  page.on("request", (req) => current && current.requests.push({ url: req.url(), method: req.method() }));

  // Loads `url`, waits for the beacon to have run, returns the beacon
  // response when `expectBeacon`.
  async function visit(url, expectBeacon) {
    current = { url, requests: [] };
    result.pages.push(current);
    const beacon = expectBeacon ? page.waitForResponse((r) => isBeacon(r.url())) : null;
    await page.goto(url);
    await page.waitForSelector("script[data-mintmark][data-mintmark-state]", { state: "attached" });
    current.beaconState = await page.getAttribute("script[data-mintmark]", "data-mintmark-state");
    if (beacon) {
      const resp = await beacon;
      result.beacons.push({
        page: url,
        status: resp.status(),
        body: resp.request().postData(),
        sentCookie: (await resp.request().allHeaders())["cookie"] || null,
        setCookie: (await resp.headerValue("set-cookie")) || null,
      });
    }
  }

  await visit(storeUrl, true);
  await visit(outsideUrl, false);
  await visit(storeUrl, true);
  result.cookies = await context.cookies();
} catch (e) {
  result.error = String(e && e.stack || e);
} finally {
  if (browser) await browser.close();
}
process.stdout.write(JSON.stringify(result));
process.exit(result.error ? 1 : 0);
