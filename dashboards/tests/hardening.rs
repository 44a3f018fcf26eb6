//! The holes an attacker's review of the dashboards found, each tried
//! against the real binary: a hostile `next` after login (in Chromium),
//! API tokens outliving a password change or a disable, token scopes and
//! expiry, concurrent password guessing and the memory it costs, the
//! access-request export's password check, a TLS proxy's headers, error
//! text on pages, and `/metrics` without its token.

mod common;

use common::{login_form, session_of, start, start_with, try_login, PW};
use dashboards::accounts::Accounts;
use dashboards::sessions::MAX_ACCOUNT_FAILURES;
use dashboards::tokens::TokenScope;
use reqwest::StatusCode;

fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a form with a CSRF field") + 19;
    html[at..].split('"').next().unwrap().to_string()
}

/// Chromium logs in with each hostile `next` and must end on the
/// dashboards' own origin, having asked nothing of another.
#[tokio::test]
async fn after_login_the_browser_stays_on_the_dashboards_origin() {
    let s = start().await;
    let hostile = [
        "/\t/evil.example",
        "/\n/evil.example",
        "/\\evil.example",
        "/\\/evil.example",
        "//evil.example",
        "/.//evil.example",
        "/ /evil.example",
        "https://evil.example/",
        "/%2F/evil.example",
    ];
    let mut args = vec![s.base.clone(), "ana".into(), PW.into()];
    args.extend(hostile.iter().map(|s| s.to_string()));
    args.push("/content?period=7d".into());
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let out = tokio::process::Command::new("node").arg("tests/browser/login_redirect.mjs").args(&args).current_dir(root).output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout} {}", String::from_utf8_lossy(&out.stderr)));
    assert!(report.get("error").is_none(), "{report}");
    let landed = report["landed"].as_array().unwrap();
    assert_eq!(landed.len(), hostile.len() + 1);
    for l in landed {
        assert_eq!(l["origin"].as_str(), Some(s.base.as_str()), "{l}");
        assert_eq!(l["offsite"], serde_json::json!([]), "{l}");
    }
    // Those a browser would have taken off the site go home; an encoded
    // slash is a path of ours like any other (our "Not found" page).
    for l in &landed[..hostile.len() - 1] {
        assert_eq!(l["path"], "/", "{l}");
    }
    assert_eq!(landed[hostile.len() - 1]["path"], "/%2F/evil.example");
    assert_eq!(landed[hostile.len()]["path"], "/content?period=7d", "a good next still works");
}

