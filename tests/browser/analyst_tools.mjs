// Drives the analyst's tools in headless Chromium:
//   node analyst_tools.mjs <base url> <user> <password> <screenshot dir> <annotation day>
// Logs in, makes a goal, an annotation and a segment through the pages'
// forms, sees them on the goals page, the overview chart and the filter
// bar, reads a view filtered by the goal, picks a custom period with the
// date fields, exports the goals' CSV, and prints one JSON object for the
// Rust test. Screenshots of each step go to the screenshot directory.
import { launch, logIn, run, watch } from "./chromium.mjs";
import fs from "node:fs";

const [base, user, password, shots, day] = process.argv.slice(2);
const out = { dialogs: [], console_errors: [], csp_violations: 0 };

const rows = (page, table) =>
  page.evaluate((t) => [...document.querySelectorAll(`section[data-table=${t}] tbody tr`)].map((r) => [...r.querySelectorAll("td")].map((td) => td.textContent.trim())), table);

await run(out, () => launch(), async (browser) => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  watch(page, out);
  await page.goto(`${base}/login`);
  await logIn(page, user, password);

  // An annotation, through the form on /annotations.
  await page.goto(`${base}/annotations`);
  await page.fill("#new-annotation input[name=day]", day);
  await page.fill("#new-annotation input[name=text]", "Holiday e-mail sent");
  await Promise.all([page.waitForNavigation(), page.click("#new-annotation button[type=submit]")]);
  out.annotations = await rows(page, "annotations");
  await page.screenshot({ path: `${shots}/analyst-annotations-desktop.png`, fullPage: true });

  // A goal, through the form on /goals.
  await page.goto(`${base}/goals?period=30d`);
  out.goals_before = await rows(page, "conversions");
  await page.fill("#new-goal input[name=name]", "Wishlist");
  await page.selectOption("#new-goal select[name=kind]", "event");
  await page.fill("#new-goal input[name=event]", "wishlist_add");
  await Promise.all([page.waitForNavigation(), page.click("#new-goal button[type=submit]")]);
  out.goal_page_url = page.url();
  out.goals_after = await rows(page, "conversions");
  out.custom_events = await rows(page, "custom_events");
  out.event_props = await rows(page, "event_props");
  out.goals_error = await page.locator("p.error").count();
  await page.screenshot({ path: `${shots}/analyst-goals-desktop.png`, fullPage: true });

  // The overview of the goal's visits: a click on its row (its cells were
  // drawn for the goals page, so this costs only the panels).
  const goalLink = page.locator("section[data-table=conversions] tbody tr td a", { hasText: "Wishlist" }).first();
  await Promise.all([page.waitForURL((u) => u.searchParams.getAll("f").some((f) => f.startsWith("goal:is:"))), goalLink.click()]);
  out.goal_filter_url = page.url();
  out.goal_filter_chips = await page.locator(".chips .chip").allTextContents();
  out.goal_filter_error = await page.locator("p.error").count();
  await page.screenshot({ path: `${shots}/analyst-goal-filtered-desktop.png`, fullPage: true });

  // The goals' CSV, as the browser downloads it.
  await page.goto(`${base}/goals?period=30d`);
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("section[data-table=conversions] a.export")]);
  out.csv_name = download.suggestedFilename();
  out.csv = fs.readFileSync(await download.path(), "utf8");

  // The overview: the annotation on the chart and under it.
  await page.goto(`${base}/?period=30d&compare=previous`);
  out.overview_annotations = await page.locator("ul.annotations li").allTextContents();
  out.chart_marked = await page.evaluate(() => (document.querySelector("svg.chart")?.outerHTML || "").toUpperCase().includes("#C26A00"));
  await page.screenshot({ path: `${shots}/analyst-overview-annotated-desktop.png`, fullPage: true });

  // A funnel, through the form on /funnels, walked at once.
  await page.goto(`${base}/funnels?period=30d`);
  out.default_funnel = await rows(page, "funnel");
  await page.fill("#new-funnel input[name=name]", "Product to purchase");
  await page.fill("#new-funnel input[name=window_minutes]", "120");
  await page.selectOption("#new-funnel select[name=step_kind_1]", "pageview");
  await page.fill("#new-funnel input[name=step_value_1]", "/store/products/*");
  await page.selectOption("#new-funnel select[name=step_kind_2]", "commerce");
  await page.fill("#new-funnel input[name=step_value_2]", "add_to_cart");
  await page.selectOption("#new-funnel select[name=step_kind_3]", "commerce");
  await page.fill("#new-funnel input[name=step_value_3]", "purchase");
  await Promise.all([page.waitForNavigation(), page.click("#new-funnel button[type=submit]")]);
  await Promise.all([page.waitForURL((u) => u.searchParams.get("funnel") === "Product to purchase"), page.locator("#manage-funnels p a", { hasText: "Product to purchase" }).click()]);
  out.funnel_url = page.url();
  out.funnel_title = (await page.locator("section[data-table=funnel] h2").textContent()).trim();
  out.funnel = await rows(page, "funnel");
  await page.screenshot({ path: `${shots}/analyst-funnel-desktop.png`, fullPage: true });

  // Revenue and conversion per source: the referrers with a goal's
  // columns, sorted by revenue.
  await page.goto(`${base}/report/referrers?period=30d`);
  await page.selectOption(".goalpicker select[name=goal]", "Order over $100");
  await Promise.all([page.waitForURL((u) => u.searchParams.get("goal") === "Order over $100"), page.click(".goalpicker button")]);
  await Promise.all([page.waitForURL((u) => (u.searchParams.get("sort") || "").startsWith("revenue")), page.click("section[data-table=referrers] th.col-revenue a")]);
  out.revenue_url = page.url();
  out.revenue_title = (await page.locator("section[data-table=referrers] h2").textContent()).trim();
  out.revenue_headers = await page.locator("section[data-table=referrers] th").allTextContents();
  out.revenue_rows = await rows(page, "referrers");
  await page.screenshot({ path: `${shots}/analyst-revenue-by-source-desktop.png`, fullPage: true });

  // A segment: filter, save, then apply it from an unfiltered page.
  await page.goto(`${base}/report/referrers?period=30d&f=utm_medium:is:cpc`);
  await page.click(".save-segment summary");
  await page.fill(".save-segment input[name=name]", "Paid search");
  await page.check(".save-segment input[name=shared]");
  await Promise.all([page.waitForNavigation(), page.click(".save-segment button[type=submit]")]);
  out.after_save_url = page.url();
  out.segment_chips = await page.locator(".segments a.chip").allTextContents();
  out.segment_current = await page.locator(".segments a.chip.current").allTextContents();
  await page.goto(`${base}/report/referrers?period=7d`);
  await Promise.all([page.waitForURL((u) => u.searchParams.getAll("f").length > 0), page.locator(".segments a.chip", { hasText: "Paid search" }).click()]);
  out.segment_applied_url = page.url();
  out.segment_applied_error = await page.locator("p.error").count();
  await page.screenshot({ path: `${shots}/analyst-segment-applied-desktop.png`, fullPage: true });
  await page.goto(`${base}/segments`);
  out.segments = await rows(page, "segments");

  // A custom period from the date fields.
  await page.goto(`${base}/?period=30d`);
  await page.fill(".daterange input[name=from]", day);
  await page.fill(".daterange input[name=to]", day);
  await Promise.all([page.waitForURL((u) => u.searchParams.get("period") === "custom"), page.click(".daterange button")]);
  out.custom_url = page.url();
  out.custom_span = (await page.locator("p.span").textContent()).trim();
  await page.screenshot({ path: `${shots}/analyst-custom-period-desktop.png`, fullPage: true });

  // An alert, through the form on /alerts; the scheduled report's form on /account.
  await page.goto(`${base}/alerts`);
  await page.fill("#new-alert input[name=name]", "Checkout broken");
  await page.selectOption("#new-alert select[name=kind]", "no_purchases");
  await page.fill("#new-alert input[name=threshold]", "3");
  await page.fill("#new-alert input[name=email]", "ops@store.example");
  await Promise.all([page.waitForNavigation(), page.click("#new-alert button[type=submit]")]);
  out.alerts = await rows(page, "alerts");
  await page.screenshot({ path: `${shots}/analyst-alerts-desktop.png`, fullPage: true });
  await page.goto(`${base}/account`);
  await page.screenshot({ path: `${shots}/analyst-account-desktop.png`, fullPage: true });

  // The same at phone width.
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 } });
  const p2 = await phone.newPage();
  await p2.goto(`${base}/login`);
  await logIn(p2, user, password);
  await p2.goto(`${base}/goals?period=30d`);
  await p2.screenshot({ path: `${shots}/analyst-goals-phone.png`, fullPage: true });
});
