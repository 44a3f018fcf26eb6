// Drives the privacy officer's pages in headless Chromium:
//   node privacy.mjs <base url> <user> <password> <screenshot dir> <customer>
// Logs in (landing on /privacy), opens every privacy page and the
// customer's page (screenshots), runs the invariant report from its
// button, watches for dialogs and CSP violations, and prints one JSON
// object for the Rust test.
import { launch, loggedInPage, run } from "./chromium.mjs";

const [base, user, password, shots, customer] = process.argv.slice(2);
const VIEWS = ["/privacy", "/privacy/consent", "/privacy/purges", "/privacy/audit", `/privacy/customers/${encodeURIComponent(customer)}`, "/notice"];
const out = { landed: "", views: {}, dialogs: [], console_errors: [], csp_violations: 0 };

async function describe(page) {
  return page.evaluate(() => ({
    title: document.querySelector("h1")?.textContent || "",
    checks: [...document.querySelectorAll(".check-list li")].map((li) => ({ ok: li.classList.contains("pass"), what: li.querySelector("a")?.textContent || "" })),
    chain: document.querySelector(".chain h2")?.textContent || "",
    tables: [...document.querySelectorAll("section.panel")].map((s) => ({ name: s.getAttribute("data-table") || "", rows: s.querySelectorAll("tbody tr").length })),
    export_form: !!document.querySelector("form[action$='/export'] input[type=password]"),
    nav: [...document.querySelectorAll("nav.sections a")].map((a) => a.getAttribute("href")),
  }));
}

await run(out, () => launch(), async (browser) => {
  const page = await loggedInPage(browser, base, user, password, out);
  out.landed = new URL(page.url()).pathname;
  await Promise.all([page.waitForURL((u) => u.pathname === "/privacy"), page.click(".checks button[type=submit]")]);
  for (const view of VIEWS) {
    await page.goto(`${base}${view}`);
    const name = view === "/notice" ? "notice" : view.startsWith("/privacy/customers/") ? "customer" : view.split("/").pop();
    await page.screenshot({ path: `${shots}/privacy-${name}-desktop.png`, fullPage: true });
    out.views[view.startsWith("/privacy/customers/") ? "customer" : view] = await describe(page);
  }
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${base}/privacy`);
  await page.screenshot({ path: `${shots}/privacy-privacy-phone.png`, fullPage: true });
});