/// A token made with the old password stops at a password change (by the
/// user's admin, in the browser, and on the command line), at a disable,
/// and is not revived by an enable.
#[tokio::test]
async fn a_password_change_or_a_disable_ends_every_token_for_good() {
    let s = start().await;
    let accounts = Accounts::open(&s.data).unwrap();
    let api = |token: String| {
        let http = s.http.clone();
        let url = format!("{}/api/v1/pages?period=7d", s.base);
        async move { http.get(url).bearer_auth(token).send().await.unwrap().status() }
    };
    let token = || accounts.create_token("tom", "report", TokenScope::Read, dashboards::accounts::now_secs(), 90 * 86_400).unwrap().1;
    let works = |st: StatusCode| st != StatusCode::UNAUTHORIZED && st != StatusCode::FORBIDDEN;

    // The admin sets a new password in the browser.
    let t = token();
    assert!(works(api(t.clone()).await), "the token works at first");
    let admin = session_of(&s, "adam").await;
    let page = s.http.get(format!("{}/admin/users", s.base)).header("cookie", &admin).send().await.unwrap().text().await.unwrap();
    let changed = s
        .http
        .post(format!("{}/admin/users/tom", s.base))
        .header("cookie", &admin)
        .form(&[("csrf", csrf_of(&page).as_str()), ("action", "password"), ("password", "a brand new passphrase")])
        .send()
        .await
        .unwrap();
    // (Its answer is a 503 here: the change is made, then its audit entry
    // cannot be written without ClickHouse.)
    assert_ne!(changed.status(), StatusCode::FORBIDDEN);
    assert_eq!(api(t).await, StatusCode::UNAUTHORIZED, "the admin's password change revoked it");

    // A disable, then an enable.
    let t = token();
    accounts.set_disabled("tom", true).unwrap();
    assert_eq!(api(t.clone()).await, StatusCode::UNAUTHORIZED);
    accounts.set_disabled("tom", false).unwrap();
    assert_eq!(api(t).await, StatusCode::UNAUTHORIZED, "an enable does not revive it");

    // The command line's set-password.
    let t = token();
    let mut cli = std::process::Command::new(env!("CARGO_BIN_EXE_dashboards"))
        .args(["--config", s.config.to_str().unwrap(), "user", "set-password", "tom"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    cli.stdin.take().unwrap().write_all(b"yet another passphrase\n").unwrap();
    assert!(cli.wait().unwrap().success());
    assert_eq!(api(t).await, StatusCode::UNAUTHORIZED, "dashboards user set-password revoked it");
}

/// A token expires; a `recommendations` token opens that route only.
#[tokio::test]
async fn tokens_expire_and_keep_to_their_scope() {
    let s = start().await;
    let accounts = Accounts::open(&s.data).unwrap();
    let now = dashboards::accounts::now_secs();
    let get = |path: &str, token: &str| s.http.get(format!("{}{path}", s.base)).bearer_auth(token).send();
    let (_, old) = accounts.create_token("ana", "old", TokenScope::Read, now - 91 * 86_400, 90 * 86_400).unwrap();
    assert_eq!(get("/api/v1/pages", &old).await.unwrap().status(), StatusCode::UNAUTHORIZED, "expired a day ago");
    let (_, recs) = accounts.create_token("mia", "store page", TokenScope::Recommendations, now, 90 * 86_400).unwrap();
    for path in ["/api/v1/pages", "/api/v1/realtime", "/api/v1/top"] {
        let resp = get(path, &recs).await.unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{path}");
        assert!(resp.text().await.unwrap().contains("opens only /api/v1/recommendations"));
    }
    let resp = get("/api/v1/recommendations?sku=MUG-1", &recs).await.unwrap();
    assert!(resp.status() == StatusCode::OK || resp.status() == StatusCode::SERVICE_UNAVAILABLE, "let through: {}", resp.status());
    // Tokens made in the browser get the configured lifetime and the scope asked for.
    let mia = session_of(&s, "mia").await;
    let page = s.http.get(format!("{}/account", s.base)).header("cookie", &mia).send().await.unwrap().text().await.unwrap();
    s.http
        .post(format!("{}/account/tokens", s.base))
        .header("cookie", &mia)
        .form(&[("csrf", csrf_of(&page).as_str()), ("label", "widget"), ("scope", "recommendations")])
        .send()
        .await
        .unwrap();
    let listed = accounts.tokens("mia").unwrap();
    let widget = listed.iter().find(|t| t.label == "widget").unwrap();
    assert_eq!((widget.scope, widget.expires_at - widget.created_at), (TokenScope::Recommendations, 90 * 86_400));
}

/// Peak resident memory of a process, in MiB (`VmHWM`).
fn peak_rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status.lines().find_map(|l| l.strip_prefix("VmHWM:")).unwrap().trim().trim_end_matches("kB").trim().parse().unwrap();
    kb / 1024
}

/// The bound this test holds the service to under 500 concurrent logins:
/// four Argon2id verifications at 19 MiB each, plus the service itself.
const LOGIN_STORM_RSS_MIB: u64 = 256;

/// 500 concurrent wrong passwords for one account: at most the configured
/// attempts are checked, the rest are refused (throttled, or busy), and the
/// service's memory stays under a stated bound. Then the same for the
/// access-request export's password check.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_guesses_get_no_more_than_the_configured_attempts() {
    let s = start().await;
    let (token, _) = login_form(&s).await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).pool_max_idle_per_host(0).build().unwrap();
    let guesses = (0..500).map(|i| {
        let (http, url, token) = (http.clone(), format!("{}/login", s.base), token.clone());
        tokio::spawn(async move {
            let password = format!("wrong guess number {i}");
            let form = [("csrf", token.as_str()), ("name", "tom"), ("password", password.as_str()), ("next", "/")];
            http.post(url).header("cookie", format!("mm_dash_login={token}")).form(&form).send().await.map(|r| r.status().as_u16()).unwrap_or(0)
        })
    });
    let mut statuses = std::collections::BTreeMap::<u16, u32>::new();
    for g in futures_join(guesses.collect()).await {
        *statuses.entry(g).or_default() += 1;
    }
    let checked = statuses.get(&401).copied().unwrap_or(0);
    assert!(checked <= MAX_ACCOUNT_FAILURES, "{checked} passwords were checked of 500: {statuses:?}");
    assert_eq!(statuses.get(&429).copied().unwrap_or(0) + statuses.get(&503).copied().unwrap_or(0) + checked, 500, "{statuses:?}");
    let peak = peak_rss_mib(s.child.id());
    eprintln!("500 concurrent wrong logins: {statuses:?}, dashboards peak RSS {peak} MiB");
    assert!(peak < LOGIN_STORM_RSS_MIB, "peak RSS {peak} MiB");
    // The right password is refused too while the account is throttled.
    assert_eq!(try_login(&s, "tom", PW, "/").await.status(), StatusCode::TOO_MANY_REQUESTS);

    // The export's password check counts against the same limit.
    let pat = session_of(&s, "pat").await;
    let page = s.http.get(format!("{}/account", s.base)).header("cookie", &pat).send().await.unwrap().text().await.unwrap();
    let csrf = csrf_of(&page);
    let mut answers = Vec::new();
    for i in 0..=MAX_ACCOUNT_FAILURES {
        let resp = s
            .http
            .post(format!("{}/privacy/customers/c-1/export", s.base))
            .header("cookie", &pat)
            .form(&[("csrf", csrf.as_str()), ("password", format!("guess {i}").as_str()), ("format", "json")])
            .send()
            .await
            .unwrap();
        answers.push(resp.status().as_u16());
    }
    assert_eq!(answers.iter().filter(|s| **s == 403).count() as u32, MAX_ACCOUNT_FAILURES, "{answers:?}");
    assert_eq!(answers.last(), Some(&429), "the next guess is throttled: {answers:?}");
}

