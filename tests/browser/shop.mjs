// A shopper on the demo store, for the end-to-end commerce test: lands on
// the mug page from a campaign link, adds it to the cart, buys it, then goes
// back to the store front (which flushes the mug page's queue on pagehide).
// Prints what the browser saw as one JSON object.
//
// Usage: node shop.mjs <store URL> <beacon path prefix>
import { chromium } from "playwright-core";

const [storeUrl, beaconPrefix] = process.argv.slice(2);
const TIMEOUT = 20_000;
const out = { beacons: [], pageErrors: [] };
let browser = null;
try {
  const launch = (args = []) => chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
      "--no-first-run", "--disable-sync", "--disable-quic", ...args],
  });
  // The edge drops headless browsers as bots; browse as the Chrome it is.
  // Browser-wide (not per context): sendBeacon on pagehide is sent by the
  // browser after the page is gone, with the browser's own user agent.
  browser = await launch();
  const probe = await browser.newPage();
  const ua = (await probe.evaluate(() => navigator.userAgent)).replace("HeadlessChrome", "Chrome");
  await browser.close();
  browser = await launch([`--user-agent=${ua}`]);
  const page = await browser.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on("pageerror", (e) => out.pageErrors.push(String(e)));
  page.on("response", (r) => new URL(r.url()).pathname.startsWith(beaconPrefix) &&
    out.beacons.push({ status: r.status(), body: r.request().postData() }));
  const started = () => page.waitForSelector('script[data-mintmark][data-mintmark-state="started"]', { state: "attached" });

  await page.goto(new URL("products/mug.html?utm_source=news&utm_campaign=fall+sale", storeUrl).href);
  await started();
  await page.click("#add-to-cart");
  await page.click("#buy");
  await page.waitForSelector("text=Thank you for your order");
  const front = page.waitForResponse((r) => new URL(r.url()).pathname.startsWith(beaconPrefix) &&
    (r.request().postData() || "").includes('"url":"' + storeUrl.replace(/\/$/, "") + '/"'));
  await page.goto(storeUrl);
  await started();
  await front;
} catch (e) {
  out.error = String((e && e.stack) || e);
} finally {
  if (browser) await browser.close();
}
process.stdout.write(JSON.stringify(out));
process.exit(out.error ? 1 : 0);
