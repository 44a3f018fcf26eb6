// Drives the dashboards as an analyst in headless Chromium:
//   node dashboards.mjs <base url> <user> <password> <screenshot dir> <hostile text>
// Logs in through the form, opens every view at desktop and phone sizes
// (screenshots), checks what rendered (chart, cards, tables with rows),
// clicks a breakdown row to filter, removes the filter again, downloads a
// CSV export, watches for any dialog (a stored XSS that ran) and prints one
// JSON object for the Rust test.
import { launch, logIn, run, watch } from "./chromium.mjs";
import fs from "node:fs";

const [base, user, password, shots, hostile] = process.argv.slice(2);
const VIEWS = ["/", "/content", "/acquisition", "/audience", "/technology", "/commerce", "/realtime", "/report/site_search", "/account"];
const out = { views: {}, dialogs: [], console_errors: [], csp_violations: 0 };

async function describe(page) {
  return page.evaluate(() => ({
    title: document.title,
    status_error: !!document.querySelector("p.error"),
    cards: document.querySelectorAll(".metric-card").length,
    chart: !!document.querySelector("svg.chart polyline, svg.chart path"),
    tables: [...document.querySelectorAll("section.panel")].map((s) => ({
      name: s.getAttribute("data-table") || s.querySelector("h2")?.textContent || "",
      rows: s.querySelectorAll("tbody tr").length,
      empty: !!s.querySelector(".empty"),
    })),
    scripts_inline: [...document.querySelectorAll("script:not([src])")].length,
  }));
}

await run(out, () => launch(), async (browser) => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  watch(page, out);

  await page.goto(`${base}/login`);
  await page.screenshot({ path: `${shots}/dashboards-login-desktop.png` });
  await logIn(page, user, password);

  for (const view of VIEWS) {
    await page.goto(`${base}${view}${view.startsWith("/account") ? "" : "?period=30d&compare=previous"}`);
    if (view === "/realtime") {
      await page.waitForSelector("#realtime[data-loaded=true]", { timeout: 15000 });
    }
    const name = view === "/" ? "overview" : view.slice(1).replace(/\//g, "-");
    await page.screenshot({ path: `${shots}/dashboards-${name}-desktop.png`, fullPage: true });
    out.views[view] = await describe(page);
    out.views[view].body_has_raw_hostile = (await page.content()).includes(hostile);
  }

  // The hostile search term is shown as text, exactly.
  await page.goto(`${base}/report/site_search?period=30d`);
  out.hostile_shown_as_text = await page.evaluate((h) => [...document.querySelectorAll("td")].some((td) => td.textContent.trim() === h), hostile);

  // Click a row: the whole dashboard filters by it, and the URL says so.
  await page.goto(`${base}/audience?period=30d`);
  const row = page.locator("section[data-table=country] tbody tr:not(.folded) td a").first();
  out.filter_value = (await row.textContent()).trim();
  await Promise.all([page.waitForURL((u) => u.searchParams.getAll("f").length > 0), row.click()]);
  out.filtered_url = page.url();
  out.filtered = await describe(page);
  out.chips = await page.locator(".chip").count();
  await page.screenshot({ path: `${shots}/dashboards-filtered-desktop.png`, fullPage: true });
  // The filter bar: a second filter, typed.
  await page.selectOption("select[name=fd]", "device");
  await page.selectOption("select[name=fo]", "is_not");
  await page.fill("input[name=fv]", "tablet");
  await Promise.all([page.waitForURL((u) => u.searchParams.getAll("f").length === 2), page.click(".filterbar button")]);
  out.chips_after_bar = await page.locator(".chip").count();
  // Clear both.
  for (let i = 0; i < 2; i++) {
    await Promise.all([page.waitForNavigation(), page.locator(".chip a").first().click()]);
  }
  out.chips_after_clear = await page.locator(".chip").count();
  out.cleared_url = page.url();

  // CSV export of a table and of the time series, as the browser downloads them.
  await page.goto(`${base}/report/site_search?period=30d`);
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("a.export")]);
  out.csv_name = download.suggestedFilename();
  out.csv = fs.readFileSync(await download.path(), "utf8");
  await page.goto(`${base}/?period=30d`);
  const [series] = await Promise.all([page.waitForEvent("download"), page.click(".chart-card a.export")]);
  out.series_csv_lines = fs.readFileSync(await series.path(), "utf8").trim().split("\n").length;

  // The phone layout of the main views.
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  await phone.addCookies(await context.cookies());
  const p = await phone.newPage();
  for (const view of ["/", "/content", "/commerce", "/realtime"]) {
    await p.goto(`${base}${view}?period=30d&compare=previous`);
    if (view === "/realtime") await p.waitForSelector("#realtime[data-loaded=true]", { timeout: 15000 });
    const name = view === "/" ? "overview" : view.slice(1);
    await p.screenshot({ path: `${shots}/dashboards-${name}-phone.png`, fullPage: true });
  }
  out.phone_overflow = await p.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
});
