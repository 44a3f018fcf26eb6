//! The store's public M-10-22 notice, written from the live config: the
//! cookie names and lifetimes, the store scope, the session idle time and
//! every retention period are the ones this deployment runs with, so the
//! notice cannot drift from what the system does.
//!
//! One source: the notice is Markdown ([`markdown`]); the HTML page is
//! that Markdown rendered, with any raw HTML in it shown as text.

use mintmark_config::Config;
use pulldown_cmark::{html, Event, Options, Parser};

/// Every ASCII punctuation character backslash-escaped: a config value is
/// text in the notice, never Markdown or HTML.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii_punctuation() {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A value as a code span: literal inside, whatever it holds (a backtick
/// would end the span, so none is kept).
fn code(s: &str) -> String {
    format!("`{}`", s.replace('`', ""))
}

fn years(days: u32) -> String {
    let y = (f64::from(days) / 365.25).round();
    if y >= 1.0 && (f64::from(days) - y * 365.25).abs() <= 3.0 {
        format!("{days} days (about {y} year{})", if y == 1.0 { "" } else { "s" })
    } else {
        format!("{days} days")
    }
}

/// The notice as Markdown.
pub fn markdown(c: &Config) -> String {
    let name = esc(&c.store.name);
    let scope: Vec<String> = c
        .store
        .origins
        .iter()
        .flat_map(|o| c.store.path_prefixes.iter().map(move |p| code(&format!("{o}{p}"))))
        .collect();
    let e = &c.edge;
    let r = &c.retention;
    let contact = if c.store.privacy_contact.is_empty() {
        "the store's privacy office".to_string()
    } else {
        format!("the store's privacy office ({})", esc(&c.store.privacy_contact))
    };
    format!(
        "# Privacy notice: web measurement on {name}\n\n\
_This notice is generated from the measurement system's live configuration; the cookie names, lifetimes, scope and \
retention periods below are the ones in force._\n\n\
## Purpose\n\n\
We measure how visitors use {name} to make it easier to use, to see which products and pages work, and, for customers who \
opt in, to recognise them across visits and suggest products. We follow OMB Memorandum M-10-22 (Guidance for Online Use of \
Web Measurement and Customization Technologies).\n\n\
## Where measurement happens\n\n\
Only on the store's own pages: {scope}. Nothing is measured anywhere else: not on other parts of the website, not on \
other sites. Leaving the store ends the measured session.\n\n\
## What is collected, by kind of visitor\n\n\
| Visitor | Tier (M-10-22) | Technology | What is kept |\n\
|---|---|---|---|\n\
| Browser with cookies disabled | Tier 1, single page | none | Page events counted in totals only; IP address shortened (IPv4 to its first three octets, IPv6 to /48) |\n\
| Every visitor, by default | Tier 2, multi-session without personal data | session cookie {session} (deleted when the browser closes; a new one after {idle} minutes without activity or on entering from outside the store) | Pages, downloads, site searches, referring site and campaign, region and network from the shortened IP address, device, browser, screen, language, time zone; product views, cart and purchase values, no order number |\n\
| Customers who opted in | Tier 3, multi-session with personal data | persistent cookie {visitor} ({visitor_days} days) and the store's consent cookie {consent} ({consent_days} days) | The same events linked to your customer account, with the full IP address, and your orders with order number, state and ZIP code |\n\n\
Never collected: your name, e-mail address, postal address or phone number from the pages; nothing from before you opted in \
is ever linked to you.\n\n\
## How the information is used\n\n\
Tier 2 data is used only as totals and averages (for example, how many visits a page had), and every number shown to \
staff is released with differential privacy: it carries random noise large enough that no number, and no combination of \
numbers, tells whether any one visit happened. Each day's numbers are released once, with ε = {meps} for a day of the store's \
whole-store metrics, ε = {eps} for each other standard view and ε = {aeps} for each filtered question; each analyst may spend at most ε = {abudget} per day of data, and the \
standard views at most ε = {sbudget}. A group (a page, a search term, a network) is shown only when enough visits had it that \
one visit more or less could change whether it shows with a chance below δ = {delta}. The less ε, the more noise and the \
stronger the protection. Tier 3 data is used by the store's marketing staff to see your orders and interests, \
group customers with similar buying patterns and suggest products. Every look at Tier 3 data is recorded in an access audit \
that the privacy office reviews.\n\n\
## Disclosure\n\n\
The information is not shared with other agencies, sold or given to third parties. It is not combined with information \
from outside the store.\n\n\
## Safeguards\n\n\
Measurement data is collected by first-party services on the store's own address. Data that could identify you is kept \
apart from the anonymous data, and the two share no identifier. Access is limited by role and every access to \
identified data is logged in a tamper-evident audit. Stored identifiers are keyed hashes.\n\n\
## Retention\n\n\
| Data | Kept for |\n\
|---|---|\n\
| Anonymous page events | {t2e} |\n\
| Anonymous totals and visit summaries | {t2r} |\n\
| Identified browsing (Tier 3) | {t3e} |\n\
| Identified orders (Tier 3) | {t3o} |\n\
| Anonymous and marketplace orders | {t2o} |\n\
| Consent records | {cl} |\n\
| Access audit | {aa} |\n\
| Purge records (proof of deletion, without your identity) | {pl} |\n\n\
Data past its period is deleted automatically, and each deletion is recorded.\n\n\
## Enabled by default or not, and why\n\n\
Tier 2 measurement is on by default: it holds no personal data and cannot identify you. Tier 3 measurement is off until \
you opt in, when you register, buy, or subscribe to e-mail and agree to it; you are told at that moment that your browsing \
and purchases will be linked to your account.\n\n\
## How to opt out\n\n\
- Withdraw your opt-in in your account settings: Tier 3 measurement stops with your next page view, and the persistent \
cookie is deleted.\n\
- Close your account to have your identified data erased; only anonymous data that was never linked to you remains.\n\
- Disable cookies in your browser: you are then counted only as anonymous page views.\n\
- Ask {contact} for a copy of everything held under your customer reference.\n\n\
## If you decline\n\n\
Everything in the store works the same without cookies or without opting in: browsing, buying and customer service by \
phone are available to every visitor. Only personalised suggestions need the opt-in.\n\n\
## Third-party vendors\n\n\
None. The measurement runs on the store's own services; no third-party measurement or advertising code is loaded, and no \
data is sent to a third party.\n\n\
## Questions\n\n\
Contact {contact}.\n",
        scope = scope.join(", "),
        session = code(&e.session_cookie),
        idle = e.session_idle_minutes,
        visitor = code(&e.visitor_cookie),
        visitor_days = e.visitor_max_age_days,
        consent = code(&e.consent_cookie),
        consent_days = c.collector.consent_token_days,
        meps = c.release.shared_metrics_epsilon,
        eps = c.release.shared_epsilon,
        aeps = c.release.epsilon,
        abudget = c.release.analyst_daily_budget,
        sbudget = c.release.shared_daily_budget,
        delta = c.release.delta,
        t2e = years(r.t2_events_days),
        t2r = years(r.t2_rollups_days),
        t3e = years(r.t3_events_days),
        t3o = years(r.t3_orders_days),
        t2o = years(r.t2_orders_days),
        cl = years(r.consent_ledger_days),
        aa = years(r.access_audit_days),
        pl = years(r.purge_log_days),
    )
}