async fn futures_join(handles: Vec<tokio::task::JoinHandle<u16>>) -> Vec<u16> {
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

/// Behind a TLS proxy: `Secure` cookies and HSTS when configured, and the
/// proxy's `X-Forwarded-For` believed only from a trusted proxy, so the
/// per-address limit counts clients.
#[tokio::test]
async fn behind_a_trusted_proxy_cookies_are_secure_and_clients_are_told_apart() {
    let s = start_with("secure_cookies = true\ntrusted_proxies = [\"127.0.0.1/32\"]").await;
    let resp = s.http.get(format!("{}/login", s.base)).send().await.unwrap();
    assert!(resp.headers()["strict-transport-security"].to_str().unwrap().contains("max-age="));
    let cookie = common::set_cookie(&resp, "mm_dash_login").unwrap();
    assert!(cookie.contains("Secure"), "{cookie}");
    // 20 wrong logins (for 20 accounts) from one client behind the proxy
    // use up that client's address; another client is still heard.
    let (token, _) = login_form(&s).await;
    let attempt = |name: String, client: &'static str| {
        let http = s.http.clone();
        let (url, token) = (format!("{}/login", s.base), token.clone());
        async move {
            let form = [("csrf", token.as_str()), ("name", name.as_str()), ("password", "wrong wrong wrong"), ("next", "/")];
            let resp = http.post(url).header("cookie", format!("mm_dash_login={token}")).header("x-forwarded-for", format!("{client}, 127.0.0.1")).form(&form).send().await.unwrap();
            resp.status()
        }
    };
    for i in 0..dashboards::sessions::MAX_ADDRESS_FAILURES {
        assert_eq!(attempt(format!("user{i}"), "198.51.100.7").await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(attempt("someone".into(), "198.51.100.7").await, StatusCode::TOO_MANY_REQUESTS, "that client is throttled");
    assert_eq!(attempt("someone".into(), "198.51.100.8").await, StatusCode::UNAUTHORIZED, "another client is not");

    // Without trust, the header is the client's own claim and is ignored.
    let plain = start().await;
    let resp = plain.http.get(format!("{}/login", plain.base)).send().await.unwrap();
    assert!(resp.headers().get("strict-transport-security").is_none(), "plain http on loopback");
    assert!(!common::set_cookie(&resp, "mm_dash_login").unwrap().contains("Secure"));
    let (token, _) = login_form(&plain).await;
    let mut last = StatusCode::OK;
    for i in 0..=dashboards::sessions::MAX_ADDRESS_FAILURES {
        let form = [("csrf", token.as_str()), ("name", &format!("user{i}")), ("password", "wrong wrong wrong"), ("next", "/")];
        let resp = plain
            .http
            .post(format!("{}/login", plain.base))
            .header("cookie", format!("mm_dash_login={token}"))
            .header("x-forwarded-for", format!("203.0.113.{i}"))
            .form(&form)
            .send()
            .await
            .unwrap();
        last = resp.status();
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS, "a spoofed X-Forwarded-For does not escape the limit");
}

/// With ClickHouse away, a page says so with a request id and never shows
/// ClickHouse's own error text.
#[tokio::test]
async fn internal_errors_show_a_request_id_not_their_text() {
    let s = start().await;
    let ana = session_of(&s, "ana").await;
    let resp = s.http.get(format!("{}/", s.base)).header("cookie", &ana).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let id = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    let html = resp.text().await.unwrap();
    assert!(html.contains(&format!("Request id <code>{id}</code>")), "{html}");
    for leak in ["Connection refused", "tcp connect", "error trying to connect", "hyper", "clickhouse::"] {
        assert!(!html.contains(leak), "{leak:?} reached the page: {html}");
    }
}

/// `/metrics` shows which privacy checks fail: only with its token.
#[tokio::test]
async fn metrics_need_the_scrapers_token() {
    let s = start().await;
    let url = format!("{}/metrics", s.base);
    assert_eq!(s.http.get(&url).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(s.http.get(&url).bearer_auth("not the token at all").send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let pat = session_of(&s, "pat").await;
    assert_eq!(s.http.get(&url).header("cookie", &pat).send().await.unwrap().status(), StatusCode::UNAUTHORIZED, "a session is not the token");
    let token = s.config().keys.dashboards_metrics_token;
    let resp = s.http.get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.text().await.unwrap().contains("mintmark_dashboards_invariant"));
}
