// The release layer as an analyst sees it, in headless Chromium:
//   node release.mjs <base url> <user> <password> <screenshot dir> <filtered query>
// Opens the unfiltered overview and a filtered one (screenshots of both),
// and reports what the page says: the budget line, the ± on the cards and
// cells, the "fewer than" cells, a refusal if any.
import { launch, loggedInPage, run } from "./chromium.mjs";

const [base, user, password, shots, filtered] = process.argv.slice(2);
const out = { pages: {}, dialogs: [], console_errors: [], csp_violations: 0 };

const describe = (page) =>
  page.evaluate(() => ({
    status_error: !!document.querySelector("p.error"),
    budget: document.querySelector("#budget")?.textContent || "",
    refused: document.querySelector("#refused")?.textContent || "",
    cards: [...document.querySelectorAll(".metric-card .metric")].map((m) => ({ text: m.textContent, hint: m.getAttribute("title") || "" })),
    noisy_cells: document.querySelectorAll("td.noisy").length,
    noisy_without_hint: [...document.querySelectorAll("td.noisy")].filter((td) => !td.getAttribute("title")).length,
    suppressed_cells: [...document.querySelectorAll("td.noisy")].filter((td) => td.textContent.startsWith("<")).length,
    notes: [...document.querySelectorAll("p.note")].map((n) => n.textContent),
    chart: !!document.querySelector("svg.chart"),
  }));

await run(out, () => launch(), async (browser) => {
  const page = await loggedInPage(browser, base, user, password, out);
  for (const [name, query] of [["overview", "period=30d"], ["filtered", filtered]]) {
    const resp = await page.goto(`${base}/?${query}`);
    out.pages[name] = { status: resp.status(), ...(await describe(page)) };
    await page.screenshot({ path: `${shots}/release-${name}.png`, fullPage: true });
  }
  const resp = await page.goto(`${base}/content?${filtered}`);
  out.pages.content = { status: resp.status(), ...(await describe(page)) };
  await page.screenshot({ path: `${shots}/release-filtered-content.png`, fullPage: true });
});
