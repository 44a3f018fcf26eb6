// A shopper on the demo store while the collector is away, for the edge
// durability tests: lands on the mug page from a campaign link, adds it to
// the cart, buys it, goes back to the store front (the mug page's queue
// leaves on pagehide), queues events there and leaves for a page outside the
// store, so the last batch goes with sendBeacon on pagehide. Prints every
// beacon request the browser made with the edge's answer (as the demo
// front, which stands in for the platform, saw them).
//
// Usage: node outage.mjs <store URL> <out-of-scope URL> <beacon path prefix>
import { launchAsChrome, run } from "./chromium.mjs";

const [storeUrl, outsideUrl, beaconPrefix] = process.argv.slice(2);
const TIMEOUT = 20_000;
const out = { beacons: [], pageErrors: [] };
await run(out, launchAsChrome, async (browser) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on("pageerror", (e) => out.pageErrors.push(String(e)));
  // The browser's own tooling does not report a sendBeacon from a page
  // being left; the demo front (the platform's part) remembers every beacon.
  const record = async () => (out.beacons = await (await fetch(new URL("/_demo/beacons", storeUrl))).json());
  const started = () => page.waitForSelector('script[data-mintmark][data-mintmark-state="started"]', { state: "attached" });
  const sent = (marker) => out.beacons.some((b) => (b.body || "").includes(marker));
  async function until(what, cond) {
    const deadline = Date.now() + TIMEOUT;
    while ((await record(), !cond())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(out.beacons).slice(0, 2000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  await page.goto(new URL("products/mug.html?utm_source=news&utm_campaign=outage", storeUrl).href);
  await started();
  await page.click("#add-to-cart");
  await page.click("#buy");
  await page.waitForSelector("text=Thank you for your order");
  await page.goto(storeUrl);
  await started();
  await until("the store front's pageview", () => sent('"url":"' + storeUrl.replace(/\/$/, "") + '/"'));
  // Queued, then the page is left at once: these go on pagehide.
  await page.evaluate(() => {
    for (const step of [1, 2, 3]) window.mintmark.track("leaving_during_outage", { step });
  });
  await page.goto(outsideUrl);
  await until("the batch sent on pagehide", () => sent("leaving_during_outage"));
});
