// Drives the marketing (Tier 3) pages in headless Chromium:
//   node marketing.mjs <base url> <user> <password> <screenshot dir>
// Logs in, opens every marketing page (screenshots), sorts and pages the
// customer list, follows a customer link, watches for dialogs and CSP
// violations, and prints one JSON object for the Rust test.
import { launch, loggedInPage, run } from "./chromium.mjs";

const [base, user, password, shots] = process.argv.slice(2);
const VIEWS = ["/marketing", "/marketing/geography", "/marketing/segments", "/marketing/clusters"];
const out = { views: {}, dialogs: [], console_errors: [], csp_violations: 0 };

async function describe(page) {
  return page.evaluate(() => ({
    title: document.title,
    status: document.querySelector("h1")?.textContent || "",
    charts: document.querySelectorAll("svg.chart rect").length,
    tables: [...document.querySelectorAll("section.panel")].map((s) => ({
      name: s.getAttribute("data-table") || "",
      rows: s.querySelectorAll("tbody tr").length,
    })),
    customer_links: [...document.querySelectorAll("a[href^='/marketing/customers/']")].length,
    pager: document.querySelector(".pager span")?.textContent || "",
  }));
}

await run(out, () => launch(), async (browser) => {
  const page = await loggedInPage(browser, base, user, password, out);

  for (const view of VIEWS) {
    await page.goto(`${base}${view}`);
    await page.screenshot({ path: `${shots}/marketing-${view.split("/").pop()}-desktop.png`, fullPage: true });
    out.views[view] = await describe(page);
  }
  // Sort by lifetime orders, next page, then a customer.
  await page.goto(`${base}/marketing`);
  await Promise.all([page.waitForURL((u) => u.searchParams.get("sort") !== null), page.click("th.col-lifetime_orders a")]);
  out.sorted_url = page.url();
  const next = page.locator(".pager a", { hasText: "Next" });
  if (await next.count()) {
    await Promise.all([page.waitForURL((u) => u.searchParams.get("page") === "2"), next.click()]);
    out.page2 = await describe(page);
  }
  const link = page.locator("a[href^='/marketing/customers/']").first();
  out.customer = (await link.textContent()).trim();
  await Promise.all([page.waitForURL((u) => u.pathname.startsWith("/marketing/customers/")), link.click()]);
  await page.screenshot({ path: `${shots}/marketing-customer-desktop.png`, fullPage: true });
  out.customer_page = await describe(page);
  out.customer_lead = await page.locator("p.lead").textContent();
  // A phone-sized look at the customer list.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${base}/marketing`);
  await page.screenshot({ path: `${shots}/marketing-customers-phone.png`, fullPage: true });
});
