// The customer of demo_store.mjs closes their account in headless Chromium:
//   node demo_store_close.mjs <store URL> <beacon path prefix> <screenshot dir> <cookie jar JSON> <consent cookie name>
// With the browser's cookies from that run, the customer clicks "Close my
// account" (the store's backend asks for erasure and forgets its cookies),
// then comes back with the old consent cookie (a stale tab, or someone who
// kept it) and views a product. Prints the cookie names after each step
// and each beacon's answer status.
import { launchAsChrome, run } from "./chromium.mjs";

const [store, beaconPrefix, shots, jar, consentName] = process.argv.slice(2);
const out = { beacons: [] };
await run(out, launchAsChrome, async (browser) => {
  const context = await browser.newContext();
  await context.addCookies(JSON.parse(jar));
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  const isBeacon = (r) => new URL(r.url()).pathname.startsWith(beaconPrefix);
  page.on("response", (r) => { if (isBeacon(r)) out.beacons.push(r.status()); });
  const names = async () => (await context.cookies()).map((c) => c.name).sort();
  const kept = (await context.cookies()).filter((c) => c.name === consentName);
  await page.goto(store);
  await Promise.all([page.waitForURL((u) => u.searchParams.has("closed")), page.click("#close-account")]);
  out.after_close = await names();
  await context.addCookies(kept);
  const beacon = page.waitForResponse(isBeacon);
  await page.goto(`${store}products/mug.html`);
  const answer = await beacon;
  out.stale_token_set_cookie = (await answer.headersArray()).filter((h) => h.name.toLowerCase() === "set-cookie").map((h) => h.value);
  out.after_stale_token = await names();
  await page.screenshot({ path: `${shots}/demo-store-closed.png`, fullPage: true });
  await page.goto("about:blank");
});
