// Drives headless Chromium through one beacon scenario against the test
// store (tests/src/beacon_site.rs) and prints, as one JSON object, what the
// page saw: thrown errors, console messages, beacon states, return values.
// The Rust test then checks what the store's endpoint recorded.
//
// Usage: node beacon.mjs <store origin> <scenario>
// Scenarios: shop, outside, cookies_off, pagehide, retry.
import { launch, run } from "./chromium.mjs";

const [origin, scenario] = process.argv.slice(2);
const TIMEOUT = 20_000;
const out = { scenario, pageErrors: [], console: [], states: {}, values: {} };

// Polls the store's record until `cond(beacons)` holds: no fixed sleeps.
async function waitBeacons(what, cond) {
  const deadline = Date.now() + TIMEOUT;
  for (;;) {
    const beacons = await (await fetch(`${origin}/_test/beacons`)).json();
    if (cond(beacons)) return beacons;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(beacons).slice(0, 2000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
const events = (beacons) => beacons.flatMap((b) => (b && b.events) || []);
const has = (type, pred = () => true) => (beacons) => events(beacons).some((e) => e.type === type && pred(e));

async function visit(page, path, state = "started") {
  await page.goto(origin + path);
  await page.waitForSelector(`script[data-mintmark][data-mintmark-state="${state}"]`, { state: "attached" });
  out.states[path] = state;
}

const scenarios = {
  // Every event type, single-page navigation, hostile API input, clicks.
  async shop(page) {
    await visit(page, "/store/?utm_source=news&utm_campaign=fall&token=abc123#top");
    out.values.thrown = await page.evaluate(() => {
      const m = window.mintmark;
      m.productView({ sku: "MUG-1", price: 12.5, currency: "usd" });
      m.addToCart({ sku: "MUG-1", quantity: 2, price: 12.5 });
      m.removeFromCart({ sku: "MUG-1", quantity: 1 });
      m.checkoutStart({ value: 12.5, currency: "USD", items: [{ sku: "MUG-1", quantity: 1, price: 12.5 }] });
      m.purchase({
        value: 27.5, currency: "USD", order_id: "A-1001",
        items: [{ sku: "MUG-1", quantity: 2, price: 12.5 }, { sku: "LID-2", quantity: 1, price: 2.5 }],
      });
      m.track("newsletter_signup", {
        plan: "gold", step: 3, email: "jane@example.com", phone: "555-867-5309",
        note: "call me at +1 555 867 5309", name: "Jane Doe", ship_to: "742 Evergreen Terrace",
      });
      // Whatever a page might pass: nothing may throw.
      const cyclic = { a: 1 };
      cyclic.self = cyclic;
      cyclic.items = [cyclic, cyclic];
      const hostile = [
        () => m.track(cyclic, cyclic),
        () => m.track("huge", { s: "x".repeat(5e6) }),
        () => m.track("x".repeat(1e6)),
        () => m.purchase(null),
        () => m.purchase(undefined),
        () => m.track(),
        () => m.track(Symbol("s"), { [Symbol("k")]: 1 }),
        () => m.track("getter", { get boom() { throw new Error("boom"); } }),
        () => m.track("proxy", new Proxy({}, { ownKeys() { throw new Error("trap"); } })),
        () => m.addToCart(42),
        () => m.purchase({ items: "nope", value: "12" }),
        () => m.track("numbers", { nan: NaN, inf: Infinity, zero: -0, big: 1e21 }),
        () => m.track("not an object", "x".repeat(1e6)),
      ];
      let thrown = 0;
      for (const f of hostile) {
        try { f(); } catch { thrown++; }
      }
      return thrown;
    });
    // Single-page navigation: a new page, a state update, back.
    await page.evaluate(() => { history.pushState({}, "", "/store/cart"); document.title = "Cart"; });
    await waitBeacons("the SPA pageview", has("pageview", (e) => e.url.endsWith("/store/cart")));
    await page.evaluate(() => history.replaceState({ step: 2 }, "", "/store/cart"));
    await page.evaluate(() => history.back());
    await waitBeacons("the pageview after back", (b) => events(b).filter((e) => e.type === "pageview").length >= 3);
    // A search results page, then clicks. The page's own handler keeps the
    // download and mailto clicks from navigating; the beacon still sees them.
    await visit(page, "/store/search?q=blue+mug");
    await page.evaluate(() => addEventListener("click", (e) => e.target.closest("#outbound") || e.preventDefault()));
    await page.click("#download");
    await page.click("#mail");
    await page.click("#inside-span");
    await page.route("https://partner.example/**", (r) => r.fulfill({ contentType: "text/html", body: "<title>partner</title>" }));
    await page.click("#outbound");
    await page.waitForURL("https://partner.example/**");
    await waitBeacons("the outbound click", has("outbound"));
  },

  // Outside the store: no Wasm, no beacon; the API exists and does nothing.
  async outside(page) {
    await visit(page, "/about/", "off");
    out.values.apiType = await page.evaluate(() => {
      window.mintmark.purchase({ value: 1, currency: "USD" });
      window.mintmark.track("outside", { a: 1 });
      return typeof window.mintmark.purchase;
    });
    // The next store page's view proves the beacon had every chance to send.
    await visit(page, "/store/");
    await page.evaluate(() => window.mintmark.track("inside"));
    await page.goto(origin + "/blog/");
    await waitBeacons("the store page's events", has("custom"));
  },

  async cookies_off(page) {
    const cdp = await page.context().newCDPSession(page);
    await cdp.send("Emulation.setDocumentCookieDisabled", { disabled: true });
    await visit(page, "/store/");
    out.values.cookieEnabled = await page.evaluate(() => navigator.cookieEnabled);
    await waitBeacons("a pageview", has("pageview"));
  },

  // Events queued right before leaving still arrive (sendBeacon on pagehide),
  // and so do events queued before the tab is hidden.
  async pagehide(page) {
    await visit(page, "/store/");
    await page.evaluate(() => {
      for (const step of [1, 2, 3]) window.mintmark.track("before_leaving", { step });
      location.href = "/store/next";
    });
    await waitBeacons("the events queued before leaving", (b) => events(b).filter((e) => e.type === "custom").length >= 3);
    await page.waitForSelector(`script[data-mintmark][data-mintmark-state="started"]`, { state: "attached" });
    await page.evaluate(() => {
      window.mintmark.track("before_hiding");
      Object.defineProperty(document, "visibilityState", { value: "hidden", configurable: true });
      document.dispatchEvent(new Event("visibilitychange"));
    });
    await waitBeacons("the event queued before hiding", has("custom", (e) => e.target === "before_hiding"));
  },

  // The endpoint fails twice (the test scripts 503s); the batch is retried.
  async retry(page) {
    await visit(page, "/store/");
    await page.evaluate(() => window.mintmark.track("retried"));
    await waitBeacons("a third attempt", (b) => b.length >= 3);
  },
};

await run(out, launch, async (browser) => {
  const page = await (await browser.newContext()).newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on("pageerror", (e) => out.pageErrors.push(String(e)));
  page.on("console", (m) => out.console.push({ type: m.type(), text: m.text(), page: page.url() }));
  await scenarios[scenario](page);
});
