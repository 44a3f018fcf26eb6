// A shopper on the demo store, for the end-to-end commerce test: lands on
// the mug page from a campaign link, adds it to the cart, buys it, then goes
// back to the store front (which flushes the mug page's queue on pagehide).
// Prints what the browser saw as one JSON object.
//
// Usage: node shop.mjs <store URL> <beacon path prefix>
import { launchAsChrome, run } from "./chromium.mjs";

const [storeUrl, beaconPrefix] = process.argv.slice(2);
const TIMEOUT = 20_000;
const out = { beacons: [], pageErrors: [] };
await run(out, launchAsChrome, async (browser) => {
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
});