/// The notice as an HTML fragment: the Markdown rendered, raw HTML shown as text.
pub fn html(c: &Config) -> String {
    let md = markdown(c);
    let events = Parser::new_ext(&md, Options::ENABLE_TABLES).map(|e| match e {
        Event::Html(t) | Event::InlineHtml(t) => Event::Text(t),
        other => other,
    });
    let mut out = String::new();
    html::push_html(&mut out, events);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::from_toml(include_str!("../../../config/mintmark.example.toml")).unwrap()
    }

    #[test]
    fn the_notice_states_the_configured_values() {
        let mut c = config();
        let md = markdown(&c);
        assert!(md.contains("`mm_sid`") && md.contains("`mm_vid` (365 days)") && md.contains("after 30 minutes"), "{md}");
        assert!(md.contains("`https://shop.example.gov/store`"));
        assert!(md.contains("| Identified orders (Tier 3) | 2192 days (about 6 years) |"));
        assert!(md.contains("ε = 4 for a day of the store's whole-store metrics, ε = 1 for each other standard view and ε = 0.5 for each filtered question") && md.contains("ε = 5 per day") && md.contains("δ = 0.000001"), "{md}");
        c.edge.visitor_cookie = "shop_vid".into();
        c.edge.session_idle_minutes = 20;
        c.retention.t3_events_days = 90;
        let md = markdown(&c);
        assert!(md.contains("`shop_vid`") && md.contains("after 20 minutes") && md.contains("| Identified browsing (Tier 3) | 90 days |"), "{md}");
    }

    #[test]
    fn config_values_cannot_inject_markup() {
        let mut c = config();
        c.store.name = "<script>alert(1)</script> *shop*".into();
        let page = html(&c);
        assert!(!page.contains("<script>"), "{page}");
        assert!(page.contains("&lt;script&gt;") && page.contains("*shop*"));
        assert!(page.contains("<table>"), "tables render");
    }
}
