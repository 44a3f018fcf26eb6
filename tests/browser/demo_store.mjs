// The demo store's backend path in headless Chromium:
//   node demo_store.mjs <store URL> <beacon path prefix> <screenshot dir>
// A visitor browses (Tier 2), creates an account (the store's backend opts
// them in), browses again (Tier 3), buys, and a marketplace order comes in.
// Prints the customer reference and each beacon's answer status.
import { launchAsChrome, run } from "./chromium.mjs";

const [store, beaconPrefix, shots] = process.argv.slice(2);
const out = { beacons: [] };
await run(out, launchAsChrome, async (browser) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  const isBeacon = (r) => new URL(r.url()).pathname.startsWith(beaconPrefix);
  page.on("response", (r) => { if (isBeacon(r)) out.beacons.push(r.status()); });
  async function view(url) {
    const beacon = page.waitForResponse(isBeacon);
    await page.goto(url);
    await beacon;
  }
  await view(store);
  await view(`${store}products/mug.html`);
  await page.goto(store);
  await Promise.all([page.waitForURL((u) => u.searchParams.has("welcome")), page.click("#register")]);
  out.customer = new URL(page.url()).searchParams.get("welcome");
  out.cookies = (await context.cookies()).map((c) => c.name).sort();
  await view(`${store}products/mug.html`);
  await view(store);
  await page.fill("input[name=zip]", "22031");
  await Promise.all([page.waitForURL((u) => u.searchParams.has("ordered")), page.click("#checkout")]);
  out.order = new URL(page.url()).searchParams.get("ordered");
  await Promise.all([page.waitForURL((u) => u.searchParams.has("marketplace")), page.click("#marketplace")]);
  await page.screenshot({ path: `${shots}/demo-store-account.png`, fullPage: true });
  // The browser's cookies, for the account-closing run (demo_store_close.mjs).
  out.jar = await context.cookies();
  // Leaving the page flushes the beacon's last batch.
  await page.goto("about:blank");
});
