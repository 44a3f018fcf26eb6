// Drives headless Chromium through the demo store for the end-to-end tests
// and prints, as one JSON object on stdout, what the browser saw.
//
// Usage: node walk.mjs <store page URL> <out-of-scope page URL> <beacon path prefix>
// The visit: store page → page outside the store → store page again.
import { launchAsChrome, run } from "./chromium.mjs";

const [storeUrl, outsideUrl, beaconPrefix] = process.argv.slice(2);
const TIMEOUT = 20_000;
const result = { beacons: [], pages: [] };
// Playwright gives every launch a fresh, throwaway profile.
await run(result, launchAsChrome, async (browser) => {
  const context = await browser.newContext();
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
});
