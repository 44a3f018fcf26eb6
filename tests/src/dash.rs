//! Talking to the dashboards over HTTP as a user would: log in through the
//! real form (its CSRF cookie included) and keep the session cookie.

use anyhow::Context;

/// Logs `name` in at `base`; returns the `Cookie` header value to send.
/// `http` must not follow redirects (the login answers 303).
pub async fn login(http: &reqwest::Client, base: &str, name: &str, password: &str) -> anyhow::Result<String> {
    let page = http.get(format!("{base}/login")).send().await?;
    let login_cookie = cookie_pair(&page, "mm_dash_login").context("the login page sets its CSRF cookie")?;
    let token = login_cookie.trim_start_matches("mm_dash_login=").to_string();
    let resp = http
        .post(format!("{base}/login"))
        .header("cookie", &login_cookie)
        .form(&[("csrf", token.as_str()), ("next", "/"), ("name", name), ("password", password)])
        .send()
        .await?;
    anyhow::ensure!(resp.status().as_u16() == 303, "login as {name} answered {}", resp.status());
    cookie_pair(&resp, "mm_dash").context("a session cookie")
}

/// `name=value` of the cookie `name` that `resp` sets.
fn cookie_pair(resp: &reqwest::Response, name: &str) -> Option<String> {
    let prefix = format!("{name}=");
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&prefix))
        .and_then(|c| c.split(';').next())
        .map(String::from)
}

/// The password of a demo login from `logins::ensure`'s lines.
pub fn password_of(lines: &[String], name: &str) -> anyhow::Result<String> {
    lines
        .iter()
        .find_map(|l| l.strip_prefix(&format!("{name} ")).map(String::from))
        .with_context(|| format!("no demo login {name}"))
}

/// What a marketing page says while its first result is computed in the
/// background (the page reloads itself).
pub const COMPUTING: &str = "Computing for the first time";

/// Opens `path` until it shows a result rather than the "computing"
/// state, at most `limit`; returns the page and how long its last load
/// (the first with the result) took.
pub async fn computed_page(http: &reqwest::Client, base: &str, cookie: &str, path: &str, limit: std::time::Duration) -> anyhow::Result<(String, std::time::Duration)> {
    let started = std::time::Instant::now();
    loop {
        let t = std::time::Instant::now();
        let body = http.get(format!("{base}{path}")).header("cookie", cookie).send().await?.error_for_status()?.text().await?;
        if !body.contains(COMPUTING) {
            return Ok((body, t.elapsed()));
        }
        anyhow::ensure!(started.elapsed() < limit, "{path} still computing after {limit:?}");
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}
