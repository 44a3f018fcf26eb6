// Logs in to the dashboards through the real form with hostile `next`
// values and reports where Chromium ends up:
//   node login_redirect.mjs <base url> <user> <password> <next>...
// Requests to any other origin are blocked and recorded, so a redirect
// that would leave the site shows up as an off-site request.
import { launch, run } from "./chromium.mjs";

const [base, user, password, ...nexts] = process.argv.slice(2);
const out = { landed: [] };
const origin = new URL(base).origin;

await run(out, () => launch(), async (browser) => {
  for (const next of nexts) {
    const context = await browser.newContext();
    const offsite = [];
    await context.route("**/*", (route) => {
      const url = route.request().url();
      if (new URL(url).origin === origin) return route.continue();
      offsite.push(url);
      return route.abort();
    });
    const page = await context.newPage();
    await page.goto(`${base}/login?next=${encodeURIComponent(next)}`);
    await page.fill("#name", user);
    await page.fill("#password", password);
    await Promise.all([
      page.waitForURL((u) => !u.href.startsWith(`${origin}/login`), { timeout: 15000 }).catch(() => {}),
      page.click("button[type=submit]"),
    ]);
    await page.waitForLoadState("load").catch(() => {});
    const url = new URL(page.url());
    out.landed.push({ next, origin: url.origin, path: url.pathname + url.search, offsite });
    await context.close();
  }
});
